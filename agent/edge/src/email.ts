/**
 * The email channel's inbound side: what Email Routing hands the Worker's `email` handler
 * (https://developers.cloudflare.com/email-routing/email-workers/runtime-api/) is checked here and,
 * when it passes, becomes a small JSON event for the runtime. Pure functions of the message and
 * the configuration; the handler in email_handler.ts does the I/O.
 *
 * Who may write: the envelope sender (SMTP MAIL FROM, `message.from`) must be on EMAIL_ALLOWLIST,
 * and the message must carry Email Routing's own authentication verdicts saying DMARC passed for
 * the domain of its From header, with SPF passing for that envelope sender or DKIM passing for
 * that domain. Anyone can write an Authentication-Results field, so only the topmost one counts,
 * and only when its authserv-id is Email Routing's (`mx.cloudflare.net`): a receiver prepends its
 * own above whatever the message arrived with (RFC 8601 section 5, "header field position"). The
 * From header must name exactly the envelope sender, so a display name holding an allowlisted
 * address, or a second From field, gets nobody in. Addresses are compared lower-cased.
 * Everything else fails closed.
 */
import PostalMime, { type Email } from "postal-mime";

import type { Env } from "./env";

/** The Worker's environment with the email channel's `send_email` binding (declared by the stack). */
export type EmailEnv = Env & { EMAIL?: SendEmail };

/** Email Routing's authserv-id on the Authentication-Results field it adds. */
export const CLOUDFLARE_AUTHSERV_ID = "mx.cloudflare.net";
/** Larger mail is refused before it is read (text only is handled: no attachments). */
export const MAX_EMAIL_BYTES = 1 << 20;
/** The text the agent sees is cut here (a long thread quoted below a reply). */
export const MAX_TEXT_CHARS = 32_000;
/**
 * A Message-ID is remembered this long at the edge (the runtime dedupes it again). A message whose
 * Date is older is refused as stale: a captured message keeps its DKIM signature, so once the
 * ledger has forgotten it only its (signed) age keeps it from being replayed.
 */
export const EMAIL_REPLAY_TTL_MS = 7 * 24 * 60 * 60_000;
/** Clocks disagree: a Date this far ahead is still accepted. */
const CLOCK_SKEW_MS = 24 * 60 * 60_000;
/** At most this many References are kept (the first is the thread's root). */
const MAX_REFERENCES = 20;

const ADDRESS = /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const MESSAGE_ID = /^<[^<>\s]{1,900}>$/;

/** The canonical form of an address (`Me@Example.COM` -> `me@example.com`), or null if it is none. */
export function canonicalAddress(raw: string | undefined | null): string | null {
  if (typeof raw !== "string") return null;
  const value = raw.trim().toLowerCase();
  return ADDRESS.test(value) ? value : null;
}

export interface EmailSettings {
  address: string;
  allowlist: ReadonlySet<string>;
}

/** The email channel's settings, or null when the stack has none (the handler then refuses mail). */
export function emailSettings(address: string | undefined, allowlist: string | undefined): EmailSettings | null {
  const own = canonicalAddress(address);
  if (own === null) return null;
  const allowed = new Set<string>();
  for (const item of (allowlist ?? "").split(",")) {
    const canonical = canonicalAddress(item);
    if (canonical !== null) allowed.add(canonical);
  }
  return { address: own, allowlist: allowed };
}

interface AuthResult {
  method: string;
  result: string;
  props: Map<string, string>;
}

/** Comments `( ... )` removed (they may hold `;` or `=`), nesting and quoted pairs respected. */
function withoutComments(value: string): string {
  let depth = 0;
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === "\\" && depth > 0) {
      i++;
      continue;
    }
    if (ch === "(") depth++;
    else if (ch === ")" && depth > 0) depth--;
    else if (depth === 0) out += ch;
  }
  return out;
}

/** An Authentication-Results value: its authserv-id and each `method=result prop=value` entry. */
export function parseAuthenticationResults(value: string): { authservId: string; results: AuthResult[] } {
  const [head = "", ...entries] = withoutComments(value).split(";");
  // The authserv-id may be followed by a version number (RFC 8601 section 2.2).
  const authservId = (head.trim().split(/\s+/)[0] ?? "").toLowerCase();
  const results: AuthResult[] = [];
  for (const entry of entries) {
    const tokens = entry.trim().split(/\s+/).filter((t) => t !== "");
    const first = tokens.shift();
    const match = first?.match(/^([a-z0-9-]+)=([a-z]+)$/i);
    if (!match) continue;
    const props = new Map<string, string>();
    for (const token of tokens) {
      const eq = token.indexOf("=");
      if (eq > 0) props.set(token.slice(0, eq).toLowerCase(), token.slice(eq + 1).replace(/^"|"$/g, "").toLowerCase());
    }
    results.push({ method: (match[1] ?? "").toLowerCase(), result: (match[2] ?? "").toLowerCase(), props });
  }
  return { authservId, results };
}

export type Verdict<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Email Routing's verdicts on this message, for the envelope sender and the From domain: the
 * topmost Authentication-Results must be Email Routing's, DMARC must pass for the From domain
 * (and nothing may say it failed), and SPF for the sender or DKIM for the domain must pass.
 */
