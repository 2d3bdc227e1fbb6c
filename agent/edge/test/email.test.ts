import PostalMime from "postal-mime";
import { describe, expect, it } from "vitest";
import { canonicalAddress, htmlToText, MAX_TEXT_CHARS, parseAuthenticationResults, type EmailEnv } from "../src/email";
import { handleEmail } from "../src/email_handler";
import { composeReply, RELAY_HEADER, relayCredential } from "../src/email_reply";
import { baseEnv, EDGE_TOKEN, FakeSandbox, harness, json } from "./support";

const AGENT = "agent@example.com";
const OWNER = "me@example.org";
/** Email Routing's verdicts for a message from OWNER, as it stamps them on top of the message. */
const PASSED =
  "mx.cloudflare.net;\r\n\tdkim=pass header.d=example.org header.s=s1 header.b=abc;\r\n\tdmarc=pass header.from=example.org policy.dmarc=none;\r\n" +
  "\tspf=none (mx.cloudflare.net: no SPF records found for postmaster@mail.example.org) smtp.helo=mail.example.org;\r\n" +
  `\tspf=pass (mx.cloudflare.net: domain of ${OWNER} designates 192.0.2.1 as permitted sender) smtp.mailfrom=${OWNER}`;

interface MailOptions {
  auth?: string[];
  from?: string | string[];
  messageId?: string;
  subject?: string;
  body?: string;
  extra?: string[];
  html?: boolean;
  date?: string;
}

function mime(o: MailOptions = {}): string {
  const auth = (o.auth ?? [PASSED]).map((value) => `Authentication-Results: ${value}`);
  const from = Array.isArray(o.from) ? o.from : [o.from ?? `Me <${OWNER}>`];
  return [
    ...auth,
    ...from.map((f) => `From: ${f}`),
    `To: Agent <${AGENT}>`,
    `Subject: ${o.subject ?? "Plans for Friday"}`,
    `Message-ID: ${o.messageId ?? "<m1@example.org>"}`,
    `Date: ${o.date ?? "Thu, 26 Nov 2026 11:00:00 +0000"}`,
    ...(o.extra ?? []),
    "MIME-Version: 1.0",
    `Content-Type: ${o.html ? "text/html" : "text/plain"}; charset=utf-8`,
    "",
    o.body ?? "Can you draft the agenda?",
    "",
  ].join("\r\n");
}

class FakeMessage {
  rejected: string | null = null;
  readonly raw: ReadableStream<Uint8Array>;
  readonly rawSize: number;
  readonly headers = new Headers();
  constructor(
    readonly text: string,
    readonly from = OWNER,
    readonly to = AGENT,
    rawSize?: number,
  ) {
    const bytes = new TextEncoder().encode(text);
    this.rawSize = rawSize ?? bytes.byteLength;
    this.raw = new Blob([bytes]).stream();
  }
  setReject(reason: string): void {
    this.rejected = reason;
  }
  forward(): Promise<EmailSendResult> {
    throw new Error("not used");
  }
  reply(): Promise<EmailSendResult> {
    throw new Error("not used");
  }
}

let tenantSeq = 0;
function mailEnv(extra: Partial<EmailEnv> = {}): EmailEnv {
  return { ...baseEnv({ TENANT: `mail-${++tenantSeq}` }), EMAIL_ADDRESS: AGENT, EMAIL_ALLOWLIST: `${OWNER},you@example.net`, ...extra };
}

const eventOf = async (request: Request | undefined): Promise<Record<string, unknown>> => (await request?.json()) as Record<string, unknown>;

async function receive(message: FakeMessage, env = mailEnv(), h = harness()) {
  const outcome = await handleEmail(message as unknown as ForwardableEmailMessage, env, h.deps);
  const sandbox = h.sandboxes.get(env.TENANT ?? "");
  return { outcome, received: sandbox?.received ?? [], h, env };
}

