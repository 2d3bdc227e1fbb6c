/**
 * The contract between the Worker and its Durable Objects: what the Worker calls over RPC and the
 * headers on the Sandbox DO's own answers. The DO classes implement these interfaces, so env.ts
 * types its bindings without importing the classes (no import circle), and a class that drifts from
 * what the Worker calls fails the type check.
 */

/** sleeping (no container), starting (container up, runtime not ready), ready (`/readyz` is 200). */
export type SandboxState = "sleeping" | "starting" | "ready";

/** Set by the Sandbox DO on its own "not ready" answers (the container never sees requests then). */
export const COLD_HEADER = "x-edge-sandbox-state";
/** Carries the sandbox name from the Worker to the DO, so the DO knows whose sandbox it is. */
export const SANDBOX_HEADER = "x-agent-sandbox";

export function isSandboxState(value: string | null): value is SandboxState {
  return value === "sleeping" || value === "starting" || value === "ready";
}

/** What the Worker calls on a Sandbox Durable Object (implemented by `Sandbox` in sandbox.ts). */
export interface SandboxRpc extends Rpc.DurableObjectBranded {
  sandboxState(): Promise<SandboxState>;
  wake(sandbox: string): Promise<void>;
}

/** What the Worker calls on the tenant's Directory Durable Object (`Directory` in directory.ts). */
export interface DirectoryRpc extends Rpc.DurableObjectBranded {
  register(name: string, nowMs: number): void;
  list(): string[];
  claimNonce(nonce: string, nowMs: number, ttlMs: number): boolean;
  releaseNonce(nonce: string): void;
}
