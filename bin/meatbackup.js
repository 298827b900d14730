#!/usr/bin/env node
// The `meatbackup` command: runs the bundle that `npm ci` (prepare) or `npm run build` writes to dist/.
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
require(bundle);
