import { describe, expect, it } from "vitest";
import { baseEnv, echoOrigin, FakeSandbox, harness, json, NOW_MS } from "./support";

const encoder = new TextEncoder();
const hex = (bytes: ArrayBuffer): string => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");

function post(channel: string, body: string, headers: Record<string, string>): Request {
  return new Request(`https://agent.example.com/webhooks/${channel}`, { method: "POST", body, headers });
}

/** A unique tenant per test keeps replay ledgers apart. */
let tenantSeq = 0;
const freshEnv = (extra: Parameters<typeof baseEnv>[0] = {}) => baseEnv({ TENANT: `hooks-${++tenantSeq}`, ...extra });

describe("Telegram webhook", () => {
  const secret = "tg-secret-0123456789";
  const update = JSON.stringify({ update_id: 1001, message: { text: "hi" } });

  it("forwards a valid delivery with X-Agent-Channel, waking the tenant sandbox", async () => {
    const h = harness();
    const env = freshEnv({ TELEGRAM_WEBHOOK_SECRET: secret });
    const res = await h.fetch(post("telegram", update, { "x-telegram-bot-api-secret-token": secret }), env);
    expect(res.status).toBe(200);
    const seen = await json<{ url: string; body: string; headers: Record<string, string> }>(res);
    expect(new URL(seen.url).pathname).toBe("/webhooks/telegram");
    expect(seen.body).toBe(update);
    expect(seen.headers["x-agent-channel"]).toBe("telegram");
    expect(seen.headers["x-agent-edge-token"]).toBe("edge-secret-for-tests");
    expect(seen.headers["x-agent-tenant"]).toBe(env.TENANT);
  });

  it.each([
    ["a wrong secret", { "x-telegram-bot-api-secret-token": "tg-secret-0123456788" }, /mismatch/],
    ["no secret header", {}, /missing/],
  ])("rejects %s with 401 and leaves the sandbox asleep", async (_name, headers, reason) => {
    const h = harness({ sandbox: () => new FakeSandbox("sleeping", echoOrigin) });
    const res = await h.fetch(post("telegram", update, headers), freshEnv({ TELEGRAM_WEBHOOK_SECRET: secret }));
    expect(res.status).toBe(401);
    expect((await json<{ error: string }>(res)).error).toMatch(reason);
    expect(h.sandboxes.size).toBe(0);
  });

  it("rejects a replayed update_id", async () => {
    const h = harness();
    const env = freshEnv({ TELEGRAM_WEBHOOK_SECRET: secret });
    const first = await h.fetch(post("telegram", update, { "x-telegram-bot-api-secret-token": secret }), env);
    expect(first.status).toBe(200);
    const again = await h.fetch(post("telegram", update, { "x-telegram-bot-api-secret-token": secret }), env);
    expect(again.status).toBe(401);
    expect((await json<{ error: string }>(again)).error).toContain("replayed");
    expect(h.sandboxes.get(env.TENANT ?? "")?.received).toHaveLength(1);
  });

  it("accepts the platform's retry when the first delivery hit a cold-start timeout", async () => {
    const sandbox = new FakeSandbox("starting", echoOrigin);
    const h = harness({ sandbox: () => sandbox });
    const env = freshEnv({ TELEGRAM_WEBHOOK_SECRET: secret, COLD_START_TIMEOUT_MS: "1000" });
    const headers = { "x-telegram-bot-api-secret-token": secret };
    expect((await h.fetch(post("telegram", update, headers), env)).status).toBe(503);
    sandbox.current = "ready";
    expect((await h.fetch(post("telegram", update, headers), env)).status).toBe(200);
    expect((await h.fetch(post("telegram", update, headers), env)).status).toBe(401);
    expect(sandbox.received).toHaveLength(1);
  });

  it("is 404 when the channel is not configured, and ignores Access entirely", async () => {
    const h = harness();
    const res = await h.fetch(post("telegram", update, { "x-telegram-bot-api-secret-token": secret }), freshEnv());
    expect(res.status).toBe(404);
    expect((await json<{ hint: string }>(res)).hint).toContain("TELEGRAM_WEBHOOK_SECRET");
  });
});

