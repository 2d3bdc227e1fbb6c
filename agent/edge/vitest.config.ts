import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// Tests run inside workerd with the local wrangler config (no containers: the sandbox is injected).
export default defineConfig({
  plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.json" } })],
  test: {
    include: ["test/**/*.test.ts"],
    // A fixed fast-check seed unless EDGEAGENT_FUZZ_SEED picks another (test/fuzz-seed.ts).
    setupFiles: ["test/fuzz-seed.ts"],
    // The test files share one module cache and storage instead of a fresh Worker each: per-file
    // isolation spent ~17 s of the suite's ~24 s of CPU re-importing the Worker's modules into
    // each file (vitest's "import" phase). Sharing storage is what Cloudflare documents for this
    // integration's `--no-isolate` ("Migrate from Vitest 3 to Vitest 4", developers.cloudflare.com/
    // workers/testing/vitest-integration/). So no test may lean on another file's leftovers: the
    // one Durable Object test names its own instances, and any stubbed global is restored.
    // Checked with shuffled file and test order (`--sequence.shuffle.files --sequence.shuffle.tests`).
    isolate: false,
    // Hang guards, not speed goals: vitest's 5 s default failed a 15-run property test on a busy
    // machine. Timings belong in bench/, never in a test's pass/fail.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
  define: { __EDGEAGENT_FUZZ_SEED__: JSON.stringify(process.env.EDGEAGENT_FUZZ_SEED ?? "") },
});
