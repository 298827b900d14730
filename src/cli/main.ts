/** Entry point bundled into dist/meatbackup.js (the CLI, the Fargate container's command). */
import { main } from './program';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`meatbackup: unexpected error: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
