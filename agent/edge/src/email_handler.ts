/**
 * The Worker's `email` handler: a message Email Routing delivered to the agent's address is
 * checked (email.ts), claimed once by its Message-ID in the tenant's replay ledger, and forwarded
 * to the runtime like a verified webhook (`POST /webhooks/email` with X-Agent-Channel: email),
 * waking the sandbox when it sleeps.
 *
 * Refusals use `message.setReject(reason)`, a permanent SMTP error the sender sees
 * (https://developers.cloudflare.com/email-routing/email-workers/runtime-api/): unknown senders,
 * failed authentication, oversize, malformed mail. Automatic mail (auto-replies, bounces, lists)
 * is dropped without a bounce, so two robots cannot loop. A replayed Message-ID is dropped too:
 * it was accepted once. When the runtime cannot take the message (cold-start timeout, error), the
 * Message-ID is released and the handler throws, so the delivery fails rather than vanishing.
 */
import { deliver, type Deps } from "./app";
import { emailSettings, EMAIL_REPLAY_TTL_MS, inboundEmail, MAX_EMAIL_BYTES, type EmailEnv } from "./email";
import { loadConfig, type Env } from "./env";
import { internalCredential, upstreamRequest, type AgentHeaders } from "./headers";


/** Read at most `limit` bytes of the stream; null when there is more. */
async function readCapped(stream: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array | null> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

export type EmailOutcome = "forwarded" | "rejected" | "ignored" | "replayed";

export async function handleEmail(message: ForwardableEmailMessage, env: EmailEnv, deps: Deps): Promise<EmailOutcome> {
  const config = loadConfig(env);
  const settings = emailSettings(env.EMAIL_ADDRESS, env.EMAIL_ALLOWLIST);
  const reject = (reason: string): EmailOutcome => {
    message.setReject(reason);
    return "rejected";
  };
  if (settings === null) return reject("this address does not take mail");
  if (message.rawSize > MAX_EMAIL_BYTES) return reject("message larger than 1 MiB (text only is read)");
  const raw = await readCapped(message.raw, MAX_EMAIL_BYTES);
  if (raw === null) return reject("message larger than 1 MiB (text only is read)");
  const nowMs = deps.now();
  const verdict = await inboundEmail(raw, message.from, message.to, settings, nowMs);
  if (!verdict.ok) {
    if ("ignore" in verdict) {
      console.log(`email: dropped: ${verdict.reason}`);
      return "ignored";
    }
    // The reason names no secret; the sender of a refused message learns only why.
    return reject(`not accepted: ${verdict.reason}`);
  }
  const email = verdict.value;
  const nonce = `email:${email.message_id}`;
  const directory = deps.directory(config, env);
  if (!(await directory.claimNonce(nonce, nowMs, EMAIL_REPLAY_TTL_MS))) {
    console.log("email: dropped: Message-ID already accepted");
    return "replayed";
  }
  const body = JSON.stringify(email);
  const agent: AgentHeaders = {
    user: "channel:email",
    tenant: config.tenant,
    requestId: deps.requestId(),
    edgeToken: config.edgeToken,
    channel: "email",
    internal: await internalCredential(config.edgeToken),
  };
  // Chat channels belong to the tenant: its sandbox in both isolations, like the webhooks.
  const link = deps.link(config, env, config.tenant);
  const build = (): Request =>
    upstreamRequest(
      new Request("https://email.internal/webhooks/email", { method: "POST", headers: { "content-type": "application/json" } }),
      agent,
      body,
    );
  let response: Response | undefined;
  try {
    response = await deliver(link, build, "api", config.tenant, config, env, deps);
  } finally {
    if (response === undefined || response.status >= 500) await directory.releaseNonce(nonce);
  }
  const status = response.status;
  await response.body?.cancel();
  if (status >= 500) throw new Error(`email: the agent could not take the message (HTTP ${status})`);
  if (status >= 400) return reject(`not accepted by the agent (HTTP ${status})`);
  return "forwarded";
}
