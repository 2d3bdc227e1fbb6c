/**
 * The seam between routing and whatever runs the agent: a container-enabled Durable Object in a
 * deployment, or a plain HTTP origin in local mode. Routing code only sees SandboxLink. (Not a
 * "gateway": in this project the edge gateway is the Worker itself, the OpenClaw gateway is
 * OpenClaw's process, and AI Gateway is Cloudflare's model proxy.)
 */
import type { EdgeConfig, Env } from "./env";
import { sameOriginUrl } from "./paths";
import { COLD_HEADER, isSandboxState, SANDBOX_HEADER, type SandboxState } from "./rpc";

export type Forwarded =
  | { kind: "response"; response: Response }
  | { kind: "cold"; state: SandboxState };

export interface SandboxLink {
  /** Forward if the sandbox is ready; otherwise report its state without waking it. */
  forward(request: Request): Promise<Forwarded>;
  state(): Promise<SandboxState>;
  /** Begin starting the sandbox; returns without waiting for it to be ready. */
  wake(): Promise<void>;
}

export type LinkFactory = (config: EdgeConfig, env: Env, sandbox: string) => SandboxLink;

/** Deployed: the sandbox is the Durable Object named `sandbox` with its container attached. */
export const containerLink: LinkFactory = (_config, env, sandbox) => {
  const namespace = env.SANDBOX;
  if (namespace === undefined) throw new Error("SANDBOX binding missing (checked by loadConfig)");
  const stub = namespace.get(namespace.idFromName(sandbox));
  return {
    async forward(request) {
      const tagged = new Request(request);
      tagged.headers.set(SANDBOX_HEADER, sandbox);
      const response = await stub.fetch(tagged);
      const cold = response.headers.get(COLD_HEADER);
      if (response.status === 503 && isSandboxState(cold)) {
        await response.body?.cancel();
        return { kind: "cold", state: cold };
      }
      return { kind: "response", response };
    },
    state: async () => stub.sandboxState(),
    wake: async () => stub.wake(sandbox),
  };
};

/**
 * Local mode: the runtime runs as a process at `origin`. It cannot be started from here, so wake is
 * a no-op and "sleeping" means nothing answers yet. Same routing, auth and cold-start code otherwise.
 */
export const originLink: LinkFactory = (config) => {
  const local = config.local;
  if (local === null) throw new Error("originLink needs AGENT_ORIGIN (checked by loadConfig)");
  // Only path and query vary: `new URL(path, origin)` would follow a `//other.host/...` path.
  const target = (url: string): URL => sameOriginUrl(local.origin, url);
  return {
    async forward(request) {
      try {
        return { kind: "response", response: await fetch(new Request(target(request.url), request)) };
      } catch {
        // Connection refused: nothing was delivered, so the caller may wait and resend.
        return { kind: "cold", state: "sleeping" };
      }
    },
    async state() {
      try {
        const res = await fetch(new URL("/readyz", local.origin), {
          headers: { "x-agent-edge-token": config.edgeToken },
        });
        await res.body?.cancel();
        return res.ok ? "ready" : "starting";
      } catch {
        return "sleeping";
      }
    },
    wake: async () => undefined,
  };
};

export const defaultLink: LinkFactory = (config, env, sandbox) =>
  config.local === null ? containerLink(config, env, sandbox) : originLink(config, env, sandbox);
