/**
 * One fixed fast-check seed for every property test, so `npm test` (and CI) is reproducible and a
 * failure is not a coin toss. To search further, run `EDGEAGENT_FUZZ_SEED=<integer> npm test`
 * (vitest.config.ts compiles the variable in as __EDGEAGENT_FUZZ_SEED__).
 */
import fc from "fast-check";

declare const __EDGEAGENT_FUZZ_SEED__: string;

const chosen = Number.parseInt(__EDGEAGENT_FUZZ_SEED__, 10);
fc.configureGlobal({ seed: Number.isFinite(chosen) ? chosen : 20261201 });
