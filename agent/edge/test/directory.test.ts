import { env as testEnv } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { directoryClient } from "../src/directory";

describe("Directory durable object", () => {
  it("registers sandbox names idempotently and lists them sorted", async () => {
    const d = directoryClient(testEnv.DIRECTORY, "dir-a");
    await d.register("dir-a:zed@example.com", 1);
    await d.register("dir-a:amy@example.com", 2);
    await d.register("dir-a:zed@example.com", 3);
    expect(await d.list()).toEqual(["dir-a:amy@example.com", "dir-a:zed@example.com"]);
    expect(await directoryClient(testEnv.DIRECTORY, "dir-b").list()).toEqual([]);
  });

  it("claims a nonce once until it expires", async () => {
    const d = directoryClient(testEnv.DIRECTORY, "dir-nonce");
    expect(await d.claimNonce("slack:v0=aa", 1_000, 500)).toBe(true);
    expect(await d.claimNonce("slack:v0=aa", 1_400, 500)).toBe(false);
    expect(await d.claimNonce("slack:v0=bb", 1_400, 500)).toBe(true);
    expect(await d.claimNonce("slack:v0=aa", 1_500, 500)).toBe(true);
    await d.releaseNonce("slack:v0=bb");
    expect(await d.claimNonce("slack:v0=bb", 1_600, 500)).toBe(true);
  });
});
