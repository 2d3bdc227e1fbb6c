import { describe, expect, it } from "vitest";
import { baseEnv, echoOrigin, FakeSandbox, harness, json, NOW_MS } from "./support";

const encoder = new TextEncoder();
const hex = (bytes: ArrayBuffer): string => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");

const APP_SECRET = "0123456789abcdef0123456789abcdef";
const VERIFY_TOKEN = "verify-token-for-tests-0123";
const nowS = Math.floor(NOW_MS / 1000);

/** A delivery shaped like Meta's `messages` webhook (one text message). */
function delivery(id = "wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQzQUVCRTA4", timestampS = nowS - 5, text = "hi"): string {
  return JSON.stringify({
    object: "whatsapp_business_account",
    entry: [
      {
        id: "102290129340398",
        changes: [
          {
            field: "messages",
            value: {
              messaging_product: "whatsapp",
              metadata: { display_phone_number: "15550783881", phone_number_id: "106540352242922" },
              contacts: [{ profile: { name: "Alice" }, wa_id: "15551234567" }],
              messages: [{ from: "15551234567", id, timestamp: String(timestampS), type: "text", text: { body: text } }],
            },
          },
        ],
      },
    ],
  });
}

async function signature(body: string, secret = APP_SECRET): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return `sha256=${hex(await crypto.subtle.sign("HMAC", key, encoder.encode(body)))}`;
}

function post(body: string, headers: Record<string, string>): Request {
  return new Request("https://agent.example.com/webhooks/whatsapp", { method: "POST", body, headers });
}

let tenantSeq = 0;
const freshEnv = (extra: Parameters<typeof baseEnv>[0] = {}) =>
  baseEnv({ TENANT: `wa-${++tenantSeq}`, WHATSAPP_APP_SECRET: APP_SECRET, WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN, ...extra });

describe("WhatsApp delivery (X-Hub-Signature-256)", () => {
  it("forwards a correctly signed delivery byte for byte with X-Agent-Channel", async () => {
    const h = harness();
    const env = freshEnv();
    const body = delivery();
    const res = await h.fetch(post(body, { "x-hub-signature-256": await signature(body) }), env);
    expect(res.status).toBe(200);
    const seen = await json<{ url: string; body: string; headers: Record<string, string> }>(res);
    expect(new URL(seen.url).pathname).toBe("/webhooks/whatsapp");
    expect(seen.body).toBe(body);
    expect(seen.headers["x-agent-channel"]).toBe("whatsapp");
    expect(seen.headers["x-agent-tenant"]).toBe(env.TENANT);
  });

  it("accepts an upper-case hex signature (the MAC, not its spelling, is checked)", async () => {
    const h = harness();
    const body = delivery();
    const sig = await signature(body);
    const res = await h.fetch(post(body, { "x-hub-signature-256": `sha256=${sig.slice(7).toUpperCase()}` }), freshEnv());
    expect(res.status).toBe(200);
  });

  it.each([
    ["signed with another app secret (forged)", async () => ({ "x-hub-signature-256": await signature(delivery(), "not-the-app-secret") }), delivery(), /signature mismatch/],
    ["a body changed after signing", async () => ({ "x-hub-signature-256": await signature(delivery()) }), delivery(undefined, undefined, "hi, send me the keys"), /signature mismatch/],
    ["no signature header", async () => ({}), delivery(), /missing X-Hub-Signature-256/],
    ["a signature without the sha256= prefix", async () => ({ "x-hub-signature-256": (await signature(delivery())).slice(7) }), delivery(), /malformed/],
    ["a sha1= signature (the legacy header's scheme)", async () => ({ "x-hub-signature-256": `sha1=${"ab".repeat(20)}` }), delivery(), /malformed/],
    ["a truncated signature", async () => ({ "x-hub-signature-256": (await signature(delivery())).slice(0, 40) }), delivery(), /malformed/],
  ])("rejects %s with 401 and leaves the sandbox asleep", async (_name, headers, body, reason) => {
    const h = harness({ sandbox: () => new FakeSandbox("sleeping", echoOrigin) });
    const res = await h.fetch(post(body, await headers()), freshEnv());
    expect(res.status).toBe(401);
    expect((await json<{ error: string }>(res)).error).toMatch(reason);
    expect(h.sandboxes.size).toBe(0);
  });

  it("rejects a stale message (signed timestamp older than the 7-day replay window)", async () => {
    const h = harness({ sandbox: () => new FakeSandbox("sleeping", echoOrigin) });
    const body = delivery("wamid.old", nowS - 8 * 24 * 3600);
    const res = await h.fetch(post(body, { "x-hub-signature-256": await signature(body) }), freshEnv());
    expect(res.status).toBe(401);
    expect((await json<{ error: string }>(res)).error).toMatch(/stale/);
    expect(h.sandboxes.size).toBe(0);
  });

  it("rejects a replayed delivery, and the same message id re-spelled in new JSON", async () => {
    const h = harness();
    const env = freshEnv();
    const body = delivery("wamid.replay-1");
    const headers = { "x-hub-signature-256": await signature(body) };
    expect((await h.fetch(post(body, headers), env)).status).toBe(200);
    const replay = await h.fetch(post(body, headers), env);
    expect(replay.status).toBe(401);
    expect((await json<{ error: string }>(replay)).error).toContain("replayed");
    // Same message id, different bytes (whitespace), validly signed: still the same message.
    const respelled = JSON.stringify(JSON.parse(body), null, 2);
    const again = await h.fetch(post(respelled, { "x-hub-signature-256": await signature(respelled) }), env);
    expect(again.status).toBe(401);
    expect(h.sandboxes.get(env.TENANT ?? "")?.received).toHaveLength(1);
  });

  it("lets Meta's retry in when the first delivery hit a cold-start timeout", async () => {
    const sandbox = new FakeSandbox("starting", echoOrigin);
    const h = harness({ sandbox: () => sandbox });
    const env = freshEnv({ COLD_START_TIMEOUT_MS: "1000" });
    const body = delivery("wamid.retry-1");
    const headers = { "x-hub-signature-256": await signature(body) };
    expect((await h.fetch(post(body, headers), env)).status).toBe(503);
    sandbox.current = "ready";
    expect((await h.fetch(post(body, headers), env)).status).toBe(200);
    expect((await h.fetch(post(body, headers), env)).status).toBe(401);
    expect(sandbox.received).toHaveLength(1);
  });

  it("keys deliveries without a message (statuses) by their signed content", async () => {
    const h = harness();
    const env = freshEnv();
    const body = JSON.stringify({ object: "whatsapp_business_account", entry: [{ changes: [{ value: { statuses: [{ id: "wamid.s", status: "read" }] } }] }] });
    const headers = { "x-hub-signature-256": await signature(body) };
    expect((await h.fetch(post(body, headers), env)).status).toBe(200);
    expect((await h.fetch(post(body, headers), env)).status).toBe(401);
  });

  it("is 404 when WHATSAPP_APP_SECRET is not configured", async () => {
    const h = harness();
    const body = delivery();
    const res = await h.fetch(post(body, { "x-hub-signature-256": await signature(body) }), freshEnv({ WHATSAPP_APP_SECRET: "" }));
    expect(res.status).toBe(404);
    expect((await json<{ hint: string }>(res)).hint).toContain("WHATSAPP_APP_SECRET");
  });
});

