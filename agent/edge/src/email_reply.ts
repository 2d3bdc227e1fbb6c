/**
 * The email channel's outbound side: the runtime's durable outbox posts each reply here
 * (`POST /webhooks/email`), and the Worker sends it with its `send_email` binding.
 *
 * Why not `message.reply()`: it exists only while the `email` handler runs
 * (https://developers.cloudflare.com/email-routing/email-workers/reply-email-workers/), and a turn
 * may outlast it (a cold start, a slow model); a reply that only lives in a handler is lost with
 * it. Replies go through the runtime's outbox instead, stored before they are sent and retried,
 * like every other channel's; the outbox calls this endpoint, which sends with the `send_email`
 * binding (https://developers.cloudflare.com/email-routing/email-workers/send-email-workers/).
 * Under Email Routing that binding sends only to verified destination addresses, and the stack
 * restricts it to the agent's address as sender and the allowlist as recipients.
 *
 * The endpoint sits under /webhooks/ (Access lets those through; the Worker checks them itself)
 * and takes a credential derived from the edge token the runtime already holds, for this one
 * purpose; the recipient must be on EMAIL_ALLOWLIST.
 */
import { EmailMessage } from "cloudflare:email";
import { canonicalAddress, type EmailSettings } from "./email";
import { jsonError } from "./errors";
import { constantTimeEqual } from "./webhooks";

export const RELAY_HEADER = "x-agent-email-relay";
const RELAY_LABEL = "edgeagent email relay v1";
const MESSAGE_ID = /^<[^<>\s]{1,900}>$/;
/** A reply with a file the agent sent back (base64 inside JSON) must fit in this. */
export const MAX_RELAY_BYTES = 5 << 20;
const CONTENT_TYPE = /^[a-z]+\/[a-z0-9.+-]{1,100}$/;
const MAX_REFERENCES = 20;

/** The relay credential: lowercase hex HMAC-SHA256 keyed with the edge token over a fixed label. */
export async function relayCredential(edgeToken: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(edgeToken), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(RELAY_LABEL));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export interface ReplyFile {
  name: string;
  type: string;
  /** The file's bytes, base64. */
  content: string;
}

export interface Reply {
  to: string;
  subject: string;
  text: string;
  in_reply_to: string | null;
  references: string[];
  /** A file the agent sent back (send_file), attached to this mail. */
  attachment: ReplyFile | null;
}

/** A reply as the runtime posts it, checked field by field; a string names what is wrong. */
export function parseReply(body: unknown): Reply | string {
  if (typeof body !== "object" || body === null) return "body must be a JSON object";
  const b = body as Record<string, unknown>;
  if (typeof b.to !== "string") return "to must be an address";
  if (typeof b.subject !== "string" || b.subject.length > 1000) return "subject must be a string (at most 1000 characters)";
  if (typeof b.text !== "string" || b.text.trim() === "") return "text must be a non-empty string";
  const inReplyTo = b.in_reply_to ?? null;
  if (inReplyTo !== null && (typeof inReplyTo !== "string" || !MESSAGE_ID.test(inReplyTo))) return "in_reply_to must be a <message-id>";
  const references = b.references ?? [];
  if (!Array.isArray(references) || references.length > MAX_REFERENCES || !references.every((r) => typeof r === "string" && MESSAGE_ID.test(r))) {
    return `references must be a list of at most ${MAX_REFERENCES} <message-id>s`;
  }
  const attachment = b.attachment ?? null;
  if (attachment !== null) {
    const a = attachment as Record<string, unknown>;
    if (typeof a !== "object" || typeof a.name !== "string" || a.name.trim() === "" || a.name.length > 255) return "attachment.name must be a file name";
    if (typeof a.type !== "string" || !CONTENT_TYPE.test(a.type)) return "attachment.type must be a content type such as image/png";
    if (typeof a.content !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(a.content)) return "attachment.content must be base64";
    return { to: b.to, subject: b.subject, text: b.text, in_reply_to: inReplyTo, references: references as string[], attachment: { name: a.name, type: a.type, content: a.content } };
  }
  return { to: b.to, subject: b.subject, text: b.text, in_reply_to: inReplyTo, references: references as string[], attachment: null };
}

function encodeBase64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** A header value as RFC 2047 needs it: ASCII as is, anything else as a UTF-8 encoded-word. */
function headerText(value: string): string {
  const clean = value.replace(/[\r\n]+/g, " ").trim();
  // Printable ASCII only goes out verbatim.
  return /^[\x20-\x7e]*$/.test(clean) ? clean : `=?UTF-8?B?${encodeBase64(clean)}?=`;
}

