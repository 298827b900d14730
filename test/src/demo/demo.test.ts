import { dirname } from 'node:path';
import { cleanEnv, runCli } from '../../support/cli';

describe('npm start: the whole runbook on this machine', () => {
  test('GIVEN a fresh machine with PostgreSQL and moto WHEN I run the demo THEN every runbook step passes and the summary says so', async () => {
    const run = await runCli(['demo', '--json']);
    expect(run.stderr).not.toMatch(/^meatbackup: /m);
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout.trim()) as { ok: boolean; steps: { step: string; ok: boolean; seconds: number }[] };
    expect(summary.ok).toBe(true);
    expect(summary.steps.map((s) => s.step)).toEqual([
      'start PostgreSQL and S3 emulator',
      'seed meatdb and the bucket',
      '1.1 backup (pg_dump → gzip → S3)',
      '1.1 list and verify',
      '1.2 replicate to the replica',
      '2.1 DELETE FROM messages → restore',
      '2.2 bucket lost → promote replica',
    ]);
    expect(summary.steps.every((s) => s.ok)).toBe(true);
  }, 300_000);

  test('GIVEN the S3 emulator is not installed WHEN I run the demo THEN it names the failing step and how to install it, and exits non-zero', async () => {
    // PATH holds node and runuser but not moto_server.
    const path = [dirname(process.execPath), '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':');
    const run = await runCli(['demo'], { env: cleanEnv({ PATH: path }) });
    expect(run.code).not.toBe(0);
    const errors = run.stderr.split('\n').filter((l) => l.startsWith('meatbackup: '));
    expect(errors).toEqual([expect.stringMatching(/demo step "start PostgreSQL and S3 emulator" failed: moto_server .*not found.*pip install/)]);
    expect(run.stdout).toBe('');
  }, 120_000);
});