describe("WhatsApp subscription challenge (GET)", () => {
  const challenge = (query: string): Request => new Request(`https://agent.example.com/webhooks/whatsapp?${query}`);

  it("echoes hub.challenge for the right verify token, without waking the sandbox", async () => {
    const h = harness({ sandbox: () => new FakeSandbox("sleeping", echoOrigin) });
    const res = await h.fetch(challenge(`hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=${VERIFY_TOKEN}`), freshEnv());
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("1158201444");
    expect(h.sandboxes.size).toBe(0);
  });

  it.each([
    ["a wrong verify token", `hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=${VERIFY_TOKEN}x`, /verify token mismatch/],
    ["no verify token", "hub.mode=subscribe&hub.challenge=1158201444", /missing hub.verify_token/],
    ["another hub.mode", `hub.mode=unsubscribe&hub.challenge=1158201444&hub.verify_token=${VERIFY_TOKEN}`, /hub.mode/],
    ["a challenge carrying markup", `hub.mode=subscribe&hub.challenge=%3Cscript%3E&hub.verify_token=${VERIFY_TOKEN}`, /hub.challenge/],
  ])("refuses %s with 403 and echoes nothing", async (_name, query, reason) => {
    const h = harness({ sandbox: () => new FakeSandbox("sleeping", echoOrigin) });
    const res = await h.fetch(challenge(query), freshEnv());
    expect(res.status).toBe(403);
    const body = await json<{ error: string }>(res);
    expect(body.error).toMatch(reason);
    expect(JSON.stringify(body)).not.toContain("1158201444");
    expect(JSON.stringify(body)).not.toContain(VERIFY_TOKEN);
    expect(h.sandboxes.size).toBe(0);
  });

  it("is 404 when WHATSAPP_VERIFY_TOKEN is not configured", async () => {
    const h = harness();
    const res = await h.fetch(challenge("hub.mode=subscribe&hub.challenge=1&hub.verify_token=x"), freshEnv({ WHATSAPP_VERIFY_TOKEN: "" }));
    expect(res.status).toBe(404);
  });
});
