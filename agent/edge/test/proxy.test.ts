import { beforeAll, describe, expect, it } from "vitest";
import { remoteKeys } from "../src/access";
import { containerLink } from "../src/link";
import { COLD_HEADER, SANDBOX_HEADER } from "../src/rpc";
import type { SandboxRpc } from "../src/rpc";
import { baseEnv, echoOrigin, FakeSandbox, harness, json, jwksServer, rsaKey, sign, userClaims, type KeyPair } from "./support";

let key: KeyPair;
let keys: ReturnType<typeof remoteKeys>;
beforeAll(async () => {
  key = await rsaKey("k1");
  keys = remoteKeys(jwksServer([key.publicJwk]).fetch);
});

async function authed(path: string, init: RequestInit & { email?: string } = {}): Promise<Request> {
  const token = await sign(key, userClaims(init.email ?? "alice@example.com"));
  const headers = new Headers(init.headers);
  headers.set("cf-access-jwt-assertion", token);
  return new Request(`https://agent.example.com${path}`, { ...init, headers });
}

describe("header hygiene", () => {
  it("strips every client X-Agent-* header and sets the edge's own", async () => {
    const h = harness({ keys });
    const res = await h.fetch(
      await authed("/api/admin", {
        headers: {
          "X-Agent-User": "root@example.com",
          "X-Agent-Tenant": "other-tenant",
          "X-Agent-Edge-Token": "guessed",
          "X-Agent-Channel": "slack",
          "X-Agent-Sandbox": "acme:root@example.com",
          "X-Agent-Anything": "1",
          "X-Request-Id": "client-chosen",
          "X-Custom": "kept",
        },
      }),
    );
    expect(res.status).toBe(200);
    const seen = (await json<{ headers: Record<string, string> }>(res)).headers;
    expect(seen["x-agent-user"]).toBe("alice@example.com");
    expect(seen["x-agent-tenant"]).toBe("acme");
    expect(seen["x-agent-edge-token"]).toBe("edge-secret-for-tests");
    expect(seen["x-request-id"]).toBe("req-1");
    expect(seen["x-custom"]).toBe("kept");
    expect(seen["cf-access-jwt-assertion"]).toBeUndefined();
    expect(Object.keys(seen).filter((k) => k.startsWith("x-agent-")).sort()).toEqual([
      "x-agent-edge-token",
      "x-agent-tenant",
      "x-agent-user",
    ]);
  });
});

describe("routing to sandboxes", () => {
  it("uses one sandbox per tenant under shared isolation", async () => {
    const h = harness({ keys });
    await h.fetch(await authed("/api/a", { email: "a@example.com" }));
    await h.fetch(await authed("/api/b", { email: "b@example.com" }));
    expect([...h.sandboxes.keys()]).toEqual(["acme"]);
  });

  it("uses tenant:email under per-user isolation", async () => {
    const h = harness({ keys });
    const env = baseEnv({ ISOLATION: "per-user" });
    await h.fetch(await authed("/api/a", { email: "A@example.com" }), env);
    await h.fetch(await authed("/api/b", { email: "b@example.com" }), env);
    expect([...h.sandboxes.keys()].sort()).toEqual(["acme:a@example.com", "acme:b@example.com"]);
  });
});

describe("HTTP proxy", () => {
  it("streams a request body up and a response body down", async () => {
    const chunks = ["alpha ", "beta ", "gamma"];
    const h = harness({
      keys,
      sandbox: () =>
        new FakeSandbox("ready", async (request) => {
          const upload = await request.text();
          const body = new ReadableStream<Uint8Array>({
            start(controller) {
              for (const c of chunks) controller.enqueue(new TextEncoder().encode(c));
              controller.close();
            },
          });
          return new Response(body, { status: 207, headers: { "x-upload": upload, "content-type": "text/event-stream" } });
        }),
    });
    const upload = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("part1-"));
        controller.enqueue(new TextEncoder().encode("part2"));
        controller.close();
      },
    });
    const res = await h.fetch(await authed("/api/stream", { method: "POST", body: upload, duplex: "half" } as RequestInit));
    expect(res.status).toBe(207);
    expect(res.headers.get("x-upload")).toBe("part1-part2");
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    expect(await res.text()).toBe(chunks.join(""));
  });

  it("passes redirects from the sandbox through untouched", async () => {
    const h = harness({ keys, sandbox: () => new FakeSandbox("ready", () => Response.redirect("https://agent.example.com/login", 303)) });
    const res = await h.fetch(await authed("/api/x"));
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("https://agent.example.com/login");
  });
});

