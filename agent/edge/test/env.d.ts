// The bindings of wrangler.json as seen by `env` from cloudflare:test.
import type { Env as EdgeEnv } from "../src/env";

declare global {
  namespace Cloudflare {
    interface Env extends EdgeEnv {}
  }
}
