// Serve the built Worker (dist/index.js) in one workerd process through Miniflare, without
// wrangler dev's proxy layer: the benchmark uses it to measure the Worker's own overhead.
//   node scripts/serve.mjs --port 8788 --origin http://127.0.0.1:8080
// Local mode only (AGENT_ORIGIN + DEV_IDENTITY from wrangler.json); AGENT_EDGE_TOKEN may be
// overridden through the environment so it never appears on a command line.
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({ options: { port: { type: "string" }, origin: { type: "string" } } });
if (!values.port || !values.origin) {
  console.error("usage: node scripts/serve.mjs --port 8788 --origin http://127.0.0.1:8080");
  process.exit(2);
}
const wrangler = JSON.parse(await readFile(join(root, "wrangler.json"), "utf8"));
const bindings = { ...wrangler.vars, AGENT_ORIGIN: values.origin };
if (process.env.AGENT_EDGE_TOKEN) bindings.AGENT_EDGE_TOKEN = process.env.AGENT_EDGE_TOKEN;

// Miniflare 5 (alpha, as wrangler 4.124 pins it) still accepts the v4 option shape through its converter.
const mf = new Miniflare(
  convertV4MiniflareOptions({
    host: "127.0.0.1",
    port: Number(values.port),
    modules: true,
    scriptPath: join(root, "dist", "index.js"),
    compatibilityDate: wrangler.compatibility_date,
    compatibilityFlags: wrangler.compatibility_flags,
    bindings,
    durableObjects: { DIRECTORY: "Directory" },
  }),
);
const url = await mf.ready;
console.log(`edge: serving dist/index.js at ${url}`);
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