/** A file name as a MIME parameter: RFC 2231 UTF-8 percent-encoding, so no quoting can break. */
function fileNameParameter(name: string): string {
  const clean = name.replace(/[\r\n\\/]+/g, "_").trim();
  return `filename*=UTF-8''${encodeURIComponent(clean).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
}

/**
 * The reply as raw MIME, threaded by In-Reply-To and References: one UTF-8 text part, or, with a
 * file, multipart/mixed holding the text and the file.
 */
export function composeReply(from: string, reply: Reply, messageId: string, date: Date, boundary = `edgeagent-${crypto.randomUUID()}`): string {
  const lines = [
    `From: ${from}`,
    `To: ${reply.to}`,
    `Subject: ${headerText(reply.subject)}`,
    `Date: ${date.toUTCString()}`,
    `Message-ID: ${messageId}`,
  ];
  if (reply.in_reply_to !== null) lines.push(`In-Reply-To: ${reply.in_reply_to}`);
  if (reply.references.length > 0) lines.push(`References: ${reply.references.join(" ")}`);
  const text = ['Content-Type: text/plain; charset="utf-8"', "Content-Transfer-Encoding: base64", "", encodeBase64(reply.text).replace(/.{1,76}/g, "$&\r\n")];
  lines.push("MIME-Version: 1.0");
  const file = reply.attachment;
  if (file === null) return [...lines, ...text].join("\r\n");
  return [
    ...lines,
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    "",
    `--${boundary}`,
    ...text,
    `--${boundary}`,
    `Content-Type: ${file.type}`,
    "Content-Transfer-Encoding: base64",
    `Content-Disposition: attachment; ${fileNameParameter(file.name)}`,
    "",
    file.content.replace(/.{1,76}/g, "$&\r\n"),
    `--${boundary}--`,
    "",
  ].join("\r\n");
}

/** Send one reply from the runtime's outbox; 202 once the binding accepted it. */
export async function relayReply(
  request: Request,
  edgeToken: string,
  settings: EmailSettings | null,
  binding: SendEmail | undefined,
  nowMs: number,
  newId: () => string,
): Promise<Response> {
  if (settings === null || binding === undefined) {
    return jsonError(404, "the email channel is not configured", "set edgeagent:emailAddress and edgeagent:emailAllowlist");
  }
  if (request.method !== "POST") return jsonError(405, "the email relay accepts POST only", "POST /webhooks/email");
  const credential = request.headers.get(RELAY_HEADER) ?? "";
  if (!(await constantTimeEqual(credential, await relayCredential(edgeToken)))) {
    return jsonError(401, "invalid email relay credential", "only the agent's runtime sends replies");
  }
  const declared = Number(request.headers.get("content-length") ?? "0");
  const text = declared > MAX_RELAY_BYTES ? "" : await request.text();
  if (declared > MAX_RELAY_BYTES || new TextEncoder().encode(text).length > MAX_RELAY_BYTES) {
    return jsonError(413, "reply larger than 5 MiB", "send smaller files");
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return jsonError(400, "body is not JSON", '{"to": "me@example.com", "subject": "Re: hi", "text": "..."}');
  }
  const reply = parseReply(body);
  if (typeof reply === "string") return jsonError(422, `invalid reply: ${reply}`, '{"to": "me@example.com", "subject": "Re: hi", "text": "...", "in_reply_to": "<id@example.com>", "references": []}');
  const to = canonicalAddress(reply.to);
  if (to === null || !settings.allowlist.has(to)) {
    return jsonError(403, "recipient is not on the email allowlist", "replies go only to edgeagent:emailAllowlist");
  }
  const domain = settings.address.slice(settings.address.indexOf("@") + 1);
  const messageId = `<${newId()}@${domain}>`;
  const raw = composeReply(settings.address, { ...reply, to }, messageId, new Date(nowMs));
  try {
    await binding.send(new EmailMessage(settings.address, to, raw));
  } catch (err) {
    // The binding's reason (unverified destination, rate limit) helps; it holds no secret.
    const reason = err instanceof Error ? err.message : String(err);
    return jsonError(502, `send_email refused the reply: ${reason}`, "check that the recipient is a verified destination address in Email Routing");
  }
  return Response.json({ sent: messageId }, { status: 202 });
}
