/** CSRF: writes and WebSocket upgrades that carry an Origin must come from the agent's own origin. */
import { beforeAll, describe, expect, it } from "vitest";
import { remoteKeys } from "../src/access";
import { needsOriginCheck } from "../src/origin";
import { AUD, baseEnv, echoOrigin, FakeSandbox, harness, json, jwksServer, rsaKey, sign, TEAM, userClaims, type KeyPair } from "./support";

const SITE = "https://agent.example.com";

let key: KeyPair;
let keys: ReturnType<typeof remoteKeys>;
beforeAll(async () => {
  key = await rsaKey("k1");
  keys = remoteKeys(jwksServer([key.publicJwk]).fetch);
});

async function authed(url: string, init: RequestInit = {}): Promise<Request> {
  const headers = new Headers(init.headers);
  headers.set("cf-access-jwt-assertion", await sign(key, userClaims("alice@example.com")));
  return new Request(url, { ...init, headers });
}

/** A sandbox that would answer but is asleep: any wake or forward attempt is counted. */
const sleepingHarness = () => harness({ keys, sandbox: () => new FakeSandbox("sleeping", echoOrigin) });

describe("Origin check on state-changing requests", () => {
  it.each(["POST", "PUT", "PATCH", "DELETE"])("lets a same-origin %s through to the sandbox", async (method) => {
    const h = harness({ keys });
    const res = await h.fetch(await authed(`${SITE}/api/memory`, { method, headers: { origin: SITE, "content-type": "application/json" }, body: "{}" }));
    expect(res.status).toBe(200);
    const seen = await json<{ method: string; headers: Record<string, string> }>(res);
    expect(seen.method).toBe(method);
    expect(seen.headers.origin).toBe(SITE);
  });

  it.each([
    ["another site", "https://evil.example"],
    ["a sibling subdomain", "https://evil.agent.example.com"],
    ["plain http on the same host", "http://agent.example.com"],
    ["another port on the same host", "https://agent.example.com:8443"],
    ["an opaque origin", "null"],
    ["a path where an origin belongs", "https://agent.example.com/api"],
  ])("refuses a POST from %s with 403 before waking anything", async (_name, origin) => {
    const h = sleepingHarness();
    const res = await h.fetch(await authed(`${SITE}/api/chat`, { method: "POST", headers: { origin }, body: '{"message":"hi"}' }));
    expect(res.status).toBe(403);
    expect(res.headers.get("content-type")).toContain("application/json");
    const body = await json<{ error: string; hint: string }>(res);
    expect(body.error).toBe(`cross-origin POST request refused: Origin ${JSON.stringify(origin)} is not this agent's origin ${SITE}`);
    expect(body.hint).toContain(`open the agent at ${SITE}`);
    expect(h.sandboxes.size).toBe(0);
  });

  it("checks DELETE on any path, not only /api", async () => {
    const h = sleepingHarness();
    const res = await h.fetch(await authed(`${SITE}/anything`, { method: "DELETE", headers: { origin: "https://evil.example" } }));
    expect(res.status).toBe(403);
    expect(h.sandboxes.size).toBe(0);
  });

  it("refuses before Access: a cross-site page learns nothing about the sign-in state", async () => {
    const h = sleepingHarness();
    const res = await h.fetch(new Request(`${SITE}/api/chat`, { method: "POST", headers: { origin: "https://evil.example" }, body: "{}" }));
    expect(res.status).toBe(403);
    expect(h.sandboxes.size).toBe(0);
  });

  it("does not let a matching Origin stand in for authentication", async () => {
    const h = sleepingHarness();
    const res = await h.fetch(new Request(`${SITE}/api/chat`, { method: "POST", headers: { origin: SITE }, body: "{}" }));
    expect(res.status).toBe(401);
    expect(h.sandboxes.size).toBe(0);
  });

  it("bounds how much of a forged Origin is echoed", async () => {
    const h = sleepingHarness();
    const origin = `https://${"a".repeat(5000)}.example`;
    const res = await h.fetch(await authed(`${SITE}/api/chat`, { method: "POST", headers: { origin }, body: "{}" }));
    expect(res.status).toBe(403);
    expect((await json<{ error: string }>(res)).error.length).toBeLessThan(400);
  });

  it("leaves reads alone, whatever their Origin", async () => {
    const h = harness({ keys });
    const res = await h.fetch(await authed(`${SITE}/api/sessions`, { headers: { origin: "https://evil.example" } }));
    expect(res.status).toBe(200);
    expect(needsOriginCheck(new Request(`${SITE}/`, { method: "HEAD" }))).toBe(false);
    expect(needsOriginCheck(new Request(`${SITE}/`, { method: "OPTIONS" }))).toBe(false);
  });
});

