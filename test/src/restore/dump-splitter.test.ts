/**
 * The splitter reads pg_dump's plain SQL as it streams: however the stream is cut into chunks, it says the same things
 * about it, and a table's data ends exactly at its `\.` line, wherever the chunk boundaries fall around it.
 */
import { type DumpItem, DumpSplitter } from '../../../src/restore/parallel/dump-splitter';

const DUMP = [
  'SET client_encoding = \'UTF8\';',
  'SET standard_conforming_strings = on;',
  '',
  '--',
  '-- Name: t; Type: TABLE; Schema: public; Owner: postgres',
  '--',
  '',
  'CREATE TABLE public.t (',
  '    id integer NOT NULL,',
  '    body text',
  ');',
  '',
  '--',
  '-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: postgres',
  '--',
  '',
  'COPY public.t (id, body) FROM stdin;',
  '1\t\\N',
  '2\t\\\\.',
  '3\ta line with \\\\. in it',
  '\\N\t-- Name: x; Type: TABLE; Schema: public; Owner: x',
  '\\.',
  '',
  '',
  '--',
  '-- Name: t t_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres',
  '--',
  '',
  'ALTER TABLE ONLY public.t',
  '    ADD CONSTRAINT t_pkey PRIMARY KEY (id);',
  '',
].join('\n');

/** Items with each table's data joined (chunks may cut it anywhere) and the bytes as text. */
async function itemsOf(chunks: Buffer[]): Promise<Array<{ kind: string; text?: string }>> {
  const out: Array<{ kind: string; text?: string }> = [];
  async function* source(): AsyncGenerator<Buffer> {
    yield* chunks;
  }
  for await (const item of new DumpSplitter(source()).items()) {
    const text = 'bytes' in item ? (item as Extract<DumpItem, { bytes: Buffer }>).bytes.toString('utf8') : undefined;
    const last = out.at(-1);
    if (item.kind === 'copyData' && last?.kind === 'copyData') last.text += text!;
    else out.push({ kind: item.kind, ...(text !== undefined ? { text } : {}) });
  }
  return out;
}

function cut(text: string, size: number): Buffer[] {
  const bytes = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
  return chunks;
}

describe('GIVEN a plain dump with a table, its data and a key', () => {
  test('WHEN it arrives in one chunk THEN the data is every row up to the `\\.` line, and the key comes after', async () => {
    const items = await itemsOf([Buffer.from(DUMP)]);
    const data = items.find((i) => i.kind === 'copyData');
    expect(data?.text).toBe('1\t\\N\n2\t\\\\.\n3\ta line with \\\\. in it\n\\N\t-- Name: x; Type: TABLE; Schema: public; Owner: x\n');
    expect(items.map((i) => i.kind)).toEqual(expect.arrayContaining(['copy', 'copyData', 'copyEnd']));
    expect(items.filter((i) => i.kind === 'header').map((i) => i.text)).toEqual([
      '-- Name: t; Type: TABLE; Schema: public; Owner: postgres\n',
      '-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: postgres\n',
      '-- Name: t t_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres\n',
    ]);
  });

  test.each([1, 2, 3, 5, 7, 64])('WHEN it arrives in chunks of %i bytes THEN it is split exactly as in one chunk', async (size) => {
    expect(await itemsOf(cut(DUMP, size))).toEqual(await itemsOf([Buffer.from(DUMP)]));
  });

  test('WHEN a chunk ends at every possible byte around the end of the data THEN it is split exactly as in one chunk', async () => {
    const whole = await itemsOf([Buffer.from(DUMP)]);
    const end = Buffer.from(DUMP).indexOf('\n\\.\n');
    for (let at = end - 4; at <= end + 5; at++) {
      const bytes = Buffer.from(DUMP);
      expect(await itemsOf([bytes.subarray(0, at), bytes.subarray(at)])).toEqual(whole);
    }
  });
});
