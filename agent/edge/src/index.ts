/** Entry module: a thin adapter from the Workers runtime to the app, plus the Durable Object classes. */
import { remoteKeys } from "./access";
import { createApp, type Deps } from "./app";
import { runCron } from "./cron";
import { directoryClient } from "./directory";
import { type EmailEnv } from "./email";
import { handleEmail } from "./email_handler";
import { loadConfig, type Env } from "./env";
import { ConfigError } from "./errors";
import { defaultLink } from "./link";

export { Directory } from "./directory";
export { Sandbox } from "./sandbox";

const productionDeps: Deps = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  keys: remoteKeys(),
  link: defaultLink,
  directory: (config, env) => {
    if (env.DIRECTORY === undefined) throw new ConfigError("DIRECTORY", "binding is missing (webhook replay ledger)", "a durable_object_namespace binding to class Directory");
    return directoryClient(env.DIRECTORY, config.tenant);
  },
  requestId: () => crypto.randomUUID(),
};

const app = createApp(productionDeps);

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  async email(message, env: EmailEnv) {
    await handleEmail(message, env, productionDeps);
  },
  async scheduled(controller, env, ctx) {
    const config = loadConfig(env);
    ctx.waitUntil(
      runCron(config, env, productionDeps, controller.scheduledTime, controller.cron).then((results) => {
        const failed = results.filter((r) => r.status >= 400);
        if (failed.length > 0) console.error(`cron: ${failed.length}/${results.length} sandboxes failed`, failed);
      }),
    );
  },
} satisfies ExportedHandler<Env>;
