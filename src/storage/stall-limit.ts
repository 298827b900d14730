/**
 * The stall timeout on every S3 request of a client (docs/architecture.md, "Stalls: every command that moves bytes"). The commands watch their own
 * long steps (an upload's parts, a download's bytes) and name them; this is the floor under all of them: any request
 * S3 has not started to answer within the stall timeout fails as {@link Stalled}, every attempt of it, so a frozen
 * endpoint ends a command after the stall timeout instead of after the SDK's request timeout times its attempts (about
 * 612 s), whichever call it was in (a listing, a manifest, a CopyObject, completing an upload).
 *
 * It sits inside the SDK's retry loop and deserializer: it times each attempt until the response headers arrive (a
 * CopyObject that S3 answers at once and then streams is not held to it), and a Stalled error is not one the SDK
 * retries. It gives a command's own watchdog a second's head start, so where both watch the same wait the more
 * precise line ("S3 download of … at 12.0 MiB") is the one printed.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { Stalled } from '../core/watchdog';

/** The head start a command's own watchdog gets over this floor. */
const GRACE_MS = 1000;

interface RequestInput {
  Bucket?: string;
  Key?: string;
  Prefix?: string;
}

/** "S3 ListObjectsV2 of s3://bucket/prefix", for the Stalled line. */
function describeRequest(commandName: string | undefined, input: RequestInput): string {
  const operation = (commandName ?? 'request').replace(/Command$/, '');
  const path = input.Key ?? input.Prefix;
  return `S3 ${operation}${input.Bucket ? ` of s3://${input.Bucket}/${path ?? ''}` : ''}`;
}

/** Limits every attempt of every request of `client` to `seconds` until S3 answers; 0 leaves it unlimited. */
export function addStallLimit(client: S3Client, seconds: number): void {
  if (seconds <= 0) return;
  client.middlewareStack.add(
    (next, context) => (args) => {
      let timer: NodeJS.Timeout | undefined;
      const answered = next(args);
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          // The request is abandoned, not cancelled: a late answer's body is discarded rather than left unread.
          answered.then(
            (late) => (late.response as { body?: { destroy?: () => void } }).body?.destroy?.(),
            () => undefined,
          );
          reject(new Stalled(describeRequest(context.commandName, args.input as RequestInput), seconds));
        }, seconds * 1000 + GRACE_MS);
        timer.unref();
      });
      return Promise.race([answered, stalled]).finally(() => clearTimeout(timer));
    },
    { step: 'deserialize', priority: 'low', name: 'meatbackupStallLimit' },
  );
}
