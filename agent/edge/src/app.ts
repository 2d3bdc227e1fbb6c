/**
 * The Worker's router. Every request is authenticated (Access JWT, or a webhook signature) before a
 * sandbox is touched; then it is proxied to the sandbox chosen by tenant and, per-user, identity.
 * All effects come in through Deps so tests drive it with their own clock, keys and sandboxes.
 */
import { Hono, type Context } from "hono";
import { accessToken, loginUrl, verifyAccessToken, type KeyResolverFactory } from "./access";
import { loadingPage, notReadyResponse, STATUS_PATH, waitUntilReady, type Clock } from "./coldstart";
import type { DirectoryClient } from "./directory";
import { loadConfig, sandboxName, type EdgeConfig, type Env } from "./env";
import { ConfigError, jsonError } from "./errors";
import type { LinkFactory, SandboxLink } from "./link";
import { internalCredential, isBrowserNavigation, upstreamRequest, type AgentHeaders } from "./headers";
import { refuseCrossOrigin } from "./origin";
import { refuseOversizedUpload } from "./uploads";
import { emailSettings, type EmailEnv } from "./email";
import { relayReply } from "./email_reply";
import { checkPath, firstSegment, INTERNAL_PREFIX, WEBHOOK_PREFIX } from "./paths";
import {
  CHANNELS,
  DISCORD_DEFERRED,
  isDiscordCommand,
  isDiscordPing,
  OPENCLAW_CHANNELS,
  verifyDiscord,
  verifySlack,
  verifyTelegram,
  verifyWhatsApp,
  whatsappChallenge,
  type Channel,
  type Verdict,
} from "./webhooks";

export interface Deps extends Clock {
  keys: KeyResolverFactory;
  link: LinkFactory;
  directory(config: EdgeConfig, env: Env): DirectoryClient;
  requestId(): string;
}

/** Platform events are small; the runtime refuses more than this too. */
const MAX_WEBHOOK_BYTES = 1 << 20;

type AppEnv = { Bindings: Env; Variables: { config: EdgeConfig; identity: string } };

export type DeliveryMode = "browser" | "api";

/**
 * Forward `build()` to the sandbox. When it is cold: wake it, then either show the loading page
 * (browser) or wait up to the configured bound (API). `build` is called again for the retry, so a
 * request body is never sent twice from one stream.
 */
export async function deliver(
  link: SandboxLink,
  build: () => Request,
  mode: DeliveryMode,
  sandbox: string,
  config: EdgeConfig,
  env: Env,
  deps: Deps,
): Promise<Response> {
  const first = await link.forward(build());
  if (first.kind === "response") return first.response;
  // Per-user sandboxes are recorded when they first wake, so cron can find them later.
  const registered = config.isolation === "per-user" ? deps.directory(config, env).register(sandbox, deps.now()) : undefined;
  await Promise.all([link.wake(), registered]);
  if (mode === "browser") return loadingPage(first.state);
  const state = await waitUntilReady(link, config.coldStartTimeoutMs, deps);
  if (state !== "ready") return notReadyResponse(state, config.coldStartTimeoutMs);
  const second = await link.forward(build());
  return second.kind === "response" ? second.response : notReadyResponse(second.state, config.coldStartTimeoutMs);
}

/**
 * The upstream request, buildable twice: the first build streams the body; the second (only after a
 * cold start, when the first was never delivered) reads a tee'd copy. `release` drops the copy.
 */
export interface Replayable {
  build(): Request;
  release(): void;
}

export function replayable(request: Request, agent: AgentHeaders): Replayable {
  if (request.body === null) {
    return { build: () => upstreamRequest(request, agent, null), release: () => undefined };
  }
  const [first, spare] = request.body.tee();
  let built = 0;
  return {
    build: () => upstreamRequest(request, agent, built++ === 0 ? first : spare),
    release: () => {
      if (built < 2) void spare.cancel();
    },
  };
}

function unauthenticated(c: Context<AppEnv>, config: EdgeConfig, reason: string): Response {
  if (config.access !== null && isBrowserNavigation(c.req.raw)) {
    return c.redirect(loginUrl(config.access, new URL(c.req.url)), 302);
  }
  return jsonError(401, `unauthenticated: ${reason}`, "sign in through Cloudflare Access, or send an Access service token (CF-Access-Client-Id / CF-Access-Client-Secret)");
}

const webhookSecrets: Record<Channel, keyof Env> = {
  telegram: "TELEGRAM_WEBHOOK_SECRET",
  slack: "SLACK_SIGNING_SECRET",
  discord: "DISCORD_PUBLIC_KEY",
  whatsapp: "WHATSAPP_APP_SECRET",
};

