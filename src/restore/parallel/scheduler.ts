/**
 * Runs planned post-data entries over the workers: each free worker takes the first entry (in the dump's order)
 * whose predecessors are done and whose tables no running entry locks against it. The first failure stops it all
 * (the caller ends every session); a deadlock victim, rolled back whole, is handed back to run alone afterwards.
 */
import type { Planned, PostDataEntry } from './post-data';
import { DEADLOCK_DETECTED, EntryFailed, type Worker } from './sessions';

export function describeEntry(entry: PostDataEntry): string {
  return `${entry.header.type} ${entry.header.name}`;
}

function conflicts(a: Planned, b: Planned): boolean {
  const strongA = new Set(a.locks);
  if (b.locks.some((t) => strongA.has(t) || a.shares.includes(t))) return true;
  return b.shares.some((t) => strongA.has(t));
}

/** Runs every planned entry; returns the deadlock victims (to run alone), throws the first failure. */
export async function runPlanned(planned: readonly Planned[], workers: readonly Worker[], signal?: AbortSignal): Promise<PostDataEntry[]> {
  const done = new Set<number>();
  const running = new Map<number, Planned>();
  const waiting = planned.map((_, i) => i);
  const victims: PostDataEntry[] = [];
  const free = [...workers];
  let failure: unknown;
  let wake: () => void = () => undefined;

  const ready = (i: number): boolean => {
    const p = planned[i];
    if (!p.after.every((j) => done.has(j))) return false;
    for (const other of running.values()) if (conflicts(p, other)) return false;
    return true;
  };

  while ((waiting.length > 0 || running.size > 0) && failure === undefined) {
    if (signal?.aborted) throw signal.reason;
    while (free.length > 0) {
      const k = waiting.findIndex(ready);
      if (k < 0) break;
      const i = waiting.splice(k, 1)[0];
      const worker = free.shift()!;
      const p = planned[i];
      running.set(i, p);
      worker
        .run(p.sql, p.entry.settings, describeEntry(p.entry))
        .then(
          () => done.add(i),
          (err: unknown) => {
            if (err instanceof EntryFailed && err.pgError.code === DEADLOCK_DETECTED) {
              victims.push(p.entry);
              done.add(i);
            } else failure ??= err;
          },
        )
        .finally(() => {
          running.delete(i);
          free.push(worker);
          wake();
        });
    }
    if (running.size === 0 && waiting.length > 0) {
      // Nothing can start and nothing runs: predecessors that will never finish. Cannot happen with the plan's
      // edges (they point backwards), but never spin.
      for (const i of waiting.splice(0)) victims.push(planned[i].entry);
      break;
    }
    await new Promise<void>((resolve) => (wake = resolve));
  }
  if (failure !== undefined) throw failure;
  return victims;
}
