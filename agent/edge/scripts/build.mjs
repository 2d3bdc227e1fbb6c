// Bundles src/index.ts into dist/index.js (one ES module) and writes dist/manifest.json for the
// Pulumi Worker component (docs/contract.md). compatibility_date/flags come from wrangler.json so
// local dev, tests and the deployed Worker run with the same runtime semantics.
//
// source_hash, exactly as docs/contract.md pins it (infra/edge_bundle.py recomputes it and rebuilds
// when it differs): in agent/edge,
//   find src package-lock.json -type f | LC_ALL=C sort | xargs sha256sum | sha256sum
// i.e. the sha256 hex of the lines "<sha256 hex of file>  <path>\n" (two spaces), one per regular file
// under src/ plus package-lock.json, paths relative to agent/edge with "/", sorted bytewise.
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// `--outdir <dir>` builds elsewhere (tests); the default is agent/edge/dist, which infra uploads.
const outdirFlag = process.argv.indexOf("--outdir");
const dist = outdirFlag === -1 ? join(root, "dist") : resolve(process.argv[outdirFlag + 1] ?? "");

async function filesUnder(dir) {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : [])),
  );
  return nested.flat();
}

export async function sourceHash() {
  const names = [...(await filesUnder(join(root, "src"))), join(root, "package-lock.json")]
    .map((abs) => relative(root, abs).split(sep).join("/"))
    .sort((a, b) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")));
  let lines = "";
  for (const name of names) {
    const digest = createHash("sha256").update(await readFile(join(root, name))).digest("hex");
    lines += `${digest}  ${name}\n`;
  }
  return createHash("sha256").update(lines, "utf8").digest("hex");
}

const wrangler = JSON.parse(await readFile(join(root, "wrangler.json"), "utf8"));
await mkdir(dist, { recursive: true });
await build({
  entryPoints: [join(root, "src/index.ts")],
  outfile: join(dist, "index.js"),
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  conditions: ["workerd", "worker", "browser"],
  mainFields: ["module", "main"],
  external: ["cloudflare:*"],
  minify: true,
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
});
const manifest = {
  main_module: "index.js",
  modules: ["index.js"],
  compatibility_date: wrangler.compatibility_date,
  compatibility_flags: wrangler.compatibility_flags ?? [],
  durable_object_classes: ["Sandbox", "Directory"],
  source_hash: await sourceHash(),
};
await writeFile(join(dist, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
console.log(`edge: built ${relative(process.cwd(), dist) || "."}/index.js, source_hash ${manifest.source_hash.slice(0, 12)}…`);
