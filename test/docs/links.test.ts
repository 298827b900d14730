/**
 * The documentation's links hold: every relative link in README.md and docs/ names a file that exists and, with an
 * anchor, a heading of that file; every section the code names in prose (`README, "Who may read backups"`,
 * `README: extensions in restore tests`, `docs/chat.md, "Guardrails"`) is a heading of that page. Sections move
 * between README and docs/ (README.md says where each lives); a moved one must take its links along.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');

/** GitHub's anchor for a heading: lower case, punctuation dropped (hyphens kept), spaces to hyphens. */
export function githubAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function headings(file: string): string[] {
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
  return [...text.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)].map((m) => m[1]!);
}

function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const heading of headings(file)) {
    const base = githubAnchor(heading);
    const n = seen.get(base) ?? 0;
    out.add(n === 0 ? base : `${base}-${n}`);
    seen.set(base, n + 1);
  }
  return out;
}

function filesUnder(dir: string, ext: RegExp): string[] {
  const full = join(ROOT, dir);
  if (!existsSync(full)) return [];
  return readdirSync(full, { recursive: true, encoding: 'utf8' })
    .map((f) => join(full, f))
    .filter((f) => ext.test(f) && !f.includes('node_modules') && statSync(f).isFile());
}

const markdown = [join(ROOT, 'README.md'), ...filesUnder('docs', /\.md$/), ...filesUnder('container', /\.md$/)];

describe('GIVEN the README and the docs pages', () => {
  const links = markdown.flatMap((file) => {
    const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
    return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
      .map((m) => m[1]!)
      .filter((target) => !/^[a-z]+:/.test(target))
      .map((target) => ({ file, target }));
  });

  test('THEN they have relative links to check', () => {
    expect(links.length).toBeGreaterThan(20);
  });

  test.each(links.map((l) => [relative(ROOT, l.file), l.target] as const))('WHEN %s links to %s THEN it exists', (from, target) => {
    const [path, anchor] = target.split('#') as [string, string | undefined];
    const file = path === '' ? join(ROOT, from) : resolve(dirname(join(ROOT, from)), path);
    expect(existsSync(file)).toBe(true);
    if (anchor !== undefined && file.endsWith('.md')) expect([...anchors(file)]).toContain(anchor);
  });
});

describe('GIVEN the code', () => {
  const sources = ['lib', 'src', 'lambda', 'container', 'bin', 'scripts', 'bench', 'test', 'docs'].flatMap((d) => filesUnder(d, /\.(ts|js|mjs|md|sh)$|Dockerfile$/));
  const mentions = sources.filter((file) => file !== __filename).flatMap((file) => {
    const text = readFileSync(file, 'utf8');
    const found: { file: string; page: string; section: string }[] = [];
    // README, "Who may read backups" / docs/chat.md, "Guardrails" / README "Chat"
    for (const m of text.matchAll(/\b(README(?:\.md)?|docs\/[\w-]+\.md),? "([^"$\\]+)"/g)) found.push({ file, page: m[1]!, section: m[2]! });
    // (README: extensions in restore tests)
    for (const m of text.matchAll(/\((README(?:\.md)?|docs\/[\w-]+\.md): ([^)"\\]+)\)/g)) found.push({ file, page: m[1]!, section: m[2]! });
    return found;
  });

  test('THEN it names documentation sections to check', () => {
    expect(mentions.length).toBeGreaterThan(3);
  });

  test.each(mentions.map((m) => [relative(ROOT, m.file), m.page, m.section] as const))('WHEN %s names %s "%s" THEN that page has the section', (_from, page, section) => {
    const file = join(ROOT, page === 'README' ? 'README.md' : page);
    expect(existsSync(file)).toBe(true);
    expect(headings(file).map((h) => h.toLowerCase())).toContain(section.toLowerCase());
  });
});
