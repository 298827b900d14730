#!/usr/bin/env -S node --max-semi-space-size=2
// The `meatbackup` command: runs the bundle that `npm ci` (prepare) or `npm run build` writes to dist/.
//
// --max-semi-space-size=2 (MiB, V8's young generation): a backup reads igzip's output in 64 KiB buffers that are
// garbage as soon as they are copied into a part; with V8's default 16 MiB semi-spaces they and the young heap
// piled up to a 131-134 MiB peak RSS on the benchmark's 1 GB dump, with 2 MiB it stays at 111-119 MiB, for no
// measurable CPU (npm run bench shows both). V8 reads it only at start, so it is here, where the command starts:
// run this file directly (`npx meatbackup`, the container's entrypoint), not as `node bin/meatbackup.js`, to have it.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const bundle = join(__dirname, '..', 'dist', 'meatbackup.js');
if (!existsSync(bundle)) {
  process.stderr.write('meatbackup: the CLI is not built yet: run `npm run build` in the repository first\n');
  process.exit(1);
}
// The SDK warns on every run that Node.js 20 leaves its support window in 2027; operators cannot act on that
// mid-restore, and the deployed runtimes (Lambda, container) are Node.js 22.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// Stack traces (printed only with --debug) through the bundle's source map. Only then: loading the 6 MB map costs
// every run ~19 MB of RSS.
if (process.argv.includes('--debug')) process.setSourceMapsEnabled(true);
require(bundle);
