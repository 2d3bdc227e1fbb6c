/**
 * Directory: one small Durable Object per tenant holding edge bookkeeping that must be shared by all
 * isolates: which sandboxes exist (cron fans out to them under per-user isolation) and which webhook
 * nonces were already used (replay rejection). It never talks to a container.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "./env";
import type { DirectoryRpc } from "./rpc";

export class Directory extends DurableObject<Env> implements DirectoryRpc {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      this.ctx.storage.sql.exec(
        "CREATE TABLE IF NOT EXISTS sandboxes (name TEXT PRIMARY KEY, first_seen INTEGER NOT NULL)",
      );
      this.ctx.storage.sql.exec(
        "CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)",
      );
    });
  }

  /** Remember a sandbox name (idempotent). */
  register(name: string, nowMs: number): void {
    this.ctx.storage.sql.exec("INSERT OR IGNORE INTO sandboxes (name, first_seen) VALUES (?, ?)", name, nowMs);
  }

  /** Every sandbox name registered so far, sorted. */
  list(): string[] {
    return this.ctx.storage.sql
      .exec<{ name: string }>("SELECT name FROM sandboxes ORDER BY name")
      .toArray()
      .map((row) => row.name);
  }

  /** Claim a webhook nonce; false when it was already claimed and has not expired (a replay). */
  claimNonce(nonce: string, nowMs: number, ttlMs: number): boolean {
    this.ctx.storage.sql.exec("DELETE FROM nonces WHERE expires_at <= ?", nowMs);
    const seen = this.ctx.storage.sql.exec("SELECT 1 FROM nonces WHERE nonce = ?", nonce).toArray();
    if (seen.length > 0) return false;
    this.ctx.storage.sql.exec("INSERT INTO nonces (nonce, expires_at) VALUES (?, ?)", nonce, nowMs + ttlMs);
    return true;
  }

  /** Give a nonce back when its delivery failed, so the platform's retry is accepted. */
  releaseNonce(nonce: string): void {
    this.ctx.storage.sql.exec("DELETE FROM nonces WHERE nonce = ?", nonce);
  }
}

/** What the edge needs from the directory; the seam tests can replace. */
export interface DirectoryClient {
  register(name: string, nowMs: number): Promise<void>;
  list(): Promise<string[]>;
  claimNonce(nonce: string, nowMs: number, ttlMs: number): Promise<boolean>;
  releaseNonce(nonce: string): Promise<void>;
}

export function directoryClient(namespace: DurableObjectNamespace<DirectoryRpc>, tenant: string): DirectoryClient {
  const stub = namespace.get(namespace.idFromName(`directory:${tenant}`));
  return {
    register: async (name, nowMs) => {
      await stub.register(name, nowMs);
    },
    list: async () => stub.list(),
    claimNonce: async (nonce, nowMs, ttlMs) => stub.claimNonce(nonce, nowMs, ttlMs),
    releaseNonce: async (nonce) => {
      await stub.releaseNonce(nonce);
    },
  };
}
