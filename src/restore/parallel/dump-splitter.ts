/**
 * Reads pg_dump's plain SQL as it streams and says what each line is, the way psql would read it: a TOC entry's
 * header (`-- Name: …; Type: …; Schema: …; Owner: …`, `-- Data for Name: …`), a session setting (`SET x = …;`), a
 * psql meta-command (`\restrict`, `\connect`), a `COPY … FROM stdin;` followed by its data up to `\.`, or an
 * ordinary line of SQL. COPY data is passed on in the chunks it arrived in, never gathered: memory stays bounded by
 * the longest SQL line.
 *
 * Where the stream is not what pg_dump writes (a header or a COPY inside a statement, a COPY of another shape), it
 * says so once (`confused`) and hands over the rest unread (`raw`), for one psql to run as the single stream would.
 * The consumer can ask for the same (`rest()`), e.g. at a header type it does not know. docs/architecture.md
 * ("Parallel restore") describes the split.
 */
import { SqlLexer } from './sql-lexer';

export interface EntryHeader {
  /** `TABLE DATA` for `-- Data for Name:` headers, else the `Type:` pg_dump wrote (INDEX, FK CONSTRAINT, …). */
  type: string;
  name: string;
  schema: string;
}

export type DumpItem =
  | { kind: 'header'; header: EntryHeader; bytes: Buffer }
  | { kind: 'sql'; bytes: Buffer; code: boolean; backslash: boolean }
  | { kind: 'set'; name: string; bytes: Buffer }
  | { kind: 'meta'; bytes: Buffer }
  | { kind: 'copy'; statement: string; bytes: Buffer }
  | { kind: 'copyData'; bytes: Buffer }
  | { kind: 'copyEnd'; bytes: Buffer }
  | { kind: 'confused'; why: string }
  | { kind: 'raw'; bytes: Buffer };

const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const HEADER = /^-- (Data for )?Name: (.*); Type: ([A-Z][A-Z ]*[A-Z]); Schema: (.*); Owner: (.*?)(?:; Tablespace: .*)?$/;
// A table without columns has an empty column list: `COPY public.t  FROM stdin;` (two spaces).
const COPY = /^COPY ((?:"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)(?:\.(?:"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*))?)(?: \([^\n]*\)| )? FROM stdin;$/;
const SET = /^SET ([a-z_]+) = [^;]*;$/;
const SEARCH_PATH = "SELECT pg_catalog.set_config('search_path', '', false);";
/** The table a `COPY … FROM stdin;` the splitter handed out loads, as the dump names it (`public.logs`). */
export function copyTable(statement: string): string {
  return COPY.exec(statement)![1];
}
/** The end of a COPY's data: `\.` alone on a line. */
const END_OF_DATA = Buffer.from('\\.\n');

export class DumpSplitter {
  private readonly lexer = new SqlLexer();
  private pending: Buffer = Buffer.alloc(0);
  private copying = false;
  /** The byte before `pending` was a newline (or nothing came yet): `\.` there ends a COPY's data. */
  private atLineStart = true;
  private passThrough = false;

  constructor(private readonly source: AsyncIterable<Buffer>) {}

  /** From now on, everything not yet handed out comes as `raw` items. */
  rest(): void {
    this.passThrough = true;
  }

