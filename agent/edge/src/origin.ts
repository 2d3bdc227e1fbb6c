/**
 * CSRF defence at the edge. Access authenticates browsers by cookie, so any site could make a
 * signed-in browser send a write or open a WebSocket to the agent. Browsers always name the page
 * that started such a request in `Origin`; it must be the agent's own origin. Requests without
 * `Origin` come from API clients (service tokens, scripts), which no cross-site page can drive.
 */
import { jsonError } from "./errors";
import { isWebSocketUpgrade } from "./headers";

/** Methods a cross-site page may trigger without harm; every other method is checked. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
/** Echoed back in the error, so bound what an attacker-chosen header can put there. */
const MAX_ECHOED = 200;

/** True when the request is a write or a WebSocket upgrade and so must pass the Origin check. */
export function needsOriginCheck(request: Request): boolean {
  return !SAFE_METHODS.has(request.method) || isWebSocketUpgrade(request);
}

/**
 * A 403 when a checked request carries an Origin other than the URL's own (scheme, host, port),
 * else null. The URL is the one the client addressed: the Worker's public origin, in local mode
 * too (the proxied AGENT_ORIGIN is never what a browser page is served from). Browsers serialise
 * Origin exactly as URL.origin does, so the comparison is plain string equality; `null` (opaque
 * origins: sandboxed frames, file: pages) never matches.
 */
export function refuseCrossOrigin(request: Request): Response | null {
  const origin = request.headers.get("origin");
  if (origin === null || !needsOriginCheck(request)) return null;
  const expected = new URL(request.url).origin;
  if (origin === expected) return null;
  const shown = JSON.stringify(origin.length > MAX_ECHOED ? `${origin.slice(0, MAX_ECHOED)}…` : origin);
  const what = isWebSocketUpgrade(request) ? "WebSocket upgrade" : `${request.method} request`;
  return jsonError(
    403,
    `cross-origin ${what} refused: Origin ${shown} is not this agent's origin ${expected}`,
    `open the agent at ${expected} and act from its own pages; API clients and service tokens send no Origin header`,
  );
}
