/**
 * Chat-platform webhooks, verified at the edge before any sandbox wakes. Each verifier is a pure
 * function of (request body, headers, secret, clock); replay checks go through an injected ledger.
 */

export type Channel = "telegram" | "slack" | "discord" | "whatsapp";
export const CHANNELS: readonly Channel[] = ["telegram", "slack", "discord", "whatsapp"];
/**
 * What the OpenClaw engine takes from the edge: Telegram in webhook mode and Slack's Events API (the
 * pinned `@openclaw/slack` plugin in HTTP mode). Its Discord plugin keeps a gateway WebSocket and its
 * WhatsApp is WhatsApp Web, so their deliveries are refused before anything wakes (docs/openclaw.md).
 */
export const OPENCLAW_CHANNELS: readonly Channel[] = ["telegram", "slack"];

export type Verdict =
  | { ok: true; nonce: string; ttlMs: number }
  | { ok: false; reason: string };

/** Slack and Discord timestamps must be this close to the edge clock. */
export const TIMESTAMP_WINDOW_MS = 5 * 60_000;
/** Telegram retries an update for up to a day; remember its id that long. */
const TELEGRAM_REPLAY_TTL_MS = 24 * 60 * 60_000;

const encoder = new TextEncoder();

async function sha256(data: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(data));
}

/**
 * Replay-ledger key for a signed delivery: the hash of the exact bytes the signature covers. A
 * signature's text has many spellings (hex case, a malleable encoding) that all verify; the signed
 * content has one, so a re-encoded replay of a captured delivery maps to the same key.
 */
