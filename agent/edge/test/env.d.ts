// The bindings of wrangler.json as seen by `env` from cloudflare:test (DIRECTORY is always bound there).
import type { DirectoryRpc } from "../src/rpc";
import type { Env as EdgeEnv } from "../src/env";

declare global {
  namespace Cloudflare {
    interface Env extends EdgeEnv {
      DIRECTORY: DurableObjectNamespace<DirectoryRpc>;
    }
  }
}
