/** The request the sandbox sees: client `X-Agent-*` headers and Access credentials removed, edge headers set. */
import { ACCESS_COOKIE, ACCESS_HEADER } from "./access";
import { sameOriginUrl } from "./paths";
import type { Channel } from "./webhooks";

/**
 * Sent only on the Worker's own calls to `/internal/*` (cron) and `/webhooks/*` (verified
 * deliveries), never on a proxied user request: the runtime accepts those paths only with it.
 */
export const INTERNAL_HEADER = "x-agent-internal";
/** Domain-separation label of the internal credential (docs/contract.md). */
const INTERNAL_LABEL = "edgeagent internal v1";

export interface AgentHeaders {
  user: string;
  tenant: string;
  requestId: string;
  edgeToken: string;
  /** A verified webhook's channel, or `email` (the Worker's `email` handler, email_handler.ts). */
  channel?: Channel | "email";
  /** The internal credential; set only by the cron and webhook paths. */
  internal?: string;
}

/**
 * The internal credential: lowercase hex HMAC-SHA256 keyed with the edge token over a fixed label.
 * Derived rather than configured, so it cannot drift from the token the runtime already holds, and
 * knowing it does not reveal the edge token.
 */
export async function internalCredential(edgeToken: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(edgeToken), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(INTERNAL_LABEL));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Drop the Access cookie: the container authenticates the edge by token, never by the user's JWT.
 * Names are compared as cookie parsers read them (trimmed) and case-insensitively, to fail closed.
 */
function withoutAccessCookie(cookie: string): string {
  const accessName = ACCESS_COOKIE.toLowerCase();
  return cookie
    .split(";")
    .map((part) => part.trim())
    .filter((part) => part !== "" && (part.split("=", 1)[0] ?? "").trim().toLowerCase() !== accessName)
    .join("; ");
}

export function upstreamHeaders(incoming: Headers, agent: AgentHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of incoming) {
    if (name.startsWith("x-agent-") || name === ACCESS_HEADER) continue;
    if (name === "cookie") {
      const kept = withoutAccessCookie(value);
      if (kept !== "") headers.set("cookie", kept);
      continue;
    }
    headers.append(name, value);
  }
  headers.set("x-agent-user", agent.user);
  headers.set("x-agent-tenant", agent.tenant);
  headers.set("x-request-id", agent.requestId);
  headers.set("x-agent-edge-token", agent.edgeToken);
  if (agent.channel !== undefined) headers.set("x-agent-channel", agent.channel);
  if (agent.internal !== undefined) headers.set(INTERNAL_HEADER, agent.internal);
  return headers;
}

/** The request for the sandbox; its URL keeps the incoming origin, only path and query are copied. */
export function upstreamRequest(incoming: Request, agent: AgentHeaders, body?: BodyInit | null): Request {
  return new Request(sameOriginUrl(incoming.url, incoming.url), {
    method: incoming.method,
    headers: upstreamHeaders(incoming.headers, agent),
    body: body === undefined ? incoming.body : body,
    redirect: "manual",
  });
}

export function isWebSocketUpgrade(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/** A browser navigation, as opposed to an API call: gets redirects and the loading page. */
export function isBrowserNavigation(request: Request): boolean {
  return (
    request.method === "GET" &&
    !isWebSocketUpgrade(request) &&
    (request.headers.get("accept") ?? "").includes("text/html")
  );
}
