/**
 * Property-based tests (fast-check, in workerd) over what the edge verifies: header stripping, the
 * Origin check and the three webhook verifiers, including the replay-ledger key. Run counts are
 * bounded so `npm test` stays fast; a failure prints a seed to replay it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ACCESS_COOKIE, ACCESS_HEADER } from "../src/access";
import { INTERNAL_HEADER, upstreamHeaders, type AgentHeaders } from "../src/headers";
import { refuseCrossOrigin } from "../src/origin";
import { TIMESTAMP_WINDOW_MS, verifyDiscord, verifySlack, verifyTelegram } from "../src/webhooks";
import { baseEnv, harness, json, NOW_MS } from "./support";

const SITE = "https://agent.example.com";
const encoder = new TextEncoder();
const hex = (bytes: ArrayBuffer): string => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");

/** Re-case hex digits by a mask: every spelling a lenient hex parser accepts for the same bytes. */
function recase(text: string, mask: boolean[]): string {
  return [...text].map((ch, i) => (mask[i % mask.length] ? ch.toUpperCase() : ch.toLowerCase())).join("");
}

const AGENT: AgentHeaders = { user: "alice@example.com", tenant: "acme", requestId: "req-1", edgeToken: "edge-secret-for-tests" };

describe("header stripping", () => {
  const headerName = fc.oneof(
    fc.constantFrom("x-agent-user", "X-Agent-Tenant", "X-AGENT-EDGE-TOKEN", "x-agent-channel", "X-Agent-Internal", "x-agent-sandbox", "x-agent-"),
    fc.stringMatching(/^[Xx]-[Aa][Gg][Ee][Nn][Tt]-[A-Za-z0-9-]{0,12}$/),
    fc.constantFrom(ACCESS_HEADER, ACCESS_HEADER.toUpperCase(), "Cf-Access-Jwt-Assertion"),
    fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
  );
  const headerValue = fc.stringMatching(/^[!-~]{0,24}$/);
  const cookieName = fc.oneof(fc.constantFrom(ACCESS_COOKIE, "cf_authorization", ` ${ACCESS_COOKIE} `, "CF_AUTHORIZATION"), fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/));
  const cookiePart = fc.tuple(cookieName, fc.stringMatching(/^[A-Za-z0-9._-]{0,16}$/)).map(([n, v]) => `${n}=${v}`);
  const cookie = fc.array(cookiePart, { maxLength: 6 }).map((parts) => parts.join("; "));

  it("property: no client x-agent-* header, Access JWT or Access cookie reaches the sandbox; the rest passes", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(headerName, headerValue), { maxLength: 12 }), cookie, fc.boolean(), (pairs, cookies, internal) => {
        const incoming = new Headers();
        for (const [name, value] of pairs) incoming.append(name, value);
        if (cookies !== "") incoming.set("cookie", cookies);
        const agent = internal ? { ...AGENT, internal: "the-internal-credential" } : AGENT;
        const out = upstreamHeaders(incoming, agent);

        const agentHeaders = [...out.keys()].filter((k) => k.startsWith("x-agent-")).sort();
        const expected = ["x-agent-edge-token", "x-agent-tenant", "x-agent-user", ...(internal ? [INTERNAL_HEADER] : [])].sort();
        expect(agentHeaders).toEqual(expected);
        expect(out.get("x-agent-user")).toBe(AGENT.user);
        expect(out.get("x-agent-edge-token")).toBe(AGENT.edgeToken);
        expect(out.get(INTERNAL_HEADER)).toBe(internal ? "the-internal-credential" : null);
        expect(out.has(ACCESS_HEADER)).toBe(false);
        for (const part of (out.get("cookie") ?? "").split(";")) {
          expect((part.split("=", 1)[0] ?? "").trim().toLowerCase()).not.toBe(ACCESS_COOKIE.toLowerCase());
        }
        for (const [name] of pairs) {
          const lower = name.toLowerCase();
          if (lower.startsWith("x-agent-") || lower === ACCESS_HEADER || lower === "x-request-id" || lower === "cookie") continue;
          expect(out.get(lower)).toBe(incoming.get(lower));
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("Origin check", () => {
  const near = fc.constantFrom(
    SITE,
    `${SITE}/`,
    "https://AGENT.example.com",
    "http://agent.example.com",
    "https://agent.example.com:443",
    "https://agent.example.com:8443",
    "https://agent.example.com.evil.example",
    "https://evil.example",
    "https://sub.agent.example.com",
    "null",
    "",
    " https://agent.example.com",
    "https://agent.example.com ",
    "https://user@agent.example.com",
  );
  const origin = fc.option(fc.oneof(near, fc.webUrl().map((u) => new URL(u).origin), fc.string({ maxLength: 40 })), { nil: undefined });
  const method = fc.constantFrom("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "PROPFIND");

  it("property: a write or WebSocket upgrade passes only with no Origin or exactly the agent's own", () => {
    fc.assert(
      fc.property(method, origin, fc.boolean(), (m, o, upgrade) => {
        const headers = new Headers();
        if (o !== undefined) headers.set("origin", o);
        if (upgrade) headers.set("upgrade", "websocket");
        const request = new Request(`${SITE}/api/x`, { method: m, headers });
        const checked = upgrade || !["GET", "HEAD", "OPTIONS"].includes(m);
        const sent = request.headers.get("origin");
        const allowed = !checked || sent === null || sent === SITE;
        const refusal = refuseCrossOrigin(request);
        expect(refusal === null).toBe(allowed);
        if (refusal !== null) expect(refusal.status).toBe(403);
      }),
      { numRuns: 500 },
    );
  });
});

describe("webhook verifiers", () => {
  const nowS = Math.floor(NOW_MS / 1000);
  const body = fc.string({ maxLength: 200 });
  const skewS = fc.integer({ min: -900, max: 900 });
  const mask = fc.array(fc.boolean(), { minLength: 1, maxLength: 8 });

  async function slackSign(secret: string, timestamp: string, payload: string): Promise<string> {
    const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return `v0=${hex(await crypto.subtle.sign("HMAC", key, encoder.encode(`v0:${timestamp}:${payload}`)))}`;
  }

  it("property (Slack): accepted iff signed with the secret over this body and fresh; every hex spelling is one nonce", async () => {
    const secret = "8f742231b10e8888abcd99yyyzzz85a5";
    await fc.assert(
      fc.asyncProperty(body, skewS, mask, fc.constantFrom("none", "body", "secret", "digit"), async (payload, skew, m, tamper) => {
        const ts = String(nowS + skew);
        const signed = tamper === "body" ? `${payload}x` : payload;
        let signature = await slackSign(tamper === "secret" ? `${secret}!` : secret, ts, signed);
        if (tamper === "digit") signature = signature.slice(0, -1) + (signature.endsWith("0") ? "1" : "0");
        const headers = (sig: string) => new Headers({ "x-slack-request-timestamp": ts, "x-slack-signature": sig });
        const verdict = await verifySlack(payload, headers(signature), secret, NOW_MS);
        const fresh = Math.abs(skew * 1000) <= TIMESTAMP_WINDOW_MS;
        expect(verdict.ok).toBe(fresh && tamper === "none");
        if (!verdict.ok) return;
        const recased = await verifySlack(payload, headers(`v0=${recase(signature.slice(3), m)}`), secret, NOW_MS);
        expect(recased).toEqual(verdict);
      }),
      { numRuns: 120 },
    );
  });

  it("property (Discord): accepted iff signed by the key over timestamp+body and fresh; every hex spelling is one nonce", async () => {
    const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const other = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const publicHex = hex((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
    await fc.assert(
      fc.asyncProperty(body, skewS, mask, fc.constantFrom("none", "body", "key", "digit"), async (payload, skew, m, tamper) => {
        const ts = String(nowS + skew);
        const signer = tamper === "key" ? other.privateKey : pair.privateKey;
        let signature = hex(await crypto.subtle.sign({ name: "Ed25519" }, signer, encoder.encode(ts + (tamper === "body" ? `${payload}x` : payload))));
        if (tamper === "digit") signature = (signature.startsWith("0") ? "1" : "0") + signature.slice(1);
        const headers = (sig: string) => new Headers({ "x-signature-ed25519": sig, "x-signature-timestamp": ts });
        const verdict = await verifyDiscord(payload, headers(signature), publicHex, NOW_MS);
        const fresh = Math.abs(skew * 1000) <= TIMESTAMP_WINDOW_MS;
        expect(verdict.ok).toBe(fresh && tamper === "none");
        if (!verdict.ok) return;
        expect(await verifyDiscord(payload, headers(recase(signature, m)), recase(publicHex, m), NOW_MS)).toEqual(verdict);
      }),
      { numRuns: 80 },
    );
  });

  it("property (Telegram): accepted iff the secret token matches; every JSON spelling of update_id is one nonce", async () => {
    const secret = "tg-secret-0123456789";
    const spelling = (id: number) => fc.constantFrom(`${id}`, `${id}.0`, `${id}.00`, id === 0 ? "0" : `${id}e0`, ` ${id} `);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 40 }).chain((id) => fc.tuple(fc.constant(id), spelling(id), spelling(id))),
        fc.option(fc.string({ maxLength: 24 }), { nil: undefined }),
        async ([id, a, b], token) => {
          const headers = new Headers({ "x-telegram-bot-api-secret-token": token ?? secret });
          const first = await verifyTelegram(`{"update_id":${a},"message":{}}`, headers, secret);
          expect(first.ok).toBe(token === undefined || token === secret);
          if (!first.ok) return;
          expect(first.nonce).toBe(`telegram:${id}`);
          expect(await verifyTelegram(`{"message":{},"update_id":${b}}`, headers, secret)).toEqual(first);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("property (Telegram): a non-integer or missing update_id is refused", async () => {
    const secret = "tg-secret-0123456789";
    const bad = fc.constantFrom("1.5", '"7"', "null", "-0.25", "1e300", "[1]", "{}", "true");
    await fc.assert(
      fc.asyncProperty(bad, async (value) => {
        const verdict = await verifyTelegram(`{"update_id":${value}}`, new Headers({ "x-telegram-bot-api-secret-token": secret }), secret);
        expect(verdict.ok).toBe(false);
      }),
      { numRuns: 20 },
    );
  });
});

describe("replay ledger through the Worker", () => {
  let tenantSeq = 0;
  const nowS = Math.floor(NOW_MS / 1000);

  it("property: a captured Slack delivery replayed with re-cased signature hex is refused", async () => {
    const secret = "slack-signing-secret-0123";
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 1_000_000 }), async (m, n) => {
        const h = harness();
        const env = baseEnv({ TENANT: `replay-slack-${++tenantSeq}`, SLACK_SIGNING_SECRET: secret });
        const payload = JSON.stringify({ event_id: `Ev${n}`, type: "event_callback" });
        const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
        const sig = hex(await crypto.subtle.sign("HMAC", key, encoder.encode(`v0:${nowS}:${payload}`)));
        const send = (signature: string) =>
          h.fetch(
            new Request(`${SITE}/webhooks/slack`, {
              method: "POST",
              body: payload,
              headers: { "x-slack-request-timestamp": String(nowS), "x-slack-signature": signature },
            }),
            env,
          );
        expect((await send(`v0=${sig}`)).status).toBe(200);
        const replay = await send(`v0=${recase(sig, [true, ...m])}`);
        expect(replay.status).toBe(401);
        expect((await json<{ error: string }>(replay)).error).toContain("replayed");
      }),
      { numRuns: 15 },
    );
  });

  it("property: a captured Discord delivery replayed with re-cased signature hex is refused", async () => {
    const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const publicHex = hex((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 1_000_000 }), async (m, n) => {
        const h = harness();
        const env = baseEnv({ TENANT: `replay-discord-${++tenantSeq}`, DISCORD_PUBLIC_KEY: publicHex });
        const payload = JSON.stringify({ type: 3, id: `${n}` });
        const ts = String(nowS);
        const sig = hex(await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, encoder.encode(ts + payload)));
        const send = (signature: string) =>
          h.fetch(
            new Request(`${SITE}/webhooks/discord`, {
              method: "POST",
              body: payload,
              headers: { "x-signature-ed25519": signature, "x-signature-timestamp": ts },
            }),
            env,
          );
        expect((await send(sig)).status).toBe(200);
        const replay = await send(recase(sig, [true, ...m]));
        expect(replay.status).toBe(401);
        expect((await json<{ error: string }>(replay)).error).toContain("replayed");
      }),
      { numRuns: 15 },
    );
  });
});
