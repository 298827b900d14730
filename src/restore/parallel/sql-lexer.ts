/**
 * Just enough of psql's lexer to know, at the start of each line of a plain dump, whether psql would be between
 * statements there: outside quotes ('…', E'…', "…"), dollar quotes ($tag$…$tag$) and block comments, with the last
 * statement ended by its semicolon. Only there can a line be a TOC entry's header, a COPY, a SET or a psql
 * meta-command; anywhere else it is part of a statement, whatever it looks like.
 *
 * It works on bytes: every character that matters is ASCII, and in every server encoding (the encoding pg_dump writes
 * in) a byte below 0x80 is always that ASCII character. It assumes standard_conforming_strings=on, as every pg_dump
 * since 9.1 sets it; the splitter falls back to one stream when a dump says otherwise.
 */

type State = 'top' | 'quote' | 'escapeQuote' | 'identifier' | 'dollar' | 'comment';

const QUOTE = 0x27;
const DQUOTE = 0x22;
const DOLLAR = 0x24;
const DASH = 0x2d;
const SLASH = 0x2f;
const STAR = 0x2a;
const BACKSLASH = 0x5c;
const SEMICOLON = 0x3b;

function isIdentStart(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || b === 0x5f || b >= 0x80;
}

function isIdentChar(b: number): boolean {
  return isIdentStart(b) || (b >= 0x30 && b <= 0x39) || b === DOLLAR;
}

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0d || b === 0x0a || b === 0x0c;
}

export interface LineScan {
  /** The line held something besides white space and comments (at top level or inside a statement). */
  code: boolean;
  /** A backslash outside any quote: psql reads a meta-command there. */
  backslash: boolean;
}

export class SqlLexer {
  private state: State = 'top';
  private dollarTag: Buffer = Buffer.alloc(0);
  private depth = 0;
  /** Nothing but white space and comments since the last top-level semicolon (or the start). */
  private statementStart = true;

  /** psql would start a new statement with the next line: nothing open, nothing pending. */
  get betweenStatements(): boolean {
    return this.state === 'top' && this.statementStart;
  }

  /** Outside quotes and comments, though maybe inside a statement. */
  get outsideQuotes(): boolean {
    return this.state === 'top';
  }

  /** Advances over one line (without its newline). */
  scan(line: Buffer): LineScan {
    const result: LineScan = { code: false, backslash: false };
    let i = 0;
    const n = line.length;
    while (i < n) {
      const b = line[i];
      switch (this.state) {
        case 'top':
          if (b === DASH && line[i + 1] === DASH) return result; // a comment to the end of the line
          if (b === SLASH && line[i + 1] === STAR) {
            this.state = 'comment';
            this.depth = 1;
            i += 2;
            continue;
          }
          if (isSpace(b)) break;
          result.code = true;
          if (b === SEMICOLON) {
            this.statementStart = true;
            break;
          }
          this.statementStart = false;
          if (b === QUOTE) {
            const prev = i > 0 ? line[i - 1] : 0x0a;
            const prevPrev = i > 1 ? line[i - 2] : 0x0a;
            this.state = (prev === 0x45 || prev === 0x65) && !isIdentChar(prevPrev) ? 'escapeQuote' : 'quote';
          } else if (b === DQUOTE) {
            this.state = 'identifier';
          } else if (b === BACKSLASH) {
            result.backslash = true;
          } else if (isIdentChar(b)) {
            // An identifier or keyword (a $ inside one is part of it, not a dollar quote).
            while (i + 1 < n && isIdentChar(line[i + 1]) && line[i + 1] !== QUOTE) i += 1;
          } else if (b === DOLLAR) {
            let j = i + 1;
            if (j < n && isIdentStart(line[j])) {
              j += 1;
              while (j < n && isIdentChar(line[j]) && line[j] !== DOLLAR) j += 1;
            }
            if (line[j] === DOLLAR) {
              this.dollarTag = Buffer.from(line.subarray(i, j + 1));
              this.state = 'dollar';
              i = j + 1;
              continue;
            }
          }
          break;
        case 'quote':
          if (b === QUOTE) {
            if (line[i + 1] === QUOTE) i += 1;
            else this.state = 'top';
          }
          result.code = true;
          break;
        case 'escapeQuote':
          if (b === BACKSLASH) i += 1;
          else if (b === QUOTE) {
            if (line[i + 1] === QUOTE) i += 1;
            else this.state = 'top';
          }
          result.code = true;
          break;
        case 'identifier':
          if (b === DQUOTE) {
            if (line[i + 1] === DQUOTE) i += 1;
            else this.state = 'top';
          }
          result.code = true;
          break;
        case 'dollar':
          result.code = true;
          if (b === DOLLAR && line.subarray(i, i + this.dollarTag.length).equals(this.dollarTag)) {
            i += this.dollarTag.length;
            this.state = 'top';
            continue;
          }
          break;
        case 'comment':
          if (b === SLASH && line[i + 1] === STAR) {
            this.depth += 1;
            i += 2;
            continue;
          }
          if (b === STAR && line[i + 1] === SLASH) {
            this.depth -= 1;
            i += 2;
            if (this.depth === 0) this.state = 'top';
            continue;
          }
          break;
      }
      i += 1;
    }
    return result;
  }
}
