/**
 * Path canonicalisation and the internal credential: examples of each attack form, then
 * fast-check properties over generated paths. Run counts are bounded so the suite stays fast.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { remoteKeys } from "../src/access";
import { loadConfig } from "../src/env";
import { originLink } from "../src/link";
import { INTERNAL_HEADER, internalCredential } from "../src/headers";
import { checkPath, firstSegment, sameOriginUrl } from "../src/paths";
import { baseEnv, EDGE_TOKEN, echoOrigin, FakeSandbox, harness, json, jwksServer, rsaKey, sign, userClaims, type KeyPair } from "./support";

const SITE = "https://agent.example.com";
/** HMAC-SHA256(key "edge-secret-for-tests", "edgeagent internal v1"); the runtime's tests pin the same. */
const INTERNAL_FOR_TEST_TOKEN = "29d8b5ac00726e4713f217a97c137f6cafaca1dd68a1b5a889104f081e1af0d3";

let key: KeyPair;
let keys: ReturnType<typeof remoteKeys>;
beforeAll(async () => {
  key = await rsaKey("k1");
  keys = remoteKeys(jwksServer([key.publicJwk]).fetch);
});

async function authed(path: string, init: RequestInit = {}): Promise<Request> {
  const headers = new Headers(init.headers);
  headers.set("cf-access-jwt-assertion", await sign(key, userClaims("alice@example.com")));
  return new Request(`${SITE}${path}`, { ...init, headers });
}

/** What the runtime routes on: the path percent-decoded once (Starlette's `scope["path"]`). */
function decodedOnce(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
}

/** Does this path mean /internal/* or /webhooks/* to a lenient parser (decode, fold case, resolve)? */
function meansReserved(path: string): boolean {
  let p = path;
  for (let i = 0; i < 3; i++) p = decodedOnce(p);
  p = p.replace(/\\/g, "/").toLowerCase();
  const stack: string[] = [];
  for (const segment of p.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") stack.pop();
    else stack.push(segment);
  }
  return stack[0] === "internal" || stack[0] === "webhooks";
}

describe("checkPath", () => {
  it.each([
    ["/", true],
    ["/api/sessions", true],
    ["/ui/", true],
    ["/api/memory/notes%20today.md", true],
    ["/api/memory/%C3%A9t%C3%A9.md", true],
    ["/internal%2Fcron", false],
    ["/internal%2fcron", false],
    ["/internal%5Ccron", false],
    ["/internal%5ccron", false],
    ["/api/%2e%2e/internal/cron", false],
    ["/api/%252Fx", false],
    ["/api/%zz", false],
    ["/api/%", false],
    ["/api/%00", false],
    ["//internal/cron", false],
    ["//evil.example/x", false],
    ["/api//x", false],
    ["/api/./x", false],
    ["/api/../internal/cron", false],
    ["/..", false],
    ["/api\\x", false],
    ["api/x", false],
  ])("%s canonical: %s", (path, ok) => {
    expect(checkPath(path).ok).toBe(ok);
  });

  const segmentChars = fc.constantFrom(
    ...["a", "Z", "0", ".", "-", "_", "~", "%", "2", "f", "F", "5", "c", "C", "e", "/", "\\", ":", "@", " "],
    ...["internal", "WebHooks", "%69", "%49", "%2F", "%2e", "%5c", "%25", "%C3%A9", "%ff"],
  );
  const rawPath = fc.array(fc.string({ unit: segmentChars, maxLength: 8 }), { maxLength: 6 }).map((segs) => `/${segs.join("/")}`);

  it("property: a canonical path decodes once to the same segments, without dot segments or further escapes", () => {
    fc.assert(
      fc.property(rawPath, (raw) => {
        // The Worker sees paths after the URL parser, as workerd hands them over.
        const path = new URL(`${SITE}${raw}`).pathname;
        if (!checkPath(path).ok) return;
        const segments = path.split("/");
        const decodedSegments = decodedOnce(path).split("/");
        expect(decodedSegments).toEqual(segments.map(decodedOnce));
        for (const segment of decodedSegments) {
          expect(segment === "." || segment === "..").toBe(false);
          expect(segment).not.toContain("\\");
          expect(segment).not.toMatch(/%[0-9A-Fa-f]{2}/);
        }
        // Stable under another parse: upstream parsers see the very same path.
        expect(new URL(`${SITE}${path}`).pathname).toBe(path);
      }),
      { numRuns: 400 },
    );
  });

  it("property: the reserved prefix seen by routing is the one every lenient parser sees", () => {
    fc.assert(
      fc.property(rawPath, (raw) => {
        const path = new URL(`${SITE}${raw}`).pathname;
        if (!checkPath(path).ok) return;
        const first = firstSegment(path);
        expect(first === "internal" || first === "webhooks").toBe(meansReserved(path));
      }),
      { numRuns: 400 },
    );
  });
});