export function checkAuthentication(headers: Email["headers"], envelopeFrom: string, fromDomain: string): Verdict<null> {
  const top = headers.find((h) => h.key === "authentication-results");
  if (top === undefined) return { ok: false, reason: "no Authentication-Results from Email Routing" };
  const { authservId, results } = parseAuthenticationResults(top.value);
  if (authservId !== CLOUDFLARE_AUTHSERV_ID) {
    return { ok: false, reason: `topmost Authentication-Results is from ${JSON.stringify(authservId)}, not Email Routing` };
  }
  const dmarc = results.filter((r) => r.method === "dmarc");
  if (dmarc.length === 0 || dmarc.some((r) => r.result !== "pass")) return { ok: false, reason: "DMARC did not pass" };
  if (!dmarc.some((r) => r.props.get("header.from") === fromDomain)) {
    return { ok: false, reason: "DMARC passed for another domain than the From header's" };
  }
  const spf = results.some((r) => r.method === "spf" && r.result === "pass" && canonicalAddress(r.props.get("smtp.mailfrom")) === envelopeFrom);
  const dkim = results.some((r) => r.method === "dkim" && r.result === "pass" && r.props.get("header.d") === fromDomain);
  if (!spf && !dkim) return { ok: false, reason: "neither SPF (for the envelope sender) nor DKIM (for the From domain) passed" };
  return { ok: true, value: null };
}

/** What the runtime receives for one accepted message (agent/runtime/channels/email.py). */
export interface InboundEmail {
  message_id: string;
  from: string;
  from_name: string;
  to: string;
  subject: string;
  text: string;
  truncated: boolean;
  in_reply_to: string | null;
  references: string[];
  /** The thread's root Message-ID: the first of References, else In-Reply-To, else its own. */
  thread: string;
}

function messageIds(value: string | undefined): string[] {
  return (value ?? "").split(/[\s,]+/).filter((id) => MESSAGE_ID.test(id));
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " " };

/** HTML turned into plain text simply: blocks become line breaks, tags go, entities are decoded. */
export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, "")
    .replace(/<br\s*\/?>/gi, "\n")
    .replace(/<\/(p|div|li|tr|h[1-6]|blockquote)\s*>/gi, "\n")
    .replace(/<[^>]*>/g, "")
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
      if (name.startsWith("#")) {
        const code = name[1] === "x" || name[1] === "X" ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1));
        return Number.isInteger(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
      }
      return ENTITIES[name.toLowerCase()] ?? whole;
    })
    .replace(/[ \t]+\n/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

/** Mail sent by a machine (auto-replies, bounces, lists): never answered, so no mail loop. */
export function isAutomatic(headers: Email["headers"]): boolean {
  const value = (key: string): string => (headers.find((h) => h.key === key)?.value ?? "").trim().toLowerCase();
  const auto = value("auto-submitted");
  if (auto !== "" && auto !== "no") return true;
  return ["bulk", "junk", "list"].includes(value("precedence"));
}

/**
 * Check and parse one message. `raw` is the message as Email Routing delivered it, `envelopeFrom`
 * and `envelopeTo` the SMTP envelope. `ignore` (instead of a refusal) is for automatic mail.
 */
export async function inboundEmail(
  raw: Uint8Array,
  envelopeFrom: string,
  envelopeTo: string,
  settings: EmailSettings,
  nowMs: number,
): Promise<Verdict<InboundEmail> | { ok: false; ignore: true; reason: string }> {
  const sender = canonicalAddress(envelopeFrom);
  if (sender === null || !settings.allowlist.has(sender)) return { ok: false, reason: "sender is not on the allowlist" };
  if (canonicalAddress(envelopeTo) !== settings.address) return { ok: false, reason: "not addressed to the agent" };
  let email: Email;
  try {
    email = await PostalMime.parse(raw, { maxNestingDepth: 20, maxHeadersSize: 256 * 1024, attachmentEncoding: "arraybuffer" });
  } catch {
    return { ok: false, reason: "message is not valid MIME" };
  }
  const fromHeaders = email.headers.filter((h) => h.key === "from");
  const from = email.from;
  if (fromHeaders.length !== 1 || from === undefined || from.group !== undefined) {
    return { ok: false, reason: "the From header must name exactly one address" };
  }
  if (canonicalAddress(from.address) !== sender) return { ok: false, reason: "the From header does not match the envelope sender" };
  const auth = checkAuthentication(email.headers, sender, sender.slice(sender.indexOf("@") + 1));
  if (!auth.ok) return auth;
  if (isAutomatic(email.headers)) return { ok: false, ignore: true, reason: "automatic mail (Auto-Submitted or Precedence)" };
  const sent = Date.parse(email.date ?? "");
  if (!Number.isFinite(sent)) return { ok: false, reason: "missing or malformed Date" };
  if (nowMs - sent > EMAIL_REPLAY_TTL_MS || sent - nowMs > CLOCK_SKEW_MS) {
    return { ok: false, reason: "stale message (Date more than 7 days old, or in the future)" };
  }
  const messageId = (email.messageId ?? "").trim();
  if (!MESSAGE_ID.test(messageId)) return { ok: false, reason: "missing or malformed Message-ID" };
  const references = messageIds(email.references).slice(-MAX_REFERENCES);
  const inReplyTo = messageIds(email.inReplyTo)[0] ?? null;
  const thread = messageIds(email.references)[0] ?? inReplyTo ?? messageId;
  const full = (email.text ?? "").trim() !== "" ? (email.text ?? "").trim() : htmlToText(email.html ?? "");
  const truncated = full.length > MAX_TEXT_CHARS;
  return {
    ok: true,
    value: {
      message_id: messageId,
      from: sender,
      from_name: (from.name ?? "").slice(0, 200),
      to: settings.address,
      subject: (email.subject ?? "").replace(/[\r\n]+/g, " ").trim().slice(0, 500),
      text: truncated ? full.slice(0, MAX_TEXT_CHARS) : full,
      truncated,
      in_reply_to: inReplyTo,
      references,
      thread,
    },
  };
}
