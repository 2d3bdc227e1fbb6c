import { beforeAll, describe, expect, it } from "vitest";
import { remoteKeys } from "../src/access";
import { STATUS_PATH } from "../src/coldstart";
import { directoryClient } from "../src/directory";
import { env as testEnv } from "cloudflare:test";
import { baseEnv, echoOrigin, FakeSandbox, harness, json, jwksServer, rsaKey, sign, userClaims, type KeyPair } from "./support";

let key: KeyPair;
let keys: ReturnType<typeof remoteKeys>;
beforeAll(async () => {
  key = await rsaKey("k1");
  keys = remoteKeys(jwksServer([key.publicJwk]).fetch);
});

async function authed(path: string, init: RequestInit = {}, email = "alice@example.com"): Promise<Request> {
  const headers = new Headers(init.headers);
  headers.set("cf-access-jwt-assertion", await sign(key, userClaims(email)));
  return new Request(`https://agent.example.com${path}`, { ...init, headers });
}

describe("browser hitting a sleeping sandbox", () => {
  it("gets the loading page at once, and the sandbox is woken", async () => {
    const h = harness({ keys, sandbox: () => new FakeSandbox("sleeping", echoOrigin) });
    const res = await h.fetch(await authed("/", { headers: { accept: "text/html,application/xhtml+xml" } }));
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.headers.get("cache-control")).toBe("no-store");
    const html = await res.text();
    expect(html).toContain("Starting your agent");
    expect(html).toContain(STATUS_PATH);
    expect(html).toContain("location.reload()");
    const sandbox = h.sandboxes.get("acme");
    expect(sandbox?.wakes).toBe(1);
    expect(h.sleeps).toEqual([]);
  });

  it("polls the status endpoint, which reports the state and wakes a sleeping sandbox", async () => {
    const h = harness({ keys, sandbox: () => new FakeSandbox("sleeping", echoOrigin, ["sleeping", "starting", "ready"]) });
    const states: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await h.fetch(await authed(STATUS_PATH));
      expect(res.status).toBe(200);
      states.push((await json<{ state: string }>(res)).state);
    }
    expect(states).toEqual(["sleeping", "starting", "ready"]);
    expect(h.sandboxes.get("acme")?.wakes).toBe(1);
  });

  it("requires Access for the status endpoint too", async () => {
    const h = harness({ keys });
    const res = await h.fetch(new Request(`https://agent.example.com${STATUS_PATH}`));
    expect(res.status).toBe(401);
    expect(h.sandboxes.size).toBe(0);
  });
});

describe("API call to a cold sandbox", () => {
  it("waits until ready, then delivers the original request body once", async () => {
    const h = harness({ keys, sandbox: () => new FakeSandbox("sleeping", echoOrigin, ["starting", "starting", "ready"]) });
    const res = await h.fetch(await authed("/api/chat", { method: "POST", body: JSON.stringify({ message: "hello" }) }));
    expect(res.status).toBe(200);
    const seen = await json<{ body: string }>(res);
    expect(seen.body).toBe('{"message":"hello"}');
    const sandbox = h.sandboxes.get("acme");
    expect(sandbox?.wakes).toBe(1);
    expect(sandbox?.received).toHaveLength(1);
    expect(sandbox?.polls).toBe(3);
    // Backoff between polls: 100 ms, then 200 ms.
    expect(h.sleeps).toEqual([100, 200]);
  });

  it("answers 503 with Retry-After once COLD_START_TIMEOUT_MS has passed", async () => {
    const h = harness({ keys, sandbox: () => new FakeSandbox("starting", echoOrigin) });
    const started = h.clock.now;
    const res = await h.fetch(await authed("/api/chat", { method: "POST", body: "{}" }), baseEnv({ COLD_START_TIMEOUT_MS: "3000" }));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    const body = await json<{ error: string; hint: string }>(res);
    expect(body.error).toBe("sandbox is starting, not ready after 3000 ms");
    expect(h.clock.now - started).toBe(3000);
    expect(h.sandboxes.get("acme")?.received).toHaveLength(0);
  });

  it("a timeout of 0 answers at once", async () => {
    const h = harness({ keys, sandbox: () => new FakeSandbox("sleeping", echoOrigin) });
    const res = await h.fetch(await authed("/api/x"), baseEnv({ COLD_START_TIMEOUT_MS: "0" }));
    expect(res.status).toBe(503);
    expect(h.sleeps).toEqual([]);
  });

  it("rejects a malformed COLD_START_TIMEOUT_MS naming the key and a valid example", async () => {
    const h = harness({ keys });
    const res = await h.fetch(await authed("/api/x"), baseEnv({ COLD_START_TIMEOUT_MS: "soon" }));
    expect(res.status).toBe(500);
    const body = await json<{ error: string; hint: string }>(res);
    expect(body.error).toContain("COLD_START_TIMEOUT_MS");
    expect(body.hint).toContain("30000");
  });

  it("records per-user sandboxes in the directory when they wake", async () => {
    const h = harness({ keys, sandbox: () => new FakeSandbox("sleeping", echoOrigin, ["ready"]) });
    const env = baseEnv({ ISOLATION: "per-user", TENANT: "coldreg" });
    expect((await h.fetch(await authed("/api/x", {}, "carol@example.com"), env)).status).toBe(200);
    expect((await h.fetch(await authed("/api/x", {}, "dave@example.com"), env)).status).toBe(200);
    const directory = directoryClient(testEnv.DIRECTORY, "coldreg");
    expect(await directory.list()).toEqual(["coldreg:carol@example.com", "coldreg:dave@example.com"]);
  });
});
