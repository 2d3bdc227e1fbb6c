/**
 * Sandbox: the container-enabled Durable Object (one per tenant, or per tenant user). A thin layer
 * over @cloudflare/containers' Container: port 8080, sleep-after from SLEEP_AFTER, container env from
 * the Worker's bindings, and an explicit "not ready" answer instead of blocking a request on a cold
 * start (the Worker decides between a loading page and a bounded wait).
 */
import { Container } from "@cloudflare/containers";
import type { Env } from "./env";
import { COLD_HEADER, SANDBOX_HEADER, type SandboxRpc, type SandboxState } from "./rpc";
// The bindings declared to reach the container (docs/contract.md, column `container`).
import { EDGE_DEFAULTS, PASSED_THROUGH } from "./generated/settings";

export { PASSED_THROUGH };

export const CONTAINER_PORT = 8080;
/** How long a start may take before the platform's attempt is abandoned (the Worker waits less). */
const START_TIMEOUT_MS = 180_000;

/** The container's environment for sandbox `sandbox` (`tenant` or `tenant:user`). */
export function containerEnv(env: Env, sandbox: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of PASSED_THROUGH) {
    const value = env[key];
    if (typeof value === "string" && value !== "") out[key] = value;
  }
  out.AGENT_TENANT = env.TENANT ?? "";
  const colon = sandbox?.indexOf(":") ?? -1;
  if (sandbox !== null && colon > 0) out.AGENT_USER = sandbox.slice(colon + 1);
  return out;
}

/** SLEEP_AFTER as the Container library takes it; `never` keeps the container up. */
export function parseSleepAfter(raw: string | undefined): string | null {
  const value = raw?.trim() || EDGE_DEFAULTS.SLEEP_AFTER;
  if (value === "never") return null;
  if (!/^\d+[smh]$/.test(value)) {
    throw new Error(`SLEEP_AFTER must look like 30s, 10m, 2h or never; got ${JSON.stringify(value)}`);
  }
  return value;
}

export class Sandbox extends Container<Env> implements SandboxRpc {
  override defaultPort = CONTAINER_PORT;
  private readonly neverSleep: boolean;
  private identity: string | null = null;

  constructor(ctx: DurableObjectState<{}>, env: Env) {
    super(ctx, env);
    const sleepAfter = parseSleepAfter(env.SLEEP_AFTER);
    this.neverSleep = sleepAfter === null;
    this.sleepAfter = sleepAfter ?? "24h";
    this.envVars = containerEnv(env, null);
  }

  private bind(sandbox: string | null): void {
    if (sandbox !== null && sandbox !== this.identity) {
      this.identity = sandbox;
      this.envVars = containerEnv(this.env, sandbox);
    }
  }

  override async onActivityExpired(): Promise<void> {
    if (!this.neverSleep) await super.onActivityExpired();
  }

  /** sleeping (no container), starting (container up, runtime not ready), ready (`/readyz` is 200). */
  async sandboxState(): Promise<SandboxState> {
    const running = this.ctx.container?.running === true;
    if (!running) return "sleeping";
    const { status } = await this.getState();
    if (status !== "healthy") return "starting";
    try {
      const port = this.ctx.container?.getTcpPort(CONTAINER_PORT);
      const res = await port?.fetch("http://container/readyz", {
        headers: { "x-agent-edge-token": this.env.AGENT_EDGE_TOKEN ?? "" },
      });
      await res?.body?.cancel();
      return res?.ok === true ? "ready" : "starting";
    } catch {
      return "starting";
    }
  }

  /** Start the container in the background; the Worker polls sandboxState(). */
  async wake(sandbox: string): Promise<void> {
    this.bind(sandbox);
    if (this.ctx.container?.running === true) return;
    this.ctx.waitUntil(
      this.startAndWaitForPorts({
        ports: CONTAINER_PORT,
        cancellationOptions: { portReadyTimeoutMS: START_TIMEOUT_MS },
      }).catch((err: unknown) => {
        console.error(`sandbox start failed: ${err instanceof Error ? err.message : String(err)}`);
      }),
    );
  }

  override async fetch(request: Request): Promise<Response> {
    this.bind(request.headers.get(SANDBOX_HEADER));
    const forwarded = new Request(request);
    forwarded.headers.delete(SANDBOX_HEADER);
    const running = this.ctx.container?.running === true;
    if (!running || (await this.getState()).status !== "healthy") {
      const state: SandboxState = running ? "starting" : "sleeping";
      return new Response(null, { status: 503, headers: { [COLD_HEADER]: state } });
    }
    const response = await super.fetch(forwarded);
    // Only this class may mark an answer as "cold": a runtime header of that name is dropped.
    if (response.webSocket === null && response.headers.has(COLD_HEADER)) {
      const cleaned = new Response(response.body, response);
      cleaned.headers.delete(COLD_HEADER);
      return cleaned;
    }
    return response;
  }
}