describe("email handler: who may write", () => {
  it("forwards an allowlisted, authenticated message as the email channel", async () => {
    const { outcome, received } = await receive(new FakeMessage(mime({ extra: ["References: <root@example.org> <m0@example.org>", "In-Reply-To: <m0@example.org>"] })));
    expect(outcome).toBe("forwarded");
    expect(received).toHaveLength(1);
    const request = received[0] as Request;
    expect(new URL(request.url).pathname).toBe("/webhooks/email");
    expect(request.headers.get("x-agent-channel")).toBe("email");
    expect(request.headers.get("x-agent-user")).toBe("channel:email");
    const event = await eventOf(request);
    expect(event).toEqual({
      message_id: "<m1@example.org>",
      from: OWNER,
      from_name: "Me",
      to: AGENT,
      subject: "Plans for Friday",
      text: "Can you draft the agenda?",
      truncated: false,
      in_reply_to: "<m0@example.org>",
      references: ["<root@example.org>", "<m0@example.org>"],
      thread: "<root@example.org>",
    });
  });

  it("compares addresses lower-cased (envelope, From header, allowlist)", async () => {
    const env = mailEnv({ EMAIL_ALLOWLIST: "ME@Example.ORG" });
    const { outcome } = await receive(new FakeMessage(mime({ from: "Me <Me@EXAMPLE.org>" }), "mE@example.ORG", "Agent@Example.com"), env);
    expect(outcome).toBe("forwarded");
  });

  it.each([
    ["an unknown envelope sender", new FakeMessage(mime({ from: "x@evil.test" }), "x@evil.test"), "sender is not on the allowlist"],
    ["a display name holding an allowlisted address", new FakeMessage(mime({ from: `"${OWNER}" <attacker@evil.test>` })), "the From header does not match the envelope sender"],
    ["a From header that is not the envelope sender", new FakeMessage(mime({ from: "You <you@example.net>" })), "the From header does not match the envelope sender"],
    ["two From headers", new FakeMessage(mime({ from: [`Me <${OWNER}>`, "Eve <eve@evil.test>"] })), "the From header must name exactly one address"],
    ["mail to another address", new FakeMessage(mime(), OWNER, "other@example.com"), "not addressed to the agent"],
  ])("refuses %s", async (_what, message, reason) => {
    const { outcome, received } = await receive(message);
    expect(outcome).toBe("rejected");
    expect(message.rejected).toBe(`not accepted: ${reason}`);
    expect(received).toHaveLength(0);
  });

  const dmarcFailed = PASSED.replace("dmarc=pass", "dmarc=fail");
  const nothingAligned = PASSED.replace("dkim=pass", "dkim=fail").replace(/spf=pass/, "spf=softfail");
  const otherDomain = PASSED.replace("header.from=example.org", "header.from=evil.test");
  it.each([
    ["failed DMARC", [dmarcFailed], "DMARC did not pass"],
    ["failed DKIM and SPF", [nothingAligned], "neither SPF (for the envelope sender) nor DKIM (for the From domain) passed"],
    ["DMARC passing for another domain", [otherDomain], "DMARC passed for another domain than the From header's"],
    ["no verdicts at all", [], "no Authentication-Results from Email Routing"],
    // A sender's own "pass" above nothing, or below Email Routing's "fail", gets nowhere.
    ["verdicts forged by another authserv-id", ["forged.example; dmarc=pass header.from=example.org; spf=pass smtp.mailfrom=me@example.org"], 'topmost Authentication-Results is from "forged.example", not Email Routing'],
    ["a forged pass below Email Routing's fail", [dmarcFailed, PASSED], "DMARC did not pass"],
  ])("refuses %s", async (_what, auth, reason) => {
    const message = new FakeMessage(mime({ auth }));
    const { outcome, received } = await receive(message);
    expect(outcome).toBe("rejected");
    expect(message.rejected).toBe(`not accepted: ${reason}`);
    expect(received).toHaveLength(0);
  });

  it.each([
    ["a replayed message older than the ledger remembers", "Tue, 10 Nov 2026 10:00:00 +0000", "stale message (Date more than 7 days old, or in the future)"],
    ["a message dated in the future", "Mon, 30 Nov 2026 10:00:00 +0000", "stale message (Date more than 7 days old, or in the future)"],
    ["a message without a usable Date", "yesterday", "missing or malformed Date"],
  ])("refuses %s", async (_what, date, reason) => {
    const message = new FakeMessage(mime({ date }));
    const { outcome, received } = await receive(message);
    expect(outcome).toBe("rejected");
    expect(message.rejected).toBe(`not accepted: ${reason}`);
    expect(received).toHaveLength(0);
  });

  it("refuses oversize mail before reading it, and a stream longer than it claimed", async () => {
    const claimed = new FakeMessage(mime(), OWNER, AGENT, (1 << 20) + 1);
    expect((await receive(claimed)).outcome).toBe("rejected");
    expect(claimed.rejected).toBe("message larger than 1 MiB (text only is read)");
    const lying = new FakeMessage(mime({ body: "x".repeat((1 << 20) + 10) }), OWNER, AGENT, 100);
    expect((await receive(lying)).outcome).toBe("rejected");
    expect(lying.rejected).toBe("message larger than 1 MiB (text only is read)");
  });

  it("refuses all mail when the stack has no email address", async () => {
    const message = new FakeMessage(mime());
    const { outcome } = await receive(message, mailEnv({ EMAIL_ADDRESS: undefined }));
    expect(outcome).toBe("rejected");
    expect(message.rejected).toBe("this address does not take mail");
  });

  it("drops automatic mail without a bounce", async () => {
    const message = new FakeMessage(mime({ extra: ["Auto-Submitted: auto-replied"] }));
    const { outcome, received } = await receive(message);
    expect(outcome).toBe("ignored");
    expect(message.rejected).toBeNull();
    expect(received).toHaveLength(0);
  });
});

