import { describe, expect, it } from "vitest";
import type { Env } from "../src/env";
import { containerEnv, parseSleepAfter, PASSED_THROUGH } from "../src/sandbox";
import { baseEnv } from "./support";

describe("container environment", () => {
  it("passes runtime settings and secrets, never edge-only ones, and adds tenant and user", () => {
    const env = baseEnv({
      AGENT_ENGINE: "native",
      AGENT_MODEL: "offline",
      AI_GATEWAY_TOKEN: "aig",
      STATE_SECRET_ACCESS_KEY: "s3",
      TELEGRAM_BOT_TOKEN: "tg",
      TELEGRAM_WEBHOOK_SECRET: "edge-only",
      SLACK_SIGNING_SECRET: "edge-only",
      DISCORD_PUBLIC_KEY: "edge-only",
      SLEEP_AFTER: "5m",
    });
    expect(containerEnv(env, "acme:bob@example.com")).toEqual({
      AGENT_ENGINE: "native",
      AGENT_MODEL: "offline",
      AI_GATEWAY_TOKEN: "aig",
      STATE_SECRET_ACCESS_KEY: "s3",
      TELEGRAM_BOT_TOKEN: "tg",
      AGENT_EDGE_TOKEN: "edge-secret-for-tests",
      AGENT_TENANT: "acme",
      AGENT_USER: "bob@example.com",
    });
    expect(containerEnv(env, "acme")).not.toHaveProperty("AGENT_USER");
  });

  it("passes every runtime setting a deployment configures, each only when set", () => {
    const values = Object.fromEntries(PASSED_THROUGH.map((key) => [key, `value-of-${key}`])) as Partial<Env>;
    const env = baseEnv({ ...values, TELEGRAM_WEBHOOK_SECRET: "edge-only", ACCESS_AUD: "edge-only" });
    const full = containerEnv(env, "acme");
    expect(Object.keys(full).sort()).toEqual([...PASSED_THROUGH, "AGENT_TENANT"].sort());
    for (const key of PASSED_THROUGH) expect(full[key]).toBe(`value-of-${key}`);
    // The settings issue 5 added, named one by one so a dropped entry reads plainly in a failure.
    expect(full).toMatchObject({
      WEB_FETCH_ALLOWLIST: "value-of-WEB_FETCH_ALLOWLIST",
      AGENT_TIMEZONE: "value-of-AGENT_TIMEZONE",
      JOB_TIMEOUT_S: "value-of-JOB_TIMEOUT_S",
      TELEGRAM_DM_POLICY: "value-of-TELEGRAM_DM_POLICY",
      TELEGRAM_ALLOWLIST: "value-of-TELEGRAM_ALLOWLIST",
      SLACK_DM_POLICY: "value-of-SLACK_DM_POLICY",
      SLACK_ALLOWLIST: "value-of-SLACK_ALLOWLIST",
      DISCORD_DM_POLICY: "value-of-DISCORD_DM_POLICY",
      DISCORD_ALLOWLIST: "value-of-DISCORD_ALLOWLIST",
      DISCORD_BOT_TOKEN: "value-of-DISCORD_BOT_TOKEN",
      DISCORD_APPLICATION_ID: "value-of-DISCORD_APPLICATION_ID",
    });
    // Unset or empty bindings are left out, so the runtime's own defaults apply.
    const sparse = containerEnv(baseEnv({ TELEGRAM_DM_POLICY: "", AGENT_TIMEZONE: undefined }), "acme");
    expect(sparse).not.toHaveProperty("TELEGRAM_DM_POLICY");
    expect(sparse).not.toHaveProperty("AGENT_TIMEZONE");
  });

  it.each([
    [undefined, "10m"],
    ["30s", "30s"],
    ["2h", "2h"],
    ["never", null],
  ])("reads SLEEP_AFTER %s as %s", (raw, expected) => {
    expect(parseSleepAfter(raw)).toBe(expected);
  });

  it("rejects a malformed SLEEP_AFTER with an example", () => {
    expect(() => parseSleepAfter("ten minutes")).toThrow(/SLEEP_AFTER must look like 30s, 10m, 2h or never/);
  });
});
