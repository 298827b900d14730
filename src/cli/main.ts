/** Entry point bundled into dist/meatbackup.js (the CLI, the Fargate container's command). */
import { main } from './program';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // The command is over: a request it abandoned to a frozen endpoint (after a stall or a signal) must not hold the
    // process until the SDK's own timeouts end it.
    setTimeout(() => process.exit(code), 1000).unref();
  },
  (err: unknown) => {
    process.stderr.write(`meatbackup: unexpected error: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
