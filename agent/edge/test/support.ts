/** Test seams: RSA keys and tokens, a fake clock, fake sandboxes, and an app wired to them. */
import { env as testEnv, createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from "jose";
import { remoteKeys } from "../src/access";
import { createApp, type Deps } from "../src/app";
import { directoryClient } from "../src/directory";
import type { EdgeConfig, Env } from "../src/env";
import type { Forwarded, SandboxLink } from "../src/link";
import type { SandboxRpc, SandboxState } from "../src/rpc";

export const TEAM = "https://acme.cloudflareaccess.com";
export const AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";
export const EDGE_TOKEN = "edge-secret-for-tests";
export const NOW_MS = Date.UTC(2026, 10, 26, 12, 0, 0);

export function baseEnv(overrides: Partial<Env> = {}): Env {
  return {
    // Never called: tests inject links. loadConfig only checks that a deployment has the binding.
    SANDBOX: {} as DurableObjectNamespace<SandboxRpc>,
    DIRECTORY: testEnv.DIRECTORY,
    TENANT: "acme",
    ISOLATION: "shared",
    ACCESS_TEAM_DOMAIN: TEAM,
    ACCESS_AUD: AUD,
    AGENT_EDGE_TOKEN: EDGE_TOKEN,
    COLD_START_TIMEOUT_MS: "5000",
    ...overrides,
  };
}

export interface KeyPair {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function rsaKey(kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
  return { kid, privateKey, publicJwk };
}

export function sign(key: KeyPair, claims: JWTPayload, opts: { iat?: number; exp?: number; nbf?: number } = {}): Promise<string> {
  const nowS = Math.floor(NOW_MS / 1000);
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", kid: key.kid })
    .setIssuedAt(opts.iat ?? nowS - 10)
    .setExpirationTime(opts.exp ?? nowS + 3600);
  if (opts.nbf !== undefined) jwt.setNotBefore(opts.nbf);
  return jwt.sign(key.privateKey);
}

export function userClaims(email = "Alice@Example.com"): JWTPayload {
  return { iss: TEAM, aud: [AUD], email, sub: "user-1", type: "app" };
}

/** A JWKS endpoint as Access serves it, counting how often it is fetched. */
export function jwksServer(keys: JWK[]): { fetch: typeof fetch; calls: () => number } {
  let calls = 0;
  const handler = async (input: RequestInfo | URL): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input);
    if (url !== `${TEAM}/cdn-cgi/access/certs`) return new Response("not found", { status: 404 });
    calls++;
    return Response.json({ keys });
  };
  return { fetch: handler as typeof fetch, calls: () => calls };
}

export type OriginHandler = (request: Request) => Response | Promise<Response>;

/** A sandbox whose container is a function; its state moves along `states` on each state() poll. */
export class FakeSandbox implements SandboxLink {
  readonly received: Request[] = [];
  wakes = 0;
  polls = 0;
  constructor(
    public current: SandboxState,
    private readonly origin: OriginHandler,
    private readonly states: SandboxState[] = [],
  ) {}

  async forward(request: Request): Promise<Forwarded> {
    if (this.current !== "ready") {
      await request.body?.cancel();
      return { kind: "cold", state: this.current };
    }
    this.received.push(request.clone());
    return { kind: "response", response: await this.origin(request) };
  }

  async state(): Promise<SandboxState> {
    this.polls++;
    const next = this.states.shift();
    if (next !== undefined) this.current = next;
    return this.current;
  }

  async wake(): Promise<void> {
    this.wakes++;
  }
}

export const echoOrigin: OriginHandler = async (request) => {
  const headers: Record<string, string> = {};
  for (const [k, v] of request.headers) headers[k] = v;
  return Response.json({ method: request.method, url: request.url, headers, body: await request.text() });
};

export interface Harness {
  deps: Deps;
  sandboxes: Map<string, FakeSandbox>;
  sleeps: number[];
  clock: { now: number };
  fetch(request: Request, env?: Env): Promise<Response>;
}

export function harness(
  options: {
    keys?: Deps["keys"];
    sandbox?: (name: string) => FakeSandbox;
  } = {},
): Harness {
  const clock = { now: NOW_MS };
  const sleeps: number[] = [];
  const sandboxes = new Map<string, FakeSandbox>();
  let ids = 0;
  const deps: Deps = {
    now: () => clock.now,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.now += ms;
    },
    keys: options.keys ?? remoteKeys(jwksServer([]).fetch),
    link: (_config: EdgeConfig, _env: Env, name: string) => {
      let sandbox = sandboxes.get(name);
      if (sandbox === undefined) {
        sandbox = options.sandbox?.(name) ?? new FakeSandbox("ready", echoOrigin);
        sandboxes.set(name, sandbox);
      }
      return sandbox;
    },
    directory: (config, env) => {
      if (env.DIRECTORY === undefined) throw new Error("no DIRECTORY in test env");
      return directoryClient(env.DIRECTORY, config.tenant);
    },
    requestId: () => `req-${++ids}`,
  };
  const app = createApp(deps);
  return {
    deps,
    sandboxes,
    sleeps,
    clock,
    async fetch(request, env = baseEnv()) {
      const ctx = createExecutionContext();
      const response = await app.fetch(request, env, ctx);
      await waitOnExecutionContext(ctx);
      return response;
    },
  };
}

export async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}
