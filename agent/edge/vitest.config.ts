import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// Tests run inside workerd with the local wrangler config (no containers: the sandbox is injected).
export default defineConfig({
  plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.json" } })],
  test: {
    include: ["test/**/*.test.ts"],
    // A fixed fast-check seed unless EDGEAGENT_FUZZ_SEED picks another (test/fuzz-seed.ts).
    setupFiles: ["test/fuzz-seed.ts"],
    // Hang guards, not speed goals: vitest's 5 s default failed a 15-run property test on a busy
    // machine. Timings belong in bench/, never in a test's pass/fail.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
  define: { __EDGEAGENT_FUZZ_SEED__: JSON.stringify(process.env.EDGEAGENT_FUZZ_SEED ?? "") },
});