  async *items(): AsyncGenerator<DumpItem> {
    for await (const chunk of this.source) {
      let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
      this.pending = Buffer.alloc(0);
      while (buf.length > 0) {
        if (this.passThrough) {
          yield { kind: 'raw', bytes: buf };
          buf = Buffer.alloc(0);
          break;
        }
        if (this.copying) {
          const end = this.endOfData(buf);
          if (end < 0) {
            // Keep back only bytes that may begin the `\.` line the next chunk ends (rarely any: the next chunk is
            // then not copied onto them).
            const keep = this.partialEnd(buf);
            const data = buf.subarray(0, buf.length - keep);
            if (data.length > 0) {
              this.atLineStart = data[data.length - 1] === NEWLINE;
              yield { kind: 'copyData', bytes: data };
            }
            this.pending = Buffer.from(buf.subarray(buf.length - keep));
            break;
          }
          if (end > 0) yield { kind: 'copyData', bytes: buf.subarray(0, end) };
          this.copying = false;
          yield { kind: 'copyEnd', bytes: END_OF_DATA };
          buf = buf.subarray(end + END_OF_DATA.length);
          continue;
        }
        const nl = buf.indexOf(NEWLINE);
        if (nl < 0) {
          this.pending = Buffer.from(buf);
          break;
        }
        const line = buf.subarray(0, nl + 1);
        buf = buf.subarray(nl + 1);
        const item = this.lineItem(line);
        yield item;
        if (item.kind === 'confused') {
          this.passThrough = true;
          yield { kind: 'raw', bytes: Buffer.concat([line, buf]) };
          buf = Buffer.alloc(0);
        }
      }
    }
    if (this.pending.length > 0) {
      const last = this.pending;
      this.pending = Buffer.alloc(0);
      if (this.passThrough || this.copying) yield { kind: 'raw', bytes: last };
      else yield this.lineItem(last);
    }
  }

  /** How many of the last bytes of `buf` (no `\.` line in it) may be the start of one: `\` or `\.` at a line's start. */
  private partialEnd(buf: Buffer): number {
    const startsLine = (at: number): boolean => (at === 0 ? this.atLineStart : buf[at - 1] === NEWLINE);
    const n = buf.length;
    if (n >= 1 && buf[n - 1] === BACKSLASH && startsLine(n - 1)) return 1;
    if (n >= 2 && buf[n - 2] === BACKSLASH && buf[n - 1] === DOT && startsLine(n - 2)) return 2;
    return 0;
  }

  /** Offset of the `\.` line ending the COPY data in `buf`, or -1. */
  private endOfData(buf: Buffer): number {
    let from = 0;
    for (;;) {
      const at = buf.indexOf(END_OF_DATA, from);
      if (at < 0) return -1;
      if (at === 0 ? this.atLineStart : buf[at - 1] === NEWLINE) return at;
      from = at + 1;
    }
  }

  private lineItem(bytes: Buffer): DumpItem {
    const between = this.lexer.betweenStatements;
    const text = bytes[bytes.length - 1] === NEWLINE ? bytes.subarray(0, bytes.length - 1) : bytes;
    if (between && text.length > 0) {
      const first = text[0];
      // Only lines that can be one of pg_dump's own are decoded; the rest is scanned as bytes.
      if (first === 0x2d && text[1] === 0x2d) {
        const header = HEADER.exec(text.toString('utf8'));
        this.lexer.scan(text);
        if (header) return { kind: 'header', header: { type: header[1] ? 'TABLE DATA' : header[3], name: header[2], schema: header[4] }, bytes };
        return { kind: 'sql', bytes, code: false, backslash: false };
      }
      if (first === 0x5c) return { kind: 'meta', bytes }; // psql ends a meta-command at the end of its line
      if (first === 0x43 && text.subarray(0, 5).toString('latin1') === 'COPY ') {
        const statement = text.toString('utf8');
        if (!COPY.test(statement)) return { kind: 'confused', why: `a COPY of a shape pg_dump does not write (${statement.slice(0, 80)})` };
        this.copying = true;
        this.atLineStart = true;
        return { kind: 'copy', statement, bytes };
      }
      if (first === 0x53) {
        const statement = text.toString('utf8');
        const set = SET.exec(statement);
        if (set) {
          this.lexer.scan(text);
          return { kind: 'set', name: set[1], bytes };
        }
        if (statement === SEARCH_PATH) {
          this.lexer.scan(text);
          return { kind: 'set', name: 'search_path', bytes };
        }
      }
    } else if (this.lexer.outsideQuotes && text.length > 0 && text[0] === 0x2d && HEADER.test(text.toString('utf8'))) {
      return { kind: 'confused', why: `an entry header inside a statement that has not ended (${text.toString('utf8').slice(3, 83)})` };
    }
    return { kind: 'sql', bytes, ...this.lexer.scan(text) };
  }
}
