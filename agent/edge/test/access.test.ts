import { base64url } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { remoteKeys } from "../src/access";
import { AUD, baseEnv, harness, json, jwksServer, NOW_MS, rsaKey, sign, TEAM, userClaims, type KeyPair } from "./support";

let key: KeyPair;
let stranger: KeyPair;
let jwks: ReturnType<typeof jwksServer>;

beforeAll(async () => {
  key = await rsaKey("access-key-1");
  stranger = await rsaKey("not-published");
  jwks = jwksServer([key.publicJwk]);
});

function withHeader(token: string, init: RequestInit = {}): Request {
  return new Request("https://agent.example.com/api/chat", {
    ...init,
    headers: { "cf-access-jwt-assertion": token, ...(init.headers as Record<string, string> | undefined) },
  });
}

async function expectRejected(token: string, reason: RegExp): Promise<void> {
  const h = harness({ keys: remoteKeys(jwks.fetch) });
  const res = await h.fetch(withHeader(token));
  expect(res.status).toBe(401);
  expect(res.headers.get("content-type")).toContain("application/json");
  const body = await json<{ error: string; hint: string }>(res);
  expect(body.error).toMatch(reason);
  expect(body.hint).toContain("Access");
  // Nothing was routed: no sandbox was even looked up, let alone woken.
  expect(h.sandboxes.size).toBe(0);
}

