// node validate.mjs <asyncapi.json>: the AsyncAPI parser's diagnostics, one JSON line each;
// exit 1 when any is an error.
import { Parser } from '@asyncapi/parser';
import { readFileSync } from 'node:fs';

const diagnostics = await new Parser().validate(readFileSync(process.argv[2], 'utf8'));
for (const d of diagnostics) {
  console.log(JSON.stringify({ severity: d.severity, code: d.code, message: d.message, path: d.path.join('/') }));
}
process.exit(diagnostics.some((d) => d.severity === 0) ? 1 : 0);
