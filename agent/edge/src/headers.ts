/** The request the sandbox sees: client `X-Agent-*` headers and Access credentials removed, edge headers set. */
import { ACCESS_COOKIE, ACCESS_HEADER } from "./access";
import type { Channel } from "./webhooks";

export interface AgentHeaders {
  user: string;
  tenant: string;
  requestId: string;
  edgeToken: string;
  channel?: Channel;
}

/** Drop the Access cookie: the container authenticates the edge by token, never by the user's JWT. */
function withoutAccessCookie(cookie: string): string {
  return cookie
    .split(";")
    .map((part) => part.trim())
    .filter((part) => part !== "" && !part.startsWith(`${ACCESS_COOKIE}=`))
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
  return headers;
}

export function upstreamRequest(incoming: Request, agent: AgentHeaders, body?: BodyInit | null): Request {
  return new Request(incoming.url, {
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
