import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// Tests run inside workerd with the local wrangler config (no containers: the sandbox is injected).
export default defineConfig({
  plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.json" } })],
  test: { include: ["test/**/*.test.ts"] },
});