describe("email handler: delivery", () => {
  it("accepts a Message-ID once, and again after a failed delivery", async () => {
    const env = mailEnv();
    const h = harness();
    expect((await receive(new FakeMessage(mime()), env, h)).outcome).toBe("forwarded");
    expect((await receive(new FakeMessage(mime()), env, h)).outcome).toBe("replayed");
    expect((await receive(new FakeMessage(mime({ messageId: "<m2@example.org>" })), env, h)).outcome).toBe("forwarded");
    // The runtime failing: the message is not lost silently, and a retry is let in.
    const failing = harness({ sandbox: () => new FakeSandbox("ready", () => new Response("boom", { status: 503 })) });
    const env2 = mailEnv();
    await expect(receive(new FakeMessage(mime()), env2, failing)).rejects.toThrow("the agent could not take the message (HTTP 503)");
    expect((await receive(new FakeMessage(mime()), env2, harness())).outcome).toBe("forwarded");
  });

  it("wakes a sleeping sandbox and waits for it", async () => {
    const h = harness({ sandbox: () => new FakeSandbox("sleeping", async (r) => Response.json({ ok: true, got: await r.text() }, { status: 202 }), ["starting", "ready"]) });
    const { outcome } = await receive(new FakeMessage(mime()), mailEnv(), h);
    expect(outcome).toBe("forwarded");
    expect([...h.sandboxes.values()][0]?.wakes).toBe(1);
  });

  it("turns HTML into text and cuts very long text", async () => {
    const html = "<html><head><style>p{}</style></head><body><p>Hello&nbsp;<b>there</b></p><p>A &amp; B<br>C &#233;</p></body></html>";
    const { received } = await receive(new FakeMessage(mime({ html: true, body: html })));
    expect((await eventOf(received[0])).text).toBe("Hello there\nA & B\nC é");
    const long = await receive(new FakeMessage(mime({ body: "y".repeat(MAX_TEXT_CHARS + 50) })));
    const event = await eventOf(long.received[0]);
    expect(event.truncated).toBe(true);
    expect((event.text as string).length).toBe(MAX_TEXT_CHARS);
  });
});

describe("email parsing helpers", () => {
  it("canonical addresses", () => {
    expect(canonicalAddress("  Me@Example.ORG ")).toBe("me@example.org");
    expect(canonicalAddress("Me <me@example.org>")).toBeNull();
    expect(canonicalAddress("me@example")).toBeNull();
  });

  it("Authentication-Results ignores comments holding separators", () => {
    const parsed = parseAuthenticationResults("mx.cloudflare.net 1; spf=pass (a; b=c) smtp.mailfrom=Me@Example.org; dmarc=pass header.from=example.org");
    expect(parsed.authservId).toBe("mx.cloudflare.net");
    expect(parsed.results.map((r) => [r.method, r.result, Object.fromEntries(r.props)])).toEqual([
      ["spf", "pass", { "smtp.mailfrom": "me@example.org" }],
      ["dmarc", "pass", { "header.from": "example.org" }],
    ]);
  });

  it("htmlToText keeps text only", () => {
    expect(htmlToText("<script>alert(1)</script><div>a</div><div>b</div>")).toBe("a\nb");
  });
});

