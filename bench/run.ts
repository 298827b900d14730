/**
 * `npm run bench`: every benchmark of the project, in one run, printed side by side. The CLI is built first
 * (package.json), because the backup benchmark times the built CLI exactly as an operator runs it.
 *
 *   npm run bench                                   # all sections, reference sizes
 *   BENCH_ROWS=300000 npm run bench                 # a quick backup run on a smaller table
 *   BENCH_ONLY=backup npm run bench                 # one section (comma-separated names)
 *
 * Sections are modules in bench/; each prints its own table. A section that fails is reported and the others still run.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { benchBackup, benchRepeat, benchRest, benchRows, formatBackupBench } from './backup';
import { benchRestore, formatRestoreBench } from './restore';

interface Section {
  name: string;
  run(): Promise<string>;
}

/** A bench script that prints its own table, run with tsx in a child process. */
function script(path: string): () => Promise<string> {
  return () =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [join(__dirname, '..', 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(__dirname, path)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out.trimEnd()) : reject(new Error(`${path} exited with code ${code}`))));
    });
}

const SECTIONS: Section[] = [
  { name: 'backup', run: async () => formatBackupBench(await benchBackup()) },
  { name: 'restore', run: async () => formatRestoreBench(await benchRestore()) },
  { name: 'promote', run: script('promote.ts') },
];

async function main(): Promise<number> {
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
  const chosen = only ? SECTIONS.filter((s) => only.includes(s.name)) : SECTIONS;
  if (only && chosen.length !== only.length) {
    process.stderr.write(`bench: unknown section in BENCH_ONLY=${process.env.BENCH_ONLY}; sections: ${SECTIONS.map((s) => s.name).join(', ')}\n`);
    return 2;
  }
  try {
    // Checked before any section starts: a typo should not surface after minutes of generating tables.
    benchRows();
    benchRepeat();
    benchRest();
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 2;
  }
  let failed = 0;
  for (const section of chosen) {
    try {
      process.stdout.write(`\n== ${section.name} ==\n${await section.run()}\n`);
    } catch (err) {
      failed += 1;
      process.stdout.write(`\n== ${section.name} ==\nFAILED: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  return failed > 0 ? 1 : 0;
}

main().then((code) => (process.exitCode = code));