/** Spellings of a reserved path: random case, percent-encoded letters, and separator tricks. */
function reservedSpelling(word: "internal" | "webhooks", rest: string): fc.Arbitrary<string> {
  const letter = (ch: string): fc.Arbitrary<string> =>
    fc.constantFrom(
      ch,
      ch.toUpperCase(),
      `%${ch.charCodeAt(0).toString(16)}`,
      `%${ch.charCodeAt(0).toString(16).toUpperCase()}`,
    );
  const separator = fc.constantFrom("/", "%2F", "%2f", "%5C", "%5c", "\\", "//", "/./", "/%2e/", "/x/../", "/x/%2e%2e/", "%252F", "/;/");
  const lead = fc.constantFrom("/", "//", "/./", "/%2e%2e/", "/api/../", "/api%2F..%2F", "\\", "/%2F");
  return fc
    .tuple(lead, fc.tuple(...[...word].map(letter)), separator, fc.constantFrom(rest, rest.toUpperCase()))
    .map(([l, letters, sep, tail]) => `${l}${letters.join("")}${sep}${tail}`);
}

describe("the Worker never lets a spelling of /internal/* or /webhooks/* through to a sandbox", () => {
  it.each([
    ["/internal%2Fcron", 400],
    ["/internal%2fcron", 400],
    ["/internal%5Ccron", 400],
    ["//internal/cron", 400],
    ["/%2e%2e/internal/cron", 404],
    ["/api/..%2Finternal/cron", 400],
    ["/INTERNAL/cron", 404],
    ["/Internal/Cron", 404],
    ["/internal", 404],
    ["/internal/", 404],
    ["/webhooks/telegram/", 404],
    ["/webhooks/Telegram", 404],
    ["/WEBHOOKS/telegram", 404],
    ["/webhooks%2Ftelegram", 400],
    ["/webhooks/telegram/x", 404],
  ])("POST %s with a valid Access identity is %i and wakes nothing", async (path, status) => {
    const h = harness({ keys });
    const res = await h.fetch(await authed(path, { method: "POST", body: "{}" }));
    expect(res.status).toBe(status);
    expect((await json<{ error: string; hint: string }>(res)).hint).not.toBe("");
    expect(h.sandboxes.size).toBe(0);
  });

  it("property: generated spellings are refused before any sandbox is touched", async () => {
    const h = harness({ keys });
    const token = await sign(key, userClaims("alice@example.com"));
    const spelling = fc.oneof(reservedSpelling("internal", "cron"), reservedSpelling("webhooks", "telegram"));
    await fc.assert(
      fc.asyncProperty(spelling, async (path) => {
        const url = `${SITE}${path}`;
        const res = await h.fetch(new Request(url, { method: "POST", body: "{}", headers: { "cf-access-jwt-assertion": token } }));
        await res.body?.cancel();
        // Webhook spellings that are exactly /webhooks/telegram reach the signature check (401 or
        // 404 for an unconfigured channel), never the proxy.
        expect([400, 401, 404]).toContain(res.status);
        expect(h.sandboxes.size).toBe(0);
      }),
      { numRuns: 150 },
    );
  });

  it("property: whatever a user request's path, the sandbox never sees a reserved path or the internal credential", async () => {
    const h = harness({ keys });
    const token = await sign(key, userClaims("alice@example.com"));
    const chars = fc.constantFrom(
      ...["a", "i", "n", "t", "e", "r", "l", "/", ".", "%", "2", "F", "f", "5", "C", "\\", "I", "W", "w"],
      ...["internal", "nternal", "ebhooks", "%69", "%77", "%2F", "%2e", "%5C", "%252F"],
    );
    const path = fc.string({ unit: chars, maxLength: 24 }).map((s) => `/${s}`);
    await fc.assert(
      fc.asyncProperty(path, fc.constantFrom("GET", "POST", "DELETE"), async (p, method) => {
        const before = [...h.sandboxes.values()].reduce((n, s) => n + s.received.length, 0);
        const res = await h.fetch(
          new Request(`${SITE}${p}`, { method, headers: { "cf-access-jwt-assertion": token, [INTERNAL_HEADER]: INTERNAL_FOR_TEST_TOKEN } }),
        );
        await res.body?.cancel();
        const received = [...h.sandboxes.values()].flatMap((s) => s.received);
        for (const request of received.slice(before)) {
          const upstream = new URL(request.url);
          expect(upstream.origin).toBe(SITE);
          expect(meansReserved(upstream.pathname)).toBe(false);
          expect(request.headers.has(INTERNAL_HEADER)).toBe(false);
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe("internal credential", () => {
  it("is HMAC-SHA256 of the fixed label keyed by the edge token (pinned vector shared with the runtime)", async () => {
    expect(await internalCredential(EDGE_TOKEN)).toBe(INTERNAL_FOR_TEST_TOKEN);
    expect(await internalCredential(`${EDGE_TOKEN}x`)).not.toBe(INTERNAL_FOR_TEST_TOKEN);
  });

  it("rides on webhook forwards, and a client-sent copy is stripped from proxied requests", async () => {
    const secret = "tg-secret-0123456789";
    const h = harness({ keys });
    const env = baseEnv({ TENANT: "internal-cred", TELEGRAM_WEBHOOK_SECRET: secret });
    const hook = await h.fetch(
      new Request(`${SITE}/webhooks/telegram?forged=1`, {
        method: "POST",
        body: JSON.stringify({ update_id: 5150 }),
        headers: { "x-telegram-bot-api-secret-token": secret },
      }),
      env,
    );
    expect(hook.status).toBe(200);
    const seen = await json<{ url: string; headers: Record<string, string> }>(hook);
    expect(seen.headers[INTERNAL_HEADER]).toBe(INTERNAL_FOR_TEST_TOKEN);
    expect(seen.url).toBe(`${SITE}/webhooks/telegram`);

    const user = await h.fetch(await authed("/api/chat", { method: "POST", body: "{}", headers: { [INTERNAL_HEADER]: INTERNAL_FOR_TEST_TOKEN } }), env);
    expect(user.status).toBe(200);
    expect((await json<{ headers: Record<string, string> }>(user)).headers[INTERNAL_HEADER]).toBeUndefined();
  });
});

describe("upstream URLs keep the upstream origin", () => {
  it.each(["//evil.example/steal", "/\\evil.example/steal", "//evil.example:8080/", "///evil.example"])(
    "sameOriginUrl(%s) stays on the origin",
    (path) => {
      const url = sameOriginUrl("http://127.0.0.1:8080", new URL(`https://agent.example.com${path.replace(/\\/g, "%5C")}`));
      expect(url.origin).toBe("http://127.0.0.1:8080");
    },
  );

  it("property: only path and query vary, for any incoming URL", () => {
    const incoming = fc.webUrl({ withQueryParameters: true, withFragments: true });
    const trick = fc.constantFrom("", "//evil.example", "//evil.example:1", "/\\evil.example", "///x");
    fc.assert(
      fc.property(incoming, trick, (raw, prefix) => {
        const from = new URL(raw);
        from.pathname = prefix + from.pathname;
        const url = sameOriginUrl("http://127.0.0.1:8080/ignored/base", from);
        expect(url.origin).toBe("http://127.0.0.1:8080");
        expect(url.pathname).toBe(from.pathname);
        expect(url.search).toBe(from.search);
        expect(url.hash).toBe("");
      }),
      { numRuns: 300 },
    );
  });

  it("the local-mode link fetches the configured origin even for a //host path", async () => {
    const env = baseEnv({ SANDBOX: undefined, AGENT_ORIGIN: "http://127.0.0.1:9", DEV_IDENTITY: "dev@localhost" });
    const config = loadConfig(env);
    const fetched: string[] = [];
    const realFetch = globalThis.fetch;
    globalThis.fetch = (async (input: RequestInfo | URL) => {
      fetched.push(input instanceof Request ? input.url : String(input));
      return new Response("ok");
    }) as typeof fetch;
    try {
      const link = originLink(config, env, "acme");
      const forwarded = await link.forward(new Request("https://agent.example.com//evil.example/steal?x=1"));
      expect(forwarded.kind).toBe("response");
    } finally {
      globalThis.fetch = realFetch;
    }
    expect(fetched).toEqual(["http://127.0.0.1:9//evil.example/steal?x=1"]);
  });

  it("and the local-mode Worker refuses such a path before proxying at all", async () => {
    const h = harness({ sandbox: () => new FakeSandbox("ready", echoOrigin) });
    const env = baseEnv({ SANDBOX: undefined, AGENT_ORIGIN: "http://127.0.0.1:9", DEV_IDENTITY: "dev@localhost" });
    const res = await h.fetch(new Request(`${SITE}//evil.example/steal`), env);
    expect(res.status).toBe(400);
    expect(h.sandboxes.size).toBe(0);
  });
});