describe("Slack webhook", () => {
  const signingSecret = "8f742231b10e8888abcd99yyyzzz85a5";
  const body = "token=xyz&team_id=T1&event=message";

  async function slackHeaders(timestampS: number, payload = body, secret = signingSecret): Promise<Record<string, string>> {
    const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`v0:${timestampS}:${payload}`));
    return { "x-slack-request-timestamp": String(timestampS), "x-slack-signature": `v0=${hex(mac)}` };
  }
  const nowS = Math.floor(NOW_MS / 1000);

  it("forwards a correctly signed request", async () => {
    const h = harness();
    const res = await h.fetch(post("slack", body, await slackHeaders(nowS - 30)), freshEnv({ SLACK_SIGNING_SECRET: signingSecret }));
    expect(res.status).toBe(200);
    const seen = await json<{ body: string; headers: Record<string, string> }>(res);
    expect(seen.body).toBe(body);
    expect(seen.headers["x-agent-channel"]).toBe("slack");
  });

  it.each([
    ["signed with another secret", async () => slackHeaders(nowS, body, "another-secret"), /signature mismatch/],
    ["a modified body", async () => slackHeaders(nowS, `${body}&admin=1`), /signature mismatch/],
    ["a timestamp 6 minutes old", async () => slackHeaders(nowS - 360), /5-minute window/],
    ["a timestamp 6 minutes ahead", async () => slackHeaders(nowS + 360), /5-minute window/],
    ["a malformed signature", async () => ({ "x-slack-request-timestamp": String(nowS), "x-slack-signature": "v1=abc" }), /malformed/],
  ])("rejects %s", async (_name, headers, reason) => {
    const h = harness({ sandbox: () => new FakeSandbox("sleeping", echoOrigin) });
    const res = await h.fetch(post("slack", body, await headers()), freshEnv({ SLACK_SIGNING_SECRET: signingSecret }));
    expect(res.status).toBe(401);
    expect((await json<{ error: string }>(res)).error).toMatch(reason);
    expect(h.sandboxes.size).toBe(0);
  });

  it("rejects a replay of a valid request inside the window", async () => {
    const h = harness();
    const env = freshEnv({ SLACK_SIGNING_SECRET: signingSecret });
    const headers = await slackHeaders(nowS - 10);
    expect((await h.fetch(post("slack", body, headers), env)).status).toBe(200);
    const replay = await h.fetch(post("slack", body, headers), env);
    expect(replay.status).toBe(401);
    expect((await json<{ error: string }>(replay)).error).toContain("replayed");
  });
});

describe("Discord webhook", () => {
  async function ed25519(): Promise<{ sign: (ts: string, body: string) => Promise<string>; publicHex: string }> {
    const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const raw = (await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer;
    return {
      publicHex: hex(raw),
      sign: async (ts, body) => hex(await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, encoder.encode(ts + body))),
    };
  }
  const ts = String(Math.floor(NOW_MS / 1000));

  it("answers PING at the edge without touching the sandbox", async () => {
    const key = await ed25519();
    const h = harness();
    const body = JSON.stringify({ type: 1, id: "1", application_id: "42" });
    const res = await h.fetch(
      post("discord", body, { "x-signature-ed25519": await key.sign(ts, body), "x-signature-timestamp": ts }),
      freshEnv({ DISCORD_PUBLIC_KEY: key.publicHex }),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ type: 1 });
    expect(h.sandboxes.size).toBe(0);
  });

  it("forwards a signed interaction", async () => {
    const key = await ed25519();
    const h = harness();
    const body = JSON.stringify({ type: 2, id: "2", data: { name: "ask" } });
    const res = await h.fetch(
      post("discord", body, { "x-signature-ed25519": await key.sign(ts, body), "x-signature-timestamp": ts }),
      freshEnv({ DISCORD_PUBLIC_KEY: key.publicHex }),
    );
    expect(res.status).toBe(200);
    expect((await json<{ headers: Record<string, string> }>(res)).headers["x-agent-channel"]).toBe("discord");
  });

  it("defers a slash command at the edge when the sandbox is cold, then delivers it", async () => {
    const key = await ed25519();
    const sandbox = new FakeSandbox("sleeping", echoOrigin, ["starting", "ready"]);
    const h = harness({ sandbox: () => sandbox });
    const body = JSON.stringify({ type: 2, id: "9", token: "interaction-token", data: { name: "ask" } });
    const res = await h.fetch(
      post("discord", body, { "x-signature-ed25519": await key.sign(ts, body), "x-signature-timestamp": ts }),
      freshEnv({ DISCORD_PUBLIC_KEY: key.publicHex }),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ type: 5 });
    // The harness waits for ctx.waitUntil: by now the command reached the woken sandbox.
    expect(sandbox.wakes).toBe(1);
    expect(sandbox.received).toHaveLength(1);
    expect(await sandbox.received[0]?.text()).toBe(body);
  });

  it("rejects a signature from another key, a stale timestamp, and a replay", async () => {
    const key = await ed25519();
    const other = await ed25519();
    const env = freshEnv({ DISCORD_PUBLIC_KEY: key.publicHex });
    const body = JSON.stringify({ type: 2, id: "3" });
    const h = harness({ sandbox: () => new FakeSandbox("ready", echoOrigin) });

    const forged = await h.fetch(post("discord", body, { "x-signature-ed25519": await other.sign(ts, body), "x-signature-timestamp": ts }), env);
    expect(forged.status).toBe(401);
    expect((await json<{ error: string }>(forged)).error).toContain("signature mismatch");

    const oldTs = String(Number(ts) - 600);
    const stale = await h.fetch(post("discord", body, { "x-signature-ed25519": await key.sign(oldTs, body), "x-signature-timestamp": oldTs }), env);
    expect(stale.status).toBe(401);
    expect(h.sandboxes.size).toBe(0);

    const headers = { "x-signature-ed25519": await key.sign(ts, body), "x-signature-timestamp": ts };
    expect((await h.fetch(post("discord", body, headers), env)).status).toBe(200);
    const replay = await h.fetch(post("discord", body, headers), env);
    expect(replay.status).toBe(401);
    expect((await json<{ error: string }>(replay)).error).toContain("replayed");
  });
});