describe("email reply relay (POST /webhooks/email)", () => {
  const reply = { to: "Me@Example.org", subject: "Re: Plans for Friday", text: "Here is the agenda.", in_reply_to: "<m1@example.org>", references: ["<root@example.org>", "<m1@example.org>"] };
  const post = async (body: unknown, credential?: string): Promise<Request> =>
    new Request("https://agent.example.com/webhooks/email", {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "content-type": "application/json", [RELAY_HEADER]: credential ?? (await relayCredential(EDGE_TOKEN)) },
    });

  function binding(fail?: string): { sent: EmailMessage[]; binding: SendEmail } {
    const sent: EmailMessage[] = [];
    return {
      sent,
      binding: {
        send: async (m: EmailMessage | EmailMessageBuilder) => {
          if (fail !== undefined) throw new Error(fail);
          sent.push(m as EmailMessage);
          return { messageId: "x" } as EmailSendResult;
        },
      } as SendEmail,
    };
  }

  it("sends an allowlisted reply from the agent's address", async () => {
    const h = harness();
    const mail = binding();
    const res = await h.fetch(await post(reply), mailEnv({ EMAIL: mail.binding }));
    expect(res.status).toBe(202);
    expect((await json(res)).sent).toMatch(/^<req-\d+@example\.com>$/);
    expect(mail.sent.map((m) => [m.from, m.to])).toEqual([[AGENT, OWNER]]);
    expect(h.sandboxes.size).toBe(0); // nothing woke
  });

  it.each([
    ["a wrong credential", async () => post(reply, "0".repeat(64)), 401],
    ["no credential", async () => post(reply, ""), 401],
    ["a recipient off the allowlist", async () => post({ ...reply, to: "eve@evil.test" }), 403],
    ["a header injected through the thread ids", async () => post({ ...reply, in_reply_to: "<a@b>\r\nBcc: eve@evil.test" }), 422],
    ["an empty text", async () => post({ ...reply, text: " " }), 422],
  ])("refuses %s", async (_what, request, status) => {
    const mail = binding();
    const res = await harness().fetch(await request(), mailEnv({ EMAIL: mail.binding }));
    expect(res.status).toBe(status);
    expect(mail.sent).toHaveLength(0);
  });

  it("is not there without the channel, and reports the binding's refusal as retryable", async () => {
    expect((await harness().fetch(await post(reply), mailEnv())).status).toBe(404);
    const res = await harness().fetch(await post(reply), mailEnv({ EMAIL: binding("destination address not verified").binding }));
    expect(res.status).toBe(502);
    expect((await json(res)).error).toBe("send_email refused the reply: destination address not verified");
  });

  it("composes a threaded reply that mail clients read back", async () => {
    const raw = composeReply(AGENT, { ...reply, to: OWNER, subject: "Re: Café plans", text: "Voilà\nline two", attachment: null }, "<r1@example.com>", new Date(Date.UTC(2026, 10, 26)));
    const parsed = await PostalMime.parse(raw);
    expect(parsed.subject).toBe("Re: Café plans");
    expect(parsed.inReplyTo).toBe("<m1@example.org>");
    expect(parsed.references).toBe("<root@example.org> <m1@example.org>");
    expect(parsed.messageId).toBe("<r1@example.com>");
    expect(parsed.text?.trim()).toBe("Voilà\nline two");
    expect(parsed.from).toEqual({ name: "", address: AGENT });
    expect(parsed.attachments).toEqual([]);
  });

  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 255]);
  const pngBase64 = btoa(String.fromCharCode(...png));

  it("attaches a file the agent sent back, its name safe whatever it holds", async () => {
    const file = { name: 'chart "Q4"\r\nBcc: eve@evil.test é.png', type: "image/png", content: pngBase64 };
    const raw = composeReply(AGENT, { ...reply, to: OWNER, attachment: file }, "<r2@example.com>", new Date(Date.UTC(2026, 10, 26)));
    const parsed = await PostalMime.parse(raw);
    expect(parsed.text?.trim()).toBe("Here is the agenda.");
    expect(parsed.inReplyTo).toBe("<m1@example.org>");
    expect(parsed.bcc).toBeUndefined();
    expect(parsed.attachments).toHaveLength(1);
    const attached = parsed.attachments[0];
    expect(attached?.filename).toBe('chart "Q4"_Bcc: eve@evil.test é.png');
    expect(attached?.mimeType).toBe("image/png");
    expect(new Uint8Array(attached?.content as ArrayBuffer)).toEqual(png);
  });

  it("relays a reply with a file and refuses a bad one", async () => {
    const mail = binding();
    const ok = await harness().fetch(await post({ ...reply, attachment: { name: "a.png", type: "image/png", content: pngBase64 } }), mailEnv({ EMAIL: mail.binding }));
    expect(ok.status).toBe(202);
    expect(mail.sent).toHaveLength(1);
    const badType = await harness().fetch(await post({ ...reply, attachment: { name: "a.png", type: "image/png\r\nX: y", content: pngBase64 } }), mailEnv({ EMAIL: mail.binding }));
    expect(badType.status).toBe(422);
    expect((await json(badType)).error).toBe("invalid reply: attachment.type must be a content type such as image/png");
  });
});
