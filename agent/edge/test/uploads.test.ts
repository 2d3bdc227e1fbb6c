/** Attachment uploads: Access and the Origin check apply, and an oversized body is refused at the edge. */
import { beforeAll, describe, expect, it } from "vitest";
import { remoteKeys } from "../src/access";
import { DEFAULT_ATTACHMENT_MAX_BYTES } from "../src/uploads";
import { baseEnv, FakeSandbox, echoOrigin, harness, json, jwksServer, rsaKey, sign, userClaims, type KeyPair } from "./support";

const SITE = "https://agent.example.com";

let key: KeyPair;
let keys: ReturnType<typeof remoteKeys>;
beforeAll(async () => {
  key = await rsaKey("k1");
  keys = remoteKeys(jwksServer([key.publicJwk]).fetch);
});

async function upload(path: string, headers: Record<string, string>, body: BodyInit, signedIn = true): Promise<Request> {
  const all = new Headers(headers);
  if (signedIn) all.set("cf-access-jwt-assertion", await sign(key, userClaims("alice@example.com")));
  return new Request(`${SITE}${path}`, { method: "POST", headers: all, body });
}

const sleeping = () => harness({ keys, sandbox: () => new FakeSandbox("sleeping", echoOrigin) });

describe("POST /api/attachments at the edge", () => {
  it("streams an upload within the limit through to the sandbox", async () => {
    const h = harness({ keys });
    const res = await h.fetch(await upload("/api/attachments?name=a.txt", { origin: SITE, "content-length": "5" }, "hello"), baseEnv({ AGENT_ATTACHMENT_MAX_BYTES: "1000" }));
    expect(res.status).toBe(200);
    const seen = await json<{ method: string; body: string; headers: Record<string, string> }>(res);
    expect([seen.method, seen.body, seen.headers["x-agent-user"]]).toEqual(["POST", "hello", "alice@example.com"]);
  });

  it.each([
    ["/api/attachments", "1001"],
    ["/api/attachments/", "1001"],
    ["/api/%61ttachments", "5000"],
    ["/api/attachments", "not-a-number"],
  ])("refuses %s with Content-Length %s (413) before waking a sandbox", async (path, length) => {
    const h = sleeping();
    const res = await h.fetch(await upload(path, { "content-length": length }, "x".repeat(10)), baseEnv({ AGENT_ATTACHMENT_MAX_BYTES: "1000" }));
    expect(res.status).toBe(413);
    const body = await json<{ error: string; hint: string }>(res);
    expect(body.error).toBe("attachment larger than 1000 bytes (AGENT_ATTACHMENT_MAX_BYTES)");
    expect(h.sandboxes.size).toBe(0);
  });

  it("uses the runtime's default limit when the setting is absent, and asks for a length", async () => {
    const h = sleeping();
    const big = await h.fetch(await upload("/api/attachments", { "content-length": String(DEFAULT_ATTACHMENT_MAX_BYTES + 1) }, "x"), baseEnv());
    expect(big.status).toBe(413);
    const stream = new ReadableStream({ start: (c) => { c.enqueue(new TextEncoder().encode("x")); c.close(); } });
    const chunked = await h.fetch(await upload("/api/attachments", {}, stream), baseEnv());
    expect(chunked.status).toBe(411);
    expect(h.sandboxes.size).toBe(0);
  });

  it("applies the Origin check and Access first", async () => {
    const h = sleeping();
    const crossSite = await h.fetch(await upload("/api/attachments", { origin: "https://evil.example", "content-length": "1" }, "x"), baseEnv());
    expect(crossSite.status).toBe(403);
    const anonymous = await h.fetch(await upload("/api/attachments", { "content-length": "1" }, "x", false), baseEnv());
    expect(anonymous.status).toBe(401);
    expect(h.sandboxes.size).toBe(0);
  });
});
