// The built Worker (agent/edge/dist/index.js) in one workerd process (Miniflare) for the
// infra.verify tests and benchmark: Access on, with their own JWKS answered for the team domain.
//   node bench/verify/workerd.mjs --port 8790
// Bindings (JSON object) come in VERIFY_WORKER_BINDINGS and the JWKS in VERIFY_JWKS, through the
// environment so no secret is on a command line. Every other outbound fetch (the AGENT_ORIGIN
// stand-in for the sandbox) goes out as it is.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const edge = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "agent", "edge");
const { convertV4MiniflareOptions, Miniflare } = await import(
  pathToFileURL(createRequire(join(edge, "package.json")).resolve("miniflare")).href
);
const { values } = parseArgs({ options: { port: { type: "string" } } });
const bindings = JSON.parse(process.env.VERIFY_WORKER_BINDINGS ?? "{}");
const jwks = process.env.VERIFY_JWKS ?? '{"keys":[]}';
const teamHost = new URL(bindings.ACCESS_TEAM_DOMAIN).host;
const wrangler = JSON.parse(await readFile(join(edge, "wrangler.json"), "utf8"));

const mf = new Miniflare(
  convertV4MiniflareOptions({
    host: "127.0.0.1",
    port: Number(values.port),
    modules: true,
    scriptPath: join(edge, "dist", "index.js"),
    compatibilityDate: wrangler.compatibility_date,
    compatibilityFlags: wrangler.compatibility_flags,
    bindings,
    durableObjects: { DIRECTORY: "Directory" },
    outboundService: async (request) => {
      const url = new URL(request.url);
      if (url.host === teamHost && url.pathname === "/cdn-cgi/access/certs") {
        return new Response(jwks, { headers: { "content-type": "application/json" } });
      }
      // Re-issued with Node's fetch (Miniflare's Request class is not Node's).
      const bodyless = request.method === "GET" || request.method === "HEAD";
      return fetch(request.url, {
        method: request.method,
        headers: Object.fromEntries(request.headers),
        body: bodyless ? undefined : await request.arrayBuffer(),
        redirect: "manual",
      });
    },
  }),
);
const url = await mf.ready;
console.log(`verify workerd: serving dist/index.js at ${url}`);
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
