// Bundles the CLI into dist/meatbackup.js: what `npx meatbackup`, `npm start` and the container run.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/meatbackup.js',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: 'linked',
  // pg tries an optional native binding; we use the pure-JS client.
  external: ['pg-native'],
  logLevel: 'warning',
});
