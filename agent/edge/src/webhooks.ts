/**
 * Chat-platform webhooks, verified at the edge before any sandbox wakes. Each verifier is a pure
 * function of (request body, headers, secret, clock); replay checks go through an injected ledger.
 */

export type Channel = "telegram" | "slack" | "discord";
export const CHANNELS: readonly Channel[] = ["telegram", "slack", "discord"];

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