describe("Access JWT verification", () => {
  it("accepts a valid token from the header and forwards the verified, lower-cased email", async () => {
    const h = harness({ keys: remoteKeys(jwks.fetch) });
    const res = await h.fetch(withHeader(await sign(key, userClaims())));
    expect(res.status).toBe(200);
    const seen = await json<{ headers: Record<string, string> }>(res);
    expect(seen.headers["x-agent-user"]).toBe("alice@example.com");
    expect([...h.sandboxes.keys()]).toEqual(["acme"]);
  });

  it("accepts the CF_Authorization cookie when there is no header", async () => {
    const h = harness({ keys: remoteKeys(jwks.fetch) });
    const token = await sign(key, userClaims("bob@example.com"));
    const res = await h.fetch(
      new Request("https://agent.example.com/api/chat", { headers: { cookie: `theme=dark; CF_Authorization=${token}` } }),
    );
    expect(res.status).toBe(200);
    const seen = await json<{ headers: Record<string, string> }>(res);
    expect(seen.headers["x-agent-user"]).toBe("bob@example.com");
    // The Access cookie stays at the edge; other cookies pass.
    expect(seen.headers.cookie).toBe("theme=dark");
  });

  it("prefers the header over the cookie", async () => {
    const h = harness({ keys: remoteKeys(jwks.fetch) });
    const good = await sign(key, userClaims("header@example.com"));
    const res = await h.fetch(
      new Request("https://agent.example.com/api/chat", {
        headers: { "cf-access-jwt-assertion": good, cookie: "CF_Authorization=garbage" },
      }),
    );
    expect(res.status).toBe(200);
    expect((await json<{ headers: Record<string, string> }>(res)).headers["x-agent-user"]).toBe("header@example.com");
  });

  it("identifies service tokens as service:<client id>", async () => {
    const h = harness({ keys: remoteKeys(jwks.fetch) });
    const token = await sign(key, { iss: TEAM, aud: [AUD], common_name: "88bf3b6d86161464f6509f7219099e57.access", sub: "", type: "app" });
    const res = await h.fetch(withHeader(token));
    expect(res.status).toBe(200);
    expect((await json<{ headers: Record<string, string> }>(res)).headers["x-agent-user"]).toBe(
      "service:88bf3b6d86161464f6509f7219099e57.access",
    );
  });

  it("caches the JWKS across requests", async () => {
    const counted = jwksServer([key.publicJwk]);
    const h = harness({ keys: remoteKeys(counted.fetch) });
    for (let i = 0; i < 5; i++) {
      expect((await h.fetch(withHeader(await sign(key, userClaims())))).status).toBe(200);
    }
    expect(counted.calls()).toBe(1);
  });

  it("rejects an expired token", async () => {
    const nowS = Math.floor(NOW_MS / 1000);
    await expectRejected(await sign(key, userClaims(), { iat: nowS - 7200, exp: nowS - 60 }), /expired/);
  });

  it("rejects a token that is not yet valid", async () => {
    const nowS = Math.floor(NOW_MS / 1000);
    await expectRejected(await sign(key, userClaims(), { nbf: nowS + 600 }), /nbf/);
  });

  it("rejects a wrong audience", async () => {
    await expectRejected(await sign(key, { ...userClaims(), aud: ["some-other-app"] }), /aud/);
  });

  it("rejects a wrong issuer", async () => {
    await expectRejected(await sign(key, { ...userClaims(), iss: "https://evil.cloudflareaccess.com" }), /iss/);
  });

  it("rejects alg: none", async () => {
    const header = base64url.encode(JSON.stringify({ alg: "none", typ: "JWT" }));
    const payload = base64url.encode(JSON.stringify({ ...userClaims(), exp: Math.floor(NOW_MS / 1000) + 600 }));
    await expectRejected(`${header}.${payload}.`, /algorithm not allowed|malformed/);
  });

  it("rejects HS256 signed with the public key as the HMAC secret", async () => {
    const header = base64url.encode(JSON.stringify({ alg: "HS256", typ: "JWT", kid: key.kid }));
    const payload = base64url.encode(JSON.stringify({ ...userClaims(), exp: Math.floor(NOW_MS / 1000) + 600 }));
    const secret = new TextEncoder().encode(JSON.stringify(key.publicJwk));
    const hmac = await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const sig = new Uint8Array(await crypto.subtle.sign("HMAC", hmac, new TextEncoder().encode(`${header}.${payload}`)));
    await expectRejected(`${header}.${payload}.${base64url.encode(sig)}`, /algorithm not allowed/);
  });

  it("rejects an unknown kid", async () => {
    await expectRejected(await sign(stranger, userClaims()), /kid/);
  });

  it("rejects a tampered payload", async () => {
    const token = await sign(key, userClaims("alice@example.com"));
    const [h, , s] = token.split(".");
    const forged = base64url.encode(JSON.stringify({ ...userClaims("admin@example.com"), exp: Math.floor(NOW_MS / 1000) + 600 }));
    await expectRejected(`${h}.${forged}.${s}`, /signature/);
  });

  it("rejects a token without email or service common_name", async () => {
    await expectRejected(await sign(key, { iss: TEAM, aud: [AUD], sub: "x" }), /neither an email/);
  });

  it("answers API clients without a token with 401 JSON", async () => {
    const h = harness({ keys: remoteKeys(jwks.fetch) });
    const res = await h.fetch(new Request("https://agent.example.com/api/chat", { method: "POST", body: "{}" }));
    expect(res.status).toBe(401);
    expect(await json(res)).toMatchObject({ error: "unauthenticated: no Access token" });
    expect(h.sandboxes.size).toBe(0);
  });

  it("redirects browsers without a token to the team login", async () => {
    const h = harness({ keys: remoteKeys(jwks.fetch) });
    const res = await h.fetch(new Request("https://agent.example.com/chat?x=1", { headers: { accept: "text/html,*/*" } }));
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get("location") ?? "");
    expect(location.origin).toBe(TEAM);
    expect(location.pathname).toBe("/cdn-cgi/access/login/agent.example.com");
    expect(location.searchParams.get("kid")).toBe(AUD);
    expect(location.searchParams.get("redirect_url")).toBe("/chat?x=1");
    expect(h.sandboxes.size).toBe(0);
  });

  it("fails closed with a 500 naming the key when Access is not configured", async () => {
    const h = harness({ keys: remoteKeys(jwks.fetch) });
    const token = await sign(key, userClaims());
    for (const [key_, env] of [
      ["ACCESS_AUD", baseEnv({ ACCESS_AUD: "" })],
      ["ACCESS_TEAM_DOMAIN", baseEnv({ ACCESS_TEAM_DOMAIN: undefined })],
    ] as const) {
      const res = await h.fetch(withHeader(token), env);
      expect(res.status).toBe(500);
      const body = await json<{ error: string; hint: string }>(res);
      expect(body.error).toContain(key_);
      expect(body.hint).toContain(`set ${key_}`);
    }
    expect(h.sandboxes.size).toBe(0);
  });

  it.each([
    ["answers non-200", async () => new Response("down", { status: 503 })],
    ["is unreachable", async () => Promise.reject(new TypeError("Network connection lost."))],
    ["serves garbage", async () => new Response("<html>", { status: 200 })],
  ])("fails closed with 503 when the JWKS endpoint %s", async (_name, endpoint) => {
    const h = harness({ keys: remoteKeys(endpoint as typeof fetch) });
    const res = await h.fetch(withHeader(await sign(key, userClaims())));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect((await json<{ error: string }>(res)).error).toBe("Access signing keys unavailable");
    expect(h.sandboxes.size).toBe(0);
  });
});