describe("WebSocket proxy", () => {
  const originSawClose: { code: number; reason: string }[] = [];
  /** A fake origin that echoes, closes with 4001 "bye now" when told to, and records closes. */
  const wsOrigin = (request: Request): Response => {
    expect(request.headers.get("upgrade")).toBe("websocket");
    expect(request.headers.get("x-agent-user")).toBe("alice@example.com");
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    server.accept();
    server.addEventListener("message", (event) => {
      if (event.data === "close-me") server.close(4001, "bye now");
      else server.send(`echo:${typeof event.data === "string" ? event.data : "binary"}`);
    });
    server.addEventListener("close", (event) => {
      originSawClose.push({ code: event.code, reason: event.reason });
    });
    return new Response(null, { status: 101, webSocket: client });
  };

  async function open(): Promise<WebSocket> {
    const h = harness({ keys, sandbox: () => new FakeSandbox("ready", wsOrigin) });
    const res = await h.fetch(await authed("/ws", { headers: { upgrade: "websocket" } }));
    expect(res.status).toBe(101);
    const ws = res.webSocket;
    if (ws === null) throw new Error("no websocket in the response");
    ws.accept();
    return ws;
  }

  function next(ws: WebSocket): Promise<string> {
    return new Promise((resolve) => ws.addEventListener("message", (e) => resolve(String(e.data)), { once: true }));
  }

  it("round-trips messages and preserves the origin's close code and reason", async () => {
    const ws = await open();
    const reply = next(ws);
    ws.send("hello");
    expect(await reply).toBe("echo:hello");
    const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener("close", resolve));
    ws.send("close-me");
    const event = await closed;
    expect(event.code).toBe(4001);
    expect(event.reason).toBe("bye now");
  });

  it("carries the client's close code and reason to the origin", async () => {
    const ws = await open();
    const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener("close", resolve));
    ws.close(4002, "done here");
    const event = await closed;
    expect(event.code).toBe(4002);
    expect(originSawClose).toContainEqual({ code: 4002, reason: "done here" });
  });
});

describe("container link", () => {
  /** A namespace whose stub answers like the Sandbox DO does when its container is asleep. */
  function namespace(reply: (request: Request) => Response): { ns: DurableObjectNamespace<SandboxRpc>; names: string[]; seen: Request[] } {
    const names: string[] = [];
    const seen: Request[] = [];
    const ns = {
      idFromName: (name: string) => {
        names.push(name);
        return { name } as unknown as DurableObjectId;
      },
      get: () => ({
        fetch: async (request: Request) => {
          seen.push(request);
          return reply(request);
        },
        sandboxState: async () => "starting",
        wake: async () => undefined,
      }),
    } as unknown as DurableObjectNamespace<SandboxRpc>;
    return { ns, names, seen };
  }

  it("maps the DO's cold answer to a cold state and tags the request with the sandbox name", async () => {
    const { ns, names, seen } = namespace(() => new Response(null, { status: 503, headers: { [COLD_HEADER]: "sleeping" } }));
    const link = containerLink({} as never, baseEnv({ SANDBOX: ns }), "acme:bob@example.com");
    const result = await link.forward(new Request("https://agent.example.com/api/x"));
    expect(result).toEqual({ kind: "cold", state: "sleeping" });
    expect(names).toEqual(["acme:bob@example.com"]);
    expect(seen[0]?.headers.get(SANDBOX_HEADER)).toBe("acme:bob@example.com");
    expect(await link.state()).toBe("starting");
  });

  it("passes an ordinary 503 from the runtime through as a response", async () => {
    const { ns } = namespace(() => new Response("busy", { status: 503 }));
    const link = containerLink({} as never, baseEnv({ SANDBOX: ns }), "acme");
    const result = await link.forward(new Request("https://agent.example.com/api/x"));
    expect(result.kind).toBe("response");
  });
});

describe("local mode", () => {
  it("takes the identity from DEV_IDENTITY and needs no Access configuration", async () => {
    const h = harness();
    const env = baseEnv({ SANDBOX: undefined, AGENT_ORIGIN: "http://127.0.0.1:9", DEV_IDENTITY: "dev@localhost", ACCESS_AUD: undefined, ACCESS_TEAM_DOMAIN: undefined });
    const res = await h.fetch(new Request("https://agent.example.com/api/x", { headers: { "x-agent-user": "spoof" } }), env);
    expect(res.status).toBe(200);
    expect((await json<{ headers: Record<string, string> }>(res)).headers["x-agent-user"]).toBe("dev@localhost");
  });

  it.each([
    ["AGENT_ORIGIN next to a SANDBOX binding", { AGENT_ORIGIN: "http://127.0.0.1:9" }, "AGENT_ORIGIN"],
    ["DEV_IDENTITY without AGENT_ORIGIN", { DEV_IDENTITY: "dev@localhost" }, "DEV_IDENTITY"],
  ])("refuses %s (fails closed, no request bypasses Access)", async (_name, overrides, key_) => {
    const h = harness();
    const res = await h.fetch(new Request("https://agent.example.com/api/x"), baseEnv(overrides));
    expect(res.status).toBe(500);
    expect((await json<{ error: string }>(res)).error).toContain(key_);
    expect(h.sandboxes.size).toBe(0);
  });
});
