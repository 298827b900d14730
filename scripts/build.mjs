// Bundles the CLI into dist/meatbackup.js: what `npx meatbackup`, `npm start` and the container run.
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: 'linked',
  logLevel: 'warning',
};

// The Docker Engine client (dockerode, with its gRPC and SSH layers: 2 MB of code) is a bundle of its own,
// dist/dockerode.js, which only a restore that stops Compose services loads: in the CLI's bundle it cost every
// command 5 MB of RSS at start.
const dockerodeApart = {
  name: 'dockerode-apart',
  setup(b) {
    b.onResolve({ filter: /^dockerode$/ }, () => ({ path: './dockerode.js', external: true }));
  },
};

await Promise.all([
  build({
    ...common,
    entryPoints: ['src/cli/main.ts'],
    outfile: 'dist/meatbackup.js',
    // pg tries an optional native binding; we use the pure-JS client.
    external: ['pg-native'],
    plugins: [dockerodeApart],
  }),
  build({
    ...common,
    entryPoints: ['node_modules/dockerode/lib/docker.js'],
    outfile: 'dist/dockerode.js',
    // ssh2 (DOCKER_HOST=ssh://, which we do not offer) loads its native crypto and cpu-features inside try/catch and
    // falls back to JavaScript without them.
    external: ['*.node'],
  }),
]);
