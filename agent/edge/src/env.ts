/**
 * The Worker's bindings (names pinned in docs/contract.md) and the one place they are parsed into a
 * typed, validated EdgeConfig. Nothing else reads `env` strings directly.
 */
import { ConfigError } from "./errors";
import type { DirectoryRpc, SandboxRpc } from "./rpc";

export interface Env {
  SANDBOX?: DurableObjectNamespace<SandboxRpc>;
  DIRECTORY?: DurableObjectNamespace<DirectoryRpc>;
  TENANT?: string;
  ISOLATION?: string;
  ACCESS_TEAM_DOMAIN?: string;
  ACCESS_AUD?: string;
  SLEEP_AFTER?: string;
  COLD_START_TIMEOUT_MS?: string;
  AGENT_ENGINE?: string;
  AGENT_MODEL?: string;
  AI_GATEWAY_BASE_URL?: string;
  STATE_BUCKET?: string;
  STATE_ENDPOINT?: string;
  BROWSER_CDP_URL?: string;
  DISCORD_PUBLIC_KEY?: string;
  DISCORD_APPLICATION_ID?: string;
  AGENT_EDGE_TOKEN?: string;
  AI_GATEWAY_TOKEN?: string;
  STATE_ACCESS_KEY_ID?: string;
  STATE_SECRET_ACCESS_KEY?: string;
  BROWSER_API_TOKEN?: string;
  TELEGRAM_BOT_TOKEN?: string;
  TELEGRAM_WEBHOOK_SECRET?: string;
  SLACK_BOT_TOKEN?: string;
  SLACK_SIGNING_SECRET?: string;
  DISCORD_BOT_TOKEN?: string;
  TELEGRAM_DM_POLICY?: string;
  TELEGRAM_ALLOWLIST?: string;
  SLACK_DM_POLICY?: string;
  SLACK_ALLOWLIST?: string;
  DISCORD_DM_POLICY?: string;
  DISCORD_ALLOWLIST?: string;
  WEB_FETCH_ALLOWLIST?: string;
  AGENT_ADMIN_EMAILS?: string;
  AGENT_TIMEZONE?: string;
  JOB_TIMEOUT_S?: string;
  AGENT_JOB_MODEL?: string;
  AGENT_MODEL_ROUTE?: string;
  AGENT_SPEND_LIMIT_DAILY_USD?: string;
  AGENT_SPEND_LIMIT_MONTHLY_USD?: string;
  AGENT_USER_SPEND_LIMIT_DAILY_USD?: string;
  AI_GATEWAY_LOGS_TOKEN?: string;
  AGENT_CONTAINER_MONTHLY_USD?: string;
  CHANNEL_RECORD_RETENTION_DAYS?: string;
  AGENT_INSTRUCTIONS?: string;
  AGENT_TURN_TIMEOUT_S?: string;
  AGENT_CONTEXT_TOKENS?: string;
  AGENT_LOG_LEVEL?: string;
  OPENCLAW_ALLOWED_ORIGINS?: string;
  OPENCLAW_GATEWAY_TOKEN?: string;
  AGENT_ORIGIN?: string;
  DEV_IDENTITY?: string;
}

export type Isolation = "shared" | "per-user";

export interface AccessConfig {
  /** `https://<team>.cloudflareaccess.com`, no trailing slash: the JWT issuer. */
  teamDomain: string;
  aud: string;
}

export interface LocalConfig {
  origin: URL;
  /** Fixed identity standing in for Access; only honoured together with AGENT_ORIGIN. */
  devIdentity: string | undefined;
}

export interface EdgeConfig {
  tenant: string;
  isolation: Isolation;
  /** Null only in local mode with a dev identity: then no JWT is ever read. */
  access: AccessConfig | null;
  edgeToken: string;
  coldStartTimeoutMs: number;
  local: LocalConfig | null;
}

const TENANT_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
const DEFAULT_COLD_START_TIMEOUT_MS = 30_000;

function present(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === "" ? undefined : trimmed;
}