async function verifyWebhook(channel: Channel, body: string, headers: Headers, secret: string, nowMs: number): Promise<Verdict> {
  switch (channel) {
    case "telegram":
      return verifyTelegram(body, headers, secret);
    case "slack":
      return verifySlack(body, headers, secret, nowMs);
    case "discord":
      return verifyDiscord(body, headers, secret, nowMs);
    case "whatsapp":
      return verifyWhatsApp(body, headers, secret, nowMs);
  }
}

function isChannel(value: string): value is Channel {
  return (CHANNELS as readonly string[]).includes(value);
}

export function createApp(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.onError((err) => {
    if (err instanceof ConfigError) return err.toResponse();
    console.error(`edge error: ${err instanceof Error ? err.message : String(err)}`);
    return jsonError(502, "sandbox unreachable", "retry shortly; if it persists, check the container logs");
  });

  // Before any routing decision: only canonical paths are routed, and reserved prefixes are
  // matched case-insensitively, so no spelling of /internal/* or /webhooks/* reaches the proxy.
  app.use("*", async (c, next) => {
    const path = new URL(c.req.url).pathname;
    const verdict = checkPath(path);
    if (!verdict.ok) {
      return jsonError(400, `path refused: ${verdict.reason}`, "send a plain path without encoded separators, dot or empty segments, e.g. /api/sessions");
    }
    const first = firstSegment(path);
    // Only the Worker's own scheduled handler reaches /internal/* (it calls the sandbox directly).
    if (first === INTERNAL_PREFIX) return jsonError(404, "not found", "internal paths are not reachable from outside");
    if (first === WEBHOOK_PREFIX && !/^\/webhooks\/[a-z]+$/.test(path)) {
      return jsonError(404, "unknown webhook path", `use POST /webhooks/<channel> with one of ${CHANNELS.join(", ")}`);
    }
    await next();
  });

  app.use("*", async (c, next) => {
    c.set("config", loadConfig(c.env));
    await next();
  });

  // Webhooks bypass Access (the Access app exempts these paths) and are verified here instead.
  app.all("/webhooks/:channel", async (c) => {
    const channel = c.req.param("channel");
    // The email channel's reply relay (email_reply.ts): the runtime's outbox, not a platform.
    if (channel === "email") {
      const env = c.env as EmailEnv;
      const settings = emailSettings(env.EMAIL_ADDRESS, env.EMAIL_ALLOWLIST);
      return relayReply(c.req.raw, c.get("config").edgeToken, settings, env.EMAIL, deps.now(), () => deps.requestId());
    }
    if (!isChannel(channel)) return jsonError(404, `unknown webhook channel ${JSON.stringify(channel)}`, `use one of ${CHANNELS.join(", ")}`);
    if (c.get("config").engine === "openclaw" && !OPENCLAW_CHANNELS.includes(channel)) {
      return jsonError(404, `webhook channel ${channel} is not served by the openclaw engine`, `with AGENT_ENGINE=openclaw use ${OPENCLAW_CHANNELS.join(", ")}; the native engine takes ${channel}`);
    }
    // Meta's subscription check is a GET, answered here from the verify token: nothing wakes.
    if (channel === "whatsapp" && c.req.method === "GET") {
      const verifyToken = c.env.WHATSAPP_VERIFY_TOKEN;
      if (typeof verifyToken !== "string" || verifyToken === "") {
        return jsonError(404, "webhook channel whatsapp is not configured", "set WHATSAPP_VERIFY_TOKEN in the stack configuration");
      }
      const verdict = await whatsappChallenge(new URL(c.req.url).searchParams, verifyToken);
      if (!verdict.ok) return jsonError(403, `whatsapp subscription refused: ${verdict.reason}`, "type the same Verify token in the Meta webhook form as edgeagent:whatsappVerifyToken");
      return c.text(verdict.challenge, 200);
    }
    if (c.req.method !== "POST") return jsonError(405, "webhooks accept POST only", `POST /webhooks/${channel}`);
    const config = c.get("config");
    const secretKey = webhookSecrets[channel];
    const secret = c.env[secretKey];
    if (typeof secret !== "string" || secret === "") {
      return jsonError(404, `webhook channel ${channel} is not configured`, `set ${secretKey} in the stack configuration`);
    }
    const declared = Number(c.req.header("content-length") ?? "0");
    const body = declared > MAX_WEBHOOK_BYTES ? "" : await c.req.text();
    if (declared > MAX_WEBHOOK_BYTES || new TextEncoder().encode(body).length > MAX_WEBHOOK_BYTES) {
      return jsonError(413, `${channel} webhook body larger than 1 MiB`, "platform events are far smaller; check the sender");
    }
    const nowMs = deps.now();
    const verdict = await verifyWebhook(channel, body, c.req.raw.headers, secret, nowMs);
    if (!verdict.ok) return jsonError(401, `invalid ${channel} webhook: ${verdict.reason}`, "check the signing secret configured for this channel");
    const directory = deps.directory(config, c.env);
    if (!(await directory.claimNonce(verdict.nonce, nowMs, verdict.ttlMs))) {
      return jsonError(401, `invalid ${channel} webhook: replayed delivery`, "each delivery is accepted once");
    }
    if (channel === "discord" && isDiscordPing(body)) return c.json({ type: 1 });
    // Chat channels belong to the tenant, so they go to the tenant-level sandbox in both isolations.
    const agent: AgentHeaders = {
      user: `channel:${channel}`,
      tenant: config.tenant,
      requestId: deps.requestId(),
      edgeToken: config.edgeToken,
      channel,
      internal: await internalCredential(config.edgeToken),
    };
    const link = deps.link(config, c.env, config.tenant);
    // Exactly what was verified goes up: the channel's own path (no query) and the body read above.
    const forwardUrl = new URL(`/webhooks/${channel}`, new URL(c.req.url).origin);
    const build = (): Request => upstreamRequest(new Request(forwardUrl, { method: "POST", headers: c.req.raw.headers }), agent, body);
    // Not delivered (cold-start timeout, sandbox error): the platform retries, so let it back in.
    const settle = async (delivery: Promise<Response>): Promise<Response> => {
      let response: Response | undefined;
      try {
        response = await delivery;
        return response;
      } finally {
        if (response === undefined || response.status >= 500) await directory.releaseNonce(verdict.nonce);
      }
    };
    if (channel === "discord" && isDiscordCommand(body)) {
      const first = await link.forward(build());
      if (first.kind === "response") return settle(Promise.resolve(first.response));
      c.executionCtx.waitUntil(
        settle(deliver(link, build, "api", config.tenant, config, c.env, deps)).then(
          async (r) => r.body?.cancel(),
          (err: unknown) => console.error(`discord delivery failed: ${err instanceof Error ? err.message : String(err)}`),
        ),
      );
      return c.json(DISCORD_DEFERRED);
    }
    return settle(deliver(link, build, "api", config.tenant, config, c.env, deps));
  });

  // CSRF: checked before Access and before any sandbox is touched (webhooks above are exempt).
  app.use("*", async (c, next) => refuseCrossOrigin(c.req.raw) ?? next());

  app.use("*", async (c, next) => {
    const config = c.get("config");
    if (config.access === null) {
      c.set("identity", config.local?.devIdentity ?? "");
      return next();
    }
    const token = accessToken(c);
    if (token === undefined) return unauthenticated(c, config, "no Access token");
    const result = await verifyAccessToken(token, config.access, deps.keys(config.access), new Date(deps.now()));
    if (!result.ok && result.keysUnavailable) {
      // Fail closed, but say it is the edge's problem rather than the caller's credentials.
      return jsonError(503, result.reason, "retry shortly; the Worker could not fetch the Access JWKS", { "retry-after": "5" });
    }
    if (!result.ok) return unauthenticated(c, config, result.reason);
    c.set("identity", result.identity);
    return next();
  });

  // After Access (an anonymous caller learns nothing), before any sandbox is woken.
  app.use("*", async (c, next) => refuseOversizedUpload(c.req.raw, c.env) ?? next());

  app.get(STATUS_PATH, async (c) => {
    const config = c.get("config");
    const sandbox = sandboxName(config, c.get("identity"));
    const link = deps.link(config, c.env, sandbox);
    const state = await link.state();
    if (state === "sleeping") await link.wake();
    return c.json({ state }, 200, { "cache-control": "no-store" });
  });

  app.all("*", async (c) => {
    const config = c.get("config");
    const identity = c.get("identity");
    const sandbox = sandboxName(config, identity);
    const agent: AgentHeaders = { user: identity, tenant: config.tenant, requestId: deps.requestId(), edgeToken: config.edgeToken };
    const mode: DeliveryMode = isBrowserNavigation(c.req.raw) ? "browser" : "api";
    const upstream = replayable(c.req.raw, agent);
    try {
      return await deliver(deps.link(config, c.env, sandbox), upstream.build, mode, sandbox, config, c.env, deps);
    } finally {
      upstream.release();
    }
  });

  return app;
}