async function contentNonce(channel: Channel, signed: string): Promise<string> {
  const digest = new Uint8Array(await sha256(signed));
  return `${channel}:${[...digest].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Constant-time string equality (hashing first so lengths are not compared early). */
export async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const [ha, hb] = await Promise.all([sha256(a), sha256(b)]);
  return crypto.subtle.timingSafeEqual(ha, hb);
}

function hexToBytes(hex: string): Uint8Array<ArrayBuffer> | null {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return null;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Telegram: `X-Telegram-Bot-Api-Secret-Token` equals the secret set with setWebhook. */
export async function verifyTelegram(body: string, headers: Headers, secret: string): Promise<Verdict> {
  const token = headers.get("x-telegram-bot-api-secret-token");
  if (token === null) return { ok: false, reason: "missing X-Telegram-Bot-Api-Secret-Token" };
  if (!(await constantTimeEqual(token, secret))) return { ok: false, reason: "secret token mismatch" };
  let updateId: unknown;
  try {
    updateId = (JSON.parse(body) as { update_id?: unknown }).update_id;
  } catch {
    return { ok: false, reason: "body is not JSON" };
  }
  // update_id is the platform's own id for the delivery; parsed to a number, so every JSON spelling
  // of it (1001, 1001.0, 1.001e3) is one ledger key.
  if (typeof updateId !== "number" || !Number.isSafeInteger(updateId)) return { ok: false, reason: "update_id missing or not an integer" };
  return { ok: true, nonce: `telegram:${updateId}`, ttlMs: TELEGRAM_REPLAY_TTL_MS };
}

function timestampFresh(seconds: string | null, nowMs: number): boolean {
  if (seconds === null || !/^\d{1,12}$/.test(seconds)) return false;
  return Math.abs(nowMs - Number(seconds) * 1000) <= TIMESTAMP_WINDOW_MS;
}

/** Slack v0: HMAC-SHA256 over `v0:<timestamp>:<body>` with the signing secret, 5-minute window. */
export async function verifySlack(
  body: string,
  headers: Headers,
  signingSecret: string,
  nowMs: number,
): Promise<Verdict> {
  const timestamp = headers.get("x-slack-request-timestamp");
  const signature = headers.get("x-slack-signature");
  if (timestamp === null || signature === null) return { ok: false, reason: "missing Slack signature headers" };
  if (!timestampFresh(timestamp, nowMs)) return { ok: false, reason: "timestamp outside the 5-minute window" };
  const mac = signature.startsWith("v0=") ? hexToBytes(signature.slice(3)) : null;
  if (mac === null || mac.length !== 32) return { ok: false, reason: "malformed signature" };
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(signingSecret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  // subtle.verify compares in constant time.
  const valid = await crypto.subtle.verify("HMAC", key, mac, encoder.encode(`v0:${timestamp}:${body}`));
  if (!valid) return { ok: false, reason: "signature mismatch" };
  return { ok: true, nonce: await contentNonce("slack", `v0:${timestamp}:${body}`), ttlMs: 2 * TIMESTAMP_WINDOW_MS };
}

/** Discord interactions: Ed25519 over `<timestamp><body>` with the application's public key. */
export async function verifyDiscord(
  body: string,
  headers: Headers,
  publicKeyHex: string,
  nowMs: number,
): Promise<Verdict> {
  const signature = headers.get("x-signature-ed25519");
  const timestamp = headers.get("x-signature-timestamp");
  if (signature === null || timestamp === null) return { ok: false, reason: "missing Discord signature headers" };
  if (!timestampFresh(timestamp, nowMs)) return { ok: false, reason: "timestamp outside the 5-minute window" };
  const sig = hexToBytes(signature);
  const pub = hexToBytes(publicKeyHex);
  if (sig === null || sig.length !== 64) return { ok: false, reason: "malformed signature" };
  if (pub === null || pub.length !== 32) return { ok: false, reason: "DISCORD_PUBLIC_KEY is not 32 hex bytes" };
  const key = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
  const valid = await crypto.subtle.verify({ name: "Ed25519" }, key, sig, encoder.encode(timestamp + body));
  if (!valid) return { ok: false, reason: "signature mismatch" };
  return { ok: true, nonce: await contentNonce("discord", timestamp + body), ttlMs: 2 * TIMESTAMP_WINDOW_MS };
}

function discordType(body: string): unknown {
  try {
    return (JSON.parse(body) as { type?: unknown }).type;
  } catch {
    return undefined;
  }
}

/** Discord PING (interaction type 1) is answered at the edge: the sandbox never wakes for it. */
export function isDiscordPing(body: string): boolean {
  return discordType(body) === 1;
}

/**
 * A slash command (type 2) must be answered within 3 s; a cold sandbox takes longer, so the edge
 * answers "deferred" itself (the runtime does the same and replies through the followup webhook).
 */
export function isDiscordCommand(body: string): boolean {
  return discordType(body) === 2;
}

export const DISCORD_DEFERRED = { type: 5 } as const;

/**
 * WhatsApp Cloud API deliveries. Meta retries an undelivered webhook for up to 7 days
 * (https://developers.facebook.com/docs/whatsapp/cloud-api/guides/set-up-webhooks), so a delivery's
 * ledger key is kept that long, and a message whose signed `timestamp` is older than that is
 * refused as stale: the ledger could have forgotten it, so only age keeps it from replaying.
 */
export const WHATSAPP_REPLAY_TTL_MS = 7 * 24 * 60 * 60_000;

interface WhatsAppDelivery {
  entry?: { changes?: { value?: { messages?: { id?: unknown; timestamp?: unknown }[] } }[] }[];
}

function whatsappMessages(parsed: WhatsAppDelivery): { id?: unknown; timestamp?: unknown }[] {
  const out: { id?: unknown; timestamp?: unknown }[] = [];
  for (const entry of Array.isArray(parsed.entry) ? parsed.entry : []) {
    for (const change of Array.isArray(entry?.changes) ? entry.changes : []) {
      const messages = change?.value?.messages;
      if (Array.isArray(messages)) out.push(...messages);
    }
  }
  return out;
}

/**
 * WhatsApp: `X-Hub-Signature-256: sha256=<hex>` is the HMAC-SHA256 of the raw request body keyed
 * with the Meta app secret (Graph API webhooks, "Validate payloads":
 * https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads).
 * The body is the exact text received: Meta signs its bytes, so nothing is re-serialised first.
 *
 * Ledger key: a delivery carrying one message is keyed by its message id (`wamid.…`), so the same
 * message is accepted once however the JSON is spelled; any other delivery (statuses, batches) by
 * the hash of the signed body. The runtime dedupes each message id again (its inbox).
 */
export async function verifyWhatsApp(body: string, headers: Headers, appSecret: string, nowMs: number): Promise<Verdict> {
  const signature = headers.get("x-hub-signature-256");
  if (signature === null) return { ok: false, reason: "missing X-Hub-Signature-256" };
  const mac = signature.startsWith("sha256=") ? hexToBytes(signature.slice(7)) : null;
  if (mac === null || mac.length !== 32) return { ok: false, reason: "malformed signature (expected sha256=<64 hex>)" };
  const key = await crypto.subtle.importKey("raw", encoder.encode(appSecret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  // subtle.verify compares in constant time.
  if (!(await crypto.subtle.verify("HMAC", key, mac, encoder.encode(body)))) return { ok: false, reason: "signature mismatch" };
  let parsed: WhatsAppDelivery;
  try {
    parsed = JSON.parse(body) as WhatsAppDelivery;
  } catch {
    return { ok: false, reason: "body is not JSON" };
  }
  const messages = whatsappMessages(parsed);
  for (const message of messages) {
    const seconds = typeof message?.timestamp === "string" && /^\d{1,12}$/.test(message.timestamp) ? Number(message.timestamp) : NaN;
    if (!Number.isFinite(seconds)) return { ok: false, reason: "message timestamp missing or not unix seconds" };
    if (nowMs - seconds * 1000 > WHATSAPP_REPLAY_TTL_MS) return { ok: false, reason: "stale message (older than 7 days)" };
  }
  const only = messages.length === 1 ? messages[0]?.id : undefined;
  if (typeof only === "string" && only !== "") {
    return { ok: true, nonce: `whatsapp:${only}`, ttlMs: WHATSAPP_REPLAY_TTL_MS };
  }
  return { ok: true, nonce: await contentNonce("whatsapp", body), ttlMs: WHATSAPP_REPLAY_TTL_MS };
}

export type ChallengeVerdict = { ok: true; challenge: string } | { ok: false; reason: string };

/**
 * The subscription check Meta sends when the callback URL or verify token is saved:
 * `GET <callback>?hub.mode=subscribe&hub.challenge=<random>&hub.verify_token=<yours>`; answer 200
 * with the challenge as the body when the token matches
 * (https://developers.facebook.com/docs/graph-api/webhooks/getting-started#verification-requests).
 * The token is compared in constant time; the challenge is echoed only if it is short and plain
 * (Meta's are digits), so this route cannot be used to reflect markup.
 */
export async function whatsappChallenge(query: URLSearchParams, verifyToken: string): Promise<ChallengeVerdict> {
  if (query.get("hub.mode") !== "subscribe") return { ok: false, reason: "hub.mode is not subscribe" };
  const token = query.get("hub.verify_token");
  if (token === null) return { ok: false, reason: "missing hub.verify_token" };
  if (!(await constantTimeEqual(token, verifyToken))) return { ok: false, reason: "verify token mismatch" };
  const challenge = query.get("hub.challenge") ?? "";
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(challenge)) return { ok: false, reason: "hub.challenge missing or not plain characters" };
  return { ok: true, challenge };
}
