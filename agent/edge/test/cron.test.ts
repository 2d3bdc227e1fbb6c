import { env as testEnv } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { runCron } from "../src/cron";
import { directoryClient } from "../src/directory";
import { loadConfig } from "../src/env";
import { baseEnv, echoOrigin, FakeSandbox, harness, NOW_MS } from "./support";

describe("cron", () => {
  it("posts /internal/cron to the tenant sandbox under shared isolation", async () => {
    const h = harness();
    const env = baseEnv();
    const results = await runCron(loadConfig(env), env, h.deps, NOW_MS, "*/5 * * * *");
    expect(results).toEqual([{ sandbox: "acme", status: 200 }]);
    const request = h.sandboxes.get("acme")?.received[0];
    expect(request?.method).toBe("POST");
    expect(new URL(request?.url ?? "").pathname).toBe("/internal/cron");
    expect(request?.headers.get("x-agent-edge-token")).toBe("edge-secret-for-tests");
    expect(request?.headers.get("x-agent-tenant")).toBe("acme");
    expect(request?.headers.get("x-agent-user")).toBe("system:cron");
    // The internal credential (docs/contract.md): the runtime accepts /internal/* only with it.
    expect(request?.headers.get("x-agent-internal")).toBe("29d8b5ac00726e4713f217a97c137f6cafaca1dd68a1b5a889104f081e1af0d3");
    expect(await request?.json()).toEqual({ scheduled_time: new Date(NOW_MS).toISOString(), cron: "*/5 * * * *" });
  });

  it("fans out to every registered sandbox under per-user isolation, waking sleeping ones", async () => {
    const env = baseEnv({ ISOLATION: "per-user", TENANT: "fanout" });
    const directory = directoryClient(testEnv.DIRECTORY, "fanout");
    await directory.register("fanout:erin@example.com", NOW_MS);
    await directory.register("fanout:frank@example.com", NOW_MS);
    const h = harness({
      sandbox: (name) => (name.endsWith("frank@example.com") ? new FakeSandbox("sleeping", echoOrigin, ["starting", "ready"]) : new FakeSandbox("ready", echoOrigin)),
    });
    const results = await runCron(loadConfig(env), env, h.deps, NOW_MS, "0 * * * *");
    expect(results).toEqual([
      { sandbox: "fanout:erin@example.com", status: 200 },
      { sandbox: "fanout:frank@example.com", status: 200 },
    ]);
    expect(h.sandboxes.get("fanout:frank@example.com")?.wakes).toBe(1);
    expect(h.sandboxes.get("fanout:frank@example.com")?.received[0]?.headers.get("x-agent-user")).toBe("frank@example.com");
    expect(h.sandboxes.get("fanout:erin@example.com")?.received[0]?.headers.get("x-agent-user")).toBe("erin@example.com");
  });

  it("reports a sandbox that never becomes ready as 503", async () => {
    const env = baseEnv({ COLD_START_TIMEOUT_MS: "1000" });
    const h = harness({ sandbox: () => new FakeSandbox("starting", echoOrigin) });
    expect(await runCron(loadConfig(env), env, h.deps, NOW_MS, "* * * * *")).toEqual([{ sandbox: "acme", status: 503 }]);
  });

});
