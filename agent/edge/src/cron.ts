/** Cron: the scheduled handler posts `/internal/cron` to every sandbox of the tenant. */
import { deliver, type Deps } from "./app";
import type { EdgeConfig, Env } from "./env";
import { internalCredential, upstreamRequest } from "./headers";

export interface CronResult {
  sandbox: string;
  status: number;
}

/** Sandboxes a tick goes to: the tenant's one, or every per-user sandbox the directory knows. */
export async function cronTargets(config: EdgeConfig, env: Env, deps: Deps): Promise<string[]> {
  if (config.isolation === "shared") return [config.tenant];
  return deps.directory(config, env).list();
}

export async function runCron(
  config: EdgeConfig,
  env: Env,
  deps: Deps,
  scheduledTime: number,
  cron: string,
): Promise<CronResult[]> {
  const targets = await cronTargets(config, env, deps);
  const body = JSON.stringify({ scheduled_time: new Date(scheduledTime).toISOString(), cron });
  const prefix = `${config.tenant}:`;
  const internal = await internalCredential(config.edgeToken);
  return Promise.all(
    targets.map(async (sandbox): Promise<CronResult> => {
      const user = sandbox.startsWith(prefix) ? sandbox.slice(prefix.length) : "system:cron";
      const build = (): Request =>
        upstreamRequest(
          new Request("https://sandbox.internal/internal/cron", {
            method: "POST",
            headers: { "content-type": "application/json" },
          }),
          { user, tenant: config.tenant, requestId: deps.requestId(), edgeToken: config.edgeToken, internal },
          body,
        );
      try {
        const response = await deliver(deps.link(config, env, sandbox), build, "api", sandbox, config, env, deps);
        await response.body?.cancel();
        return { sandbox, status: response.status };
      } catch (err) {
        console.error(`cron to ${sandbox} failed: ${err instanceof Error ? err.message : String(err)}`);
        return { sandbox, status: 502 };
      }
    }),
  );
}
