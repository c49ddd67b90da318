// Validates AsyncAPI documents with @asyncapi/parser (the AsyncAPI initiative's parser: the
// specification's JSON Schema and its Spectral rules). Prints every diagnostic as JSON lines;
// then one line per file saying whether it is valid; exits 1 when any has an error.  Usage: node validate.mjs <file.json>...
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const parser = new Parser();
let failed = false;
for (const path of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(readFileSync(path, "utf8"), { source: path });
  for (const diagnostic of diagnostics) {
    // severity 0 is an error, 1 a warning, 2 information, 3 a hint
    console.log(JSON.stringify({ file: path, severity: diagnostic.severity, code: diagnostic.code, message: diagnostic.message, path: diagnostic.path }));
  }
  const valid = Boolean(document) && !diagnostics.some((diagnostic) => diagnostic.severity === 0);
  console.log(JSON.stringify({ file: path, valid }));
  if (!valid) failed = true;
}
process.exit(failed ? 1 : 0);
