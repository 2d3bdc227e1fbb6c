/**
 * The real Sandbox class (over @cloudflare/containers) against a fake `ctx.container`: workerd here
 * has no container runtime, so the DO's own storage is real and only the container is simulated.
 */
import { env as testEnv, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { COLD_HEADER, SANDBOX_HEADER } from "../src/rpc";
import { Sandbox } from "../src/sandbox";
import { baseEnv } from "./support";

class FakeContainer {
  running = false;
  ready = false;
  readonly starts: { env?: Record<string, string> }[] = [];
  readonly requests: Request[] = [];

  start(options: { env?: Record<string, string> }): void {
    this.running = true;
    this.starts.push(options);
  }

  monitor(): Promise<void> {
    return new Promise(() => undefined);
  }

  getTcpPort(port: number): { fetch: (url: string, init?: RequestInit | Request) => Promise<Response> } {
    return {
      fetch: async (url, init) => {
        expect(port).toBe(8080);
        const request = new Request(url, init);
        const path = new URL(request.url).pathname;
        if (path === "/readyz") {
          expect(request.headers.get("x-agent-edge-token")).toBe("edge-secret-for-tests");
          return new Response(null, { status: this.ready ? 200 : 503 });
        }
        if (path === "/") return new Response("pong"); // the library's port probe
        this.requests.push(request);
        return new Response("from the runtime", { status: 200, headers: { [COLD_HEADER]: "sleeping", "x-kept": "1" } });
      },
    };
  }

  async destroy(): Promise<void> {
    this.running = false;
  }

  signal(): void {
    this.running = false;
  }
}

/** The real DO state with a fake container attached (an own property shadows the native getter). */
function attach(state: DurableObjectState<unknown>, container: FakeContainer): DurableObjectState<{}> {
  Object.defineProperty(state, "container", { value: container, configurable: true });
  return state as DurableObjectState<{}>;
}

async function withSandbox(name: string, body: (sandbox: Sandbox, container: FakeContainer) => Promise<void>): Promise<void> {
  const stub = testEnv.DIRECTORY.get(testEnv.DIRECTORY.idFromName(name));
  await runInDurableObject(stub, async (_instance, state) => {
    const container = new FakeContainer();
    const ctx = attach(state, container);
    const sandbox = new Sandbox(
      ctx,
      baseEnv({
        AGENT_MODEL: "offline",
        SLEEP_AFTER: "15m",
        TELEGRAM_WEBHOOK_SECRET: "edge-only",
        TELEGRAM_DM_POLICY: "allowlist",
        TELEGRAM_ALLOWLIST: "123456789",
        AGENT_TIMEZONE: "Europe/Paris",
        JOB_TIMEOUT_S: "60",
        WEB_FETCH_ALLOWLIST: "10.1.0.0/16",
        DISCORD_BOT_TOKEN: "discord-bot-token",
        DISCORD_APPLICATION_ID: "1234567890123456789",
        SLACK_DM_POLICY: "",
      }),
    );
    await body(sandbox, container);
  });
}

describe("Sandbox durable object", () => {
  it("answers cold without starting anything, then wakes, becomes ready and forwards", async () => {
    await withSandbox("sandbox-do-1", async (sandbox, container) => {
      expect(sandbox.sleepAfter).toBe("15m");
      expect(await sandbox.sandboxState()).toBe("sleeping");

      const cold = await sandbox.fetch(new Request("https://agent.example.com/api/x", { headers: { [SANDBOX_HEADER]: "acme:bob@example.com" } }));
      expect(cold.status).toBe(503);
      expect(cold.headers.get(COLD_HEADER)).toBe("sleeping");
      expect(container.starts).toHaveLength(0);

      await sandbox.wake("acme:bob@example.com");
      for (let i = 0; i < 50 && (await sandbox.getState()).status !== "healthy"; i++) await new Promise((r) => setTimeout(r, 20));
      expect(container.starts).toHaveLength(1);
      expect(container.starts[0]?.env).toMatchObject({ AGENT_TENANT: "acme", AGENT_USER: "bob@example.com", AGENT_MODEL: "offline" });
      expect(container.starts[0]?.env).toMatchObject({
        TELEGRAM_DM_POLICY: "allowlist",
        TELEGRAM_ALLOWLIST: "123456789",
        AGENT_TIMEZONE: "Europe/Paris",
        JOB_TIMEOUT_S: "60",
        WEB_FETCH_ALLOWLIST: "10.1.0.0/16",
        DISCORD_BOT_TOKEN: "discord-bot-token",
        DISCORD_APPLICATION_ID: "1234567890123456789",
        AGENT_EDGE_TOKEN: "edge-secret-for-tests",
      });
      expect(container.starts[0]?.env).not.toHaveProperty("TELEGRAM_WEBHOOK_SECRET");
      expect(container.starts[0]?.env).not.toHaveProperty("SLACK_DM_POLICY");
      expect(container.starts[0]?.env).not.toHaveProperty("SLEEP_AFTER");

      expect(await sandbox.sandboxState()).toBe("starting");
      container.ready = true;
      expect(await sandbox.sandboxState()).toBe("ready");

      const res = await sandbox.fetch(new Request("https://agent.example.com/api/x", { headers: { [SANDBOX_HEADER]: "acme:bob@example.com", "x-agent-user": "bob@example.com" } }));
      expect(res.status).toBe(200);
      expect(await res.text()).toBe("from the runtime");
      // A runtime cannot forge the edge's cold marker; other headers pass.
      expect(res.headers.has(COLD_HEADER)).toBe(false);
      expect(res.headers.get("x-kept")).toBe("1");
      const forwarded = container.requests[0];
      expect(forwarded?.headers.get(SANDBOX_HEADER)).toBeNull();
      expect(forwarded?.headers.get("x-agent-user")).toBe("bob@example.com");
    });
  });

  it("does not stop the container on inactivity when SLEEP_AFTER is never", async () => {
    const stub = testEnv.DIRECTORY.get(testEnv.DIRECTORY.idFromName("sandbox-do-2"));
    await runInDurableObject(stub, async (_instance, state) => {
      const container = new FakeContainer();
      container.running = true;
      const ctx = attach(state, container);
      const sandbox = new Sandbox(ctx, baseEnv({ SLEEP_AFTER: "never" }));
      await sandbox.onActivityExpired();
      expect(container.running).toBe(true);
      const sleepy = new Sandbox(ctx, baseEnv({ SLEEP_AFTER: "1m" }));
      await sleepy.onActivityExpired();
      expect(container.running).toBe(false);
    });
  });
});