describe("webhook routing", () => {
  it("404s an unknown channel and 405s a GET, without waking anything", async () => {
    const h = harness();
    expect((await h.fetch(post("whatsapp", "{}", {}), freshEnv())).status).toBe(404);
    expect((await h.fetch(new Request("https://agent.example.com/webhooks/slack"), freshEnv({ SLACK_SIGNING_SECRET: "s" }))).status).toBe(405);
    expect(h.sandboxes.size).toBe(0);
  });

  it("refuses a body over 1 MiB before verifying anything", async () => {
    const h = harness();
    const big = "x".repeat((1 << 20) + 1);
    const res = await h.fetch(post("telegram", big, { "x-telegram-bot-api-secret-token": "s" }), freshEnv({ TELEGRAM_WEBHOOK_SECRET: "s" }));
    expect(res.status).toBe(413);
    expect(h.sandboxes.size).toBe(0);
  });

  it("never lets a client reach /internal/*", async () => {
    const h = harness();
    const res = await h.fetch(new Request("https://agent.example.com/internal/cron", { method: "POST" }), freshEnv());
    expect(res.status).toBe(404);
    expect(h.sandboxes.size).toBe(0);
  });
});

describe("webhooks with AGENT_ENGINE=openclaw", () => {
  const secret = "tg-secret-openclaw-0123";
  const update = JSON.stringify({ update_id: 7001, message: { text: "hi openclaw" } });
  const openclawEnv = (extra: Parameters<typeof baseEnv>[0] = {}) => freshEnv({ AGENT_ENGINE: "openclaw", TELEGRAM_WEBHOOK_SECRET: secret, ...extra });

  it("forwards a verified Telegram delivery with the header OpenClaw checks again, the edge token and the internal credential", async () => {
    const h = harness();
    const env = openclawEnv();
    const res = await h.fetch(post("telegram", update, { "x-telegram-bot-api-secret-token": secret }), env);
    expect(res.status).toBe(200);
    const seen = await json<{ url: string; body: string; headers: Record<string, string> }>(res);
    expect(new URL(seen.url).pathname).toBe("/webhooks/telegram");
    expect(seen.body).toBe(update);
    expect(seen.headers["x-telegram-bot-api-secret-token"]).toBe(secret);
    expect(seen.headers["x-agent-edge-token"]).toBe("edge-secret-for-tests");
    expect(seen.headers["x-agent-internal"]).toMatch(/^[0-9a-f]{64}$/);
    expect(seen.headers["x-agent-channel"]).toBe("telegram");
  });

  it("refuses a forged Telegram delivery without waking the sandbox", async () => {
    const h = harness({ sandbox: () => new FakeSandbox("sleeping", echoOrigin) });
    const res = await h.fetch(post("telegram", update, { "x-telegram-bot-api-secret-token": "tg-secret-openclaw-0124" }), openclawEnv());
    expect(res.status).toBe(401);
    expect(h.sandboxes.size).toBe(0);
  });

  it("refuses a replayed Telegram update", async () => {
    const h = harness();
    const env = openclawEnv();
    const headers = { "x-telegram-bot-api-secret-token": secret };
    expect((await h.fetch(post("telegram", update, headers), env)).status).toBe(200);
    const again = await h.fetch(post("telegram", update, headers), env);
    expect(again.status).toBe(401);
    expect((await json<{ error: string }>(again)).error).toContain("replayed");
    expect(h.sandboxes.get(env.TENANT ?? "")?.received).toHaveLength(1);
  });

  it("lets Telegram redeliver when OpenClaw did not durably take the update (5xx)", async () => {
    let durable = false;
    const sandbox = new FakeSandbox("ready", (request) => (durable ? echoOrigin(request) : new Response('{"error":"not durable"}', { status: 503 })));
    const h = harness({ sandbox: () => sandbox });
    const env = openclawEnv();
    const headers = { "x-telegram-bot-api-secret-token": secret };
    expect((await h.fetch(post("telegram", update, headers), env)).status).toBe(503);
    durable = true;
    expect((await h.fetch(post("telegram", update, headers), env)).status).toBe(200);
    expect((await h.fetch(post("telegram", update, headers), env)).status).toBe(401);
  });

  describe("Slack (the pinned @openclaw/slack plugin in HTTP mode)", () => {
    const signingSecret = "slack-signing-secret-openclaw";
    const event = JSON.stringify({ type: "event_callback", event_id: "Ev0OC001", event: { type: "message", channel_type: "im", text: "hi" } });
    const nowS = Math.floor(NOW_MS / 1000);
    const signed = async (timestampS: number, payload = event, secret = signingSecret): Promise<Record<string, string>> => {
      const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`v0:${timestampS}:${payload}`));
      return { "content-type": "application/json", "x-slack-request-timestamp": String(timestampS), "x-slack-signature": `v0=${hex(mac)}` };
    };
    const slackEnv = () => openclawEnv({ SLACK_SIGNING_SECRET: signingSecret });

    it("forwards a verified event with the signature headers OpenClaw checks again", async () => {
      const h = harness();
      const headers = await signed(nowS - 20);
      const res = await h.fetch(post("slack", event, headers), slackEnv());
      expect(res.status).toBe(200);
      const seen = await json<{ url: string; body: string; headers: Record<string, string> }>(res);
      expect(new URL(seen.url).pathname).toBe("/webhooks/slack");
      expect(seen.body).toBe(event); // the exact bytes the signature covers
      expect(seen.headers["x-slack-signature"]).toBe(headers["x-slack-signature"]);
      expect(seen.headers["x-slack-request-timestamp"]).toBe(String(nowS - 20));
      expect(seen.headers["x-agent-internal"]).toMatch(/^[0-9a-f]{64}$/);
      expect(seen.headers["x-agent-channel"]).toBe("slack");
    });

    it.each([
      ["signed with another secret", async () => signed(nowS, event, "another-secret"), /signature mismatch/],
      ["a modified body", async () => signed(nowS, `${event} `), /signature mismatch/],
      ["a stale timestamp (6 minutes old)", async () => signed(nowS - 360), /5-minute window/],
    ])("refuses an event %s without waking the sandbox", async (_name, headers, reason) => {
      const h = harness({ sandbox: () => new FakeSandbox("sleeping", echoOrigin) });
      const res = await h.fetch(post("slack", event, await headers()), slackEnv());
      expect(res.status).toBe(401);
      expect((await json<{ error: string }>(res)).error).toMatch(reason);
      expect(h.sandboxes.size).toBe(0);
    });

    it("refuses a replayed event, and lets Slack retry one OpenClaw did not durably admit", async () => {
      let admitted = false;
      const sandbox = new FakeSandbox("ready", (request) => (admitted ? echoOrigin(request) : new Response('{"error":"not durable"}', { status: 503 })));
      const h = harness({ sandbox: () => sandbox });
      const env = slackEnv();
      const headers = await signed(nowS - 5);
      expect((await h.fetch(post("slack", event, headers), env)).status).toBe(503);
      admitted = true;
      expect((await h.fetch(post("slack", event, headers), env)).status).toBe(200);
      const replay = await h.fetch(post("slack", event, headers), env);
      expect(replay.status).toBe(401);
      expect((await json<{ error: string }>(replay)).error).toContain("replayed");
    });
  });

  it.each([
    ["discord", { DISCORD_PUBLIC_KEY: "ab".repeat(32) }],
    ["whatsapp", { WHATSAPP_APP_SECRET: "s", WHATSAPP_VERIFY_TOKEN: "v" }],
  ])("refuses %s before verifying or waking anything: OpenClaw cannot take it by webhook", async (channel, keys) => {
    const h = harness();
    const res = await h.fetch(post(channel, "{}", {}), openclawEnv(keys));
    expect(res.status).toBe(404);
    const problem = await json<{ error: string; hint: string }>(res);
    expect(problem.error).toBe(`webhook channel ${channel} is not served by the openclaw engine`);
    expect(problem.hint).toContain("native engine");
    expect(h.sandboxes.size).toBe(0);
  });

  it("names AGENT_ENGINE when its value is unknown", async () => {
    const h = harness();
    const res = await h.fetch(post("telegram", update, { "x-telegram-bot-api-secret-token": secret }), openclawEnv({ AGENT_ENGINE: "hermes" }));
    expect(res.status).toBe(500);
    expect(await res.text()).toContain("AGENT_ENGINE");
    expect(h.sandboxes.size).toBe(0);
  });
});