describe("API clients without Origin", () => {
  it("lets a user token POST without Origin", async () => {
    const h = harness({ keys });
    const res = await h.fetch(await authed(`${SITE}/api/chat`, { method: "POST", body: '{"message":"hi"}' }));
    expect(res.status).toBe(200);
    expect((await json<{ body: string }>(res)).body).toBe('{"message":"hi"}');
  });

  it("lets an Access service token POST without Origin", async () => {
    const h = harness({ keys });
    const token = await sign(key, { iss: TEAM, aud: [AUD], common_name: "88bf3b6d86161464f6509f7219099e57.access", sub: "", type: "app" });
    const res = await h.fetch(new Request(`${SITE}/api/chat`, { method: "POST", headers: { "cf-access-jwt-assertion": token }, body: "{}" }));
    expect(res.status).toBe(200);
    expect((await json<{ headers: Record<string, string> }>(res)).headers["x-agent-user"]).toBe("service:88bf3b6d86161464f6509f7219099e57.access");
  });
});

describe("Origin check on WebSocket upgrades", () => {
  const wsOrigin = (): Response => {
    const pair = new WebSocketPair();
    pair[1].accept();
    return new Response(null, { status: 101, webSocket: pair[0] });
  };

  it("upgrades a same-origin WebSocket", async () => {
    const h = harness({ keys, sandbox: () => new FakeSandbox("ready", wsOrigin) });
    const res = await h.fetch(await authed(`${SITE}/ws`, { headers: { upgrade: "websocket", origin: SITE } }));
    expect(res.status).toBe(101);
    res.webSocket?.accept();
    res.webSocket?.close(1000, "done");
  });

  it("refuses a cross-origin WebSocket upgrade with 403 before waking anything", async () => {
    const h = harness({ keys, sandbox: () => new FakeSandbox("sleeping", wsOrigin) });
    const res = await h.fetch(await authed(`${SITE}/ws`, { headers: { upgrade: "websocket", origin: "https://evil.example" } }));
    expect(res.status).toBe(403);
    expect(res.webSocket).toBeNull();
    expect((await json<{ error: string }>(res)).error).toBe(
      `cross-origin WebSocket upgrade refused: Origin "https://evil.example" is not this agent's origin ${SITE}`,
    );
    expect(h.sandboxes.size).toBe(0);
  });

  it("lets a WebSocket client without Origin upgrade", async () => {
    const h = harness({ keys, sandbox: () => new FakeSandbox("ready", wsOrigin) });
    const res = await h.fetch(await authed(`${SITE}/ws`, { headers: { upgrade: "websocket" } }));
    expect(res.status).toBe(101);
    res.webSocket?.accept();
    res.webSocket?.close(1000, "done");
  });
});

describe("webhooks are exempt (they are signature-verified)", () => {
  it("forwards a verified Telegram delivery whatever its Origin", async () => {
    const secret = "tg-secret-0123456789";
    const h = harness();
    const env = baseEnv({ TENANT: "origin-hooks", TELEGRAM_WEBHOOK_SECRET: secret });
    const body = JSON.stringify({ update_id: 4242, message: { text: "hi" } });
    const res = await h.fetch(
      new Request(`${SITE}/webhooks/telegram`, {
        method: "POST",
        body,
        headers: { "x-telegram-bot-api-secret-token": secret, origin: "https://api.telegram.org" },
      }),
      env,
    );
    expect(res.status).toBe(200);
    expect((await json<{ headers: Record<string, string> }>(res)).headers["x-agent-channel"]).toBe("telegram");
  });

  it("still rejects a badly signed delivery with 401, not 403", async () => {
    const h = harness();
    const env = baseEnv({ TENANT: "origin-hooks-bad", TELEGRAM_WEBHOOK_SECRET: "tg-secret-0123456789" });
    const res = await h.fetch(
      new Request(`${SITE}/webhooks/telegram`, {
        method: "POST",
        body: JSON.stringify({ update_id: 1 }),
        headers: { "x-telegram-bot-api-secret-token": "wrong", origin: "https://evil.example" },
      }),
      env,
    );
    expect(res.status).toBe(401);
    expect(h.sandboxes.size).toBe(0);
  });
});

describe("local mode compares with the Worker's own origin, not AGENT_ORIGIN", () => {
  const PUBLIC = "http://127.0.0.1:8787";
  const PROXIED = "http://127.0.0.1:8080";
  const localEnv = () =>
    baseEnv({ SANDBOX: undefined, AGENT_ORIGIN: PROXIED, DEV_IDENTITY: "dev@localhost", ACCESS_AUD: undefined, ACCESS_TEAM_DOMAIN: undefined });

  it("accepts a page served by the Worker", async () => {
    const h = harness();
    const res = await h.fetch(new Request(`${PUBLIC}/api/chat`, { method: "POST", headers: { origin: PUBLIC }, body: "{}" }), localEnv());
    expect(res.status).toBe(200);
  });

  it.each([PROXIED, "http://localhost:8787"])("refuses Origin %s", async (origin) => {
    const h = harness();
    const res = await h.fetch(new Request(`${PUBLIC}/api/chat`, { method: "POST", headers: { origin }, body: "{}" }), localEnv());
    expect(res.status).toBe(403);
    expect((await json<{ error: string }>(res)).error).toContain(`is not this agent's origin ${PUBLIC}`);
    expect(h.sandboxes.size).toBe(0);
  });
});