function parseAccess(env: Env): AccessConfig {
  const domain = present(env.ACCESS_TEAM_DOMAIN);
  const example = "https://acme.cloudflareaccess.com";
  if (domain === undefined) throw new ConfigError("ACCESS_TEAM_DOMAIN", "is not set", example);
  let url: URL;
  try {
    url = new URL(domain);
  } catch {
    throw new ConfigError("ACCESS_TEAM_DOMAIN", `is not a URL: ${JSON.stringify(domain)}`, example);
  }
  if (url.protocol !== "https:" || (url.pathname !== "/" && url.pathname !== "") || url.search !== "") {
    throw new ConfigError("ACCESS_TEAM_DOMAIN", "must be a bare https origin", example);
  }
  const aud = present(env.ACCESS_AUD);
  if (aud === undefined) {
    throw new ConfigError("ACCESS_AUD", "is not set", "the Access application AUD tag, 64 hex characters");
  }
  return { teamDomain: url.origin, aud };
}

function parseLocal(env: Env): LocalConfig | null {
  const origin = present(env.AGENT_ORIGIN);
  const devIdentity = present(env.DEV_IDENTITY);
  if (origin === undefined) {
    if (devIdentity !== undefined) {
      throw new ConfigError("DEV_IDENTITY", "is only allowed together with AGENT_ORIGIN (local dev)", "unset it");
    }
    return null;
  }
  // A deployed Worker always has the SANDBOX binding; refusing the pair keeps a stray local var from
  // ever turning a deployment into an unauthenticated proxy.
  if (env.SANDBOX !== undefined) {
    throw new ConfigError("AGENT_ORIGIN", "is local-dev only and cannot be combined with the SANDBOX binding", "unset it");
  }
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new ConfigError("AGENT_ORIGIN", `is not a URL: ${JSON.stringify(origin)}`, "http://127.0.0.1:8080");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError("AGENT_ORIGIN", "must be an http(s) URL", "http://127.0.0.1:8080");
  }
  return { origin: url, devIdentity };
}

/** Parse and validate the bindings; throws ConfigError naming the first bad key. */
export function loadConfig(env: Env): EdgeConfig {
  const tenant = present(env.TENANT);
  if (tenant === undefined) throw new ConfigError("TENANT", "is not set", "acme");
  if (!TENANT_RE.test(tenant)) {
    throw new ConfigError("TENANT", `must be lowercase letters, digits and dashes, got ${JSON.stringify(tenant)}`, "acme");
  }
  const isolation = present(env.ISOLATION) ?? "shared";
  if (isolation !== "shared" && isolation !== "per-user") {
    throw new ConfigError("ISOLATION", `must be "shared" or "per-user", got ${JSON.stringify(isolation)}`, "per-user");
  }
  const edgeToken = present(env.AGENT_EDGE_TOKEN);
  if (edgeToken === undefined) {
    throw new ConfigError("AGENT_EDGE_TOKEN", "is not set", "a random secret generated by the Pulumi program");
  }
  const rawTimeout = present(env.COLD_START_TIMEOUT_MS);
  const coldStartTimeoutMs = rawTimeout === undefined ? DEFAULT_COLD_START_TIMEOUT_MS : Number(rawTimeout);
  if (!Number.isInteger(coldStartTimeoutMs) || coldStartTimeoutMs < 0 || coldStartTimeoutMs > 300_000) {
    throw new ConfigError("COLD_START_TIMEOUT_MS", `must be an integer between 0 and 300000, got ${JSON.stringify(rawTimeout)}`, "30000");
  }
  const local = parseLocal(env);
  const access = local?.devIdentity !== undefined ? null : parseAccess(env);
  if (local === null && env.SANDBOX === undefined) {
    throw new ConfigError("SANDBOX", "binding is missing", "a durable_object_namespace binding to class Sandbox");
  }
  // Shared isolation serves traffic without it; webhooks and per-user isolation fail closed without it.
  if (isolation === "per-user" && env.DIRECTORY === undefined) {
    throw new ConfigError("DIRECTORY", "binding is missing (per-user isolation needs it for cron fan-out)", "a durable_object_namespace binding to class Directory");
  }
  return { tenant, isolation, access, edgeToken, coldStartTimeoutMs, local };
}

/** Sandbox (Durable Object) name: `tenant` when shared, `tenant:identity` per user. */
export function sandboxName(config: EdgeConfig, identity: string): string {
  return config.isolation === "shared" ? config.tenant : `${config.tenant}:${identity}`;
}
