import { describe, expect, it } from "vitest";
import { containerEnv, parseSleepAfter } from "../src/sandbox";
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
