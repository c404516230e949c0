/** Text lines out of a stream of byte chunks, with any line ending (\n, \r\n, \r), and a bound on a line's length. */
import { StringDecoder } from 'node:string_decoder';

/**
 * One line of text and its 1-based line number; `tooLong` marks a line over the limit (its text
 * is dropped). `end`: the file offset just past its line break (where the next line starts), when
 * the caller asked for positions (a plain read's lines keep the smaller shape).
 */
export interface Line {
  readonly text: string;
  readonly line: number;
  readonly end?: number;
  readonly tooLong?: true;
}

/** Where `splitLines` starts: a restored position (file offset and the number of the line there). Given, it also reports each line's `end`. */
export interface LineStart {
  readonly offset: number;
  readonly line: number;
}

/** Default `maxLineBytes`: 16 MiB. A line of a text format longer than this is a bad record. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

/**
 * Splits chunks into lines. A `\r` at the end of a chunk waits for the next chunk to tell `\r\n`
 * from a lone `\r`; the last line counts even without a newline; UTF-8 sequences split across
 * chunks decode whole. Yields the lines of each chunk together (one await per chunk, not per line).
 *
 * A line longer than `maxLineBytes` (UTF-8 bytes) is not gathered: once its part so far is over
 * the limit, the rest of it is read past up to the next line break, and it comes out as
 * `{ text: '', tooLong: true }` with its line number, for the caller to report or skip. So a
 * reader holds at most about `maxLineBytes` plus a read chunk, whatever the file.
 *
 * An error of `chunks` is thrown as `failed(error, line)` makes it, `line` being the line it was
 * reading (a corrupt gzip stream names its offset and that line).
 */
export async function* splitLines(
  chunks: AsyncIterable<Buffer | string>,
  maxLineBytes = MAX_LINE_BYTES,
  failed: (error: unknown, line: number) => unknown = (error) => error,
  start?: LineStart,
): AsyncGenerator<Line[]> {
  const decoder = new StringDecoder('utf8');
  /** Text of the line being assembled (everything after the last line break seen). */
  let rest = '';
  /** UTF-8 bytes of `rest`. */
  let restBytes = 0;
  /** The current line went over the limit: its text is being read past. */
  let dropping = false;
  /** The previous chunk ended in '\r': a '\n' at the start of this one belongs to it. */
  let pendingCR = false;
  let line = start ? start.line - 1 : 0;
  /** With `start`: the file offset of the current chunk's first byte (line ends are found in the raw bytes: '\n' and '\r' never occur inside a UTF-8 sequence, and a replacement character stands for invalid bytes of another length). */
  const track = start !== undefined;
  let base = start?.offset ?? 0;
  /** Whether `rest` plus `text[start, end)` is over the limit. */
  const over = (text: string, start: number, end: number): boolean => {
    // A UTF-16 unit is at most 3 UTF-8 bytes: no need to count when even that fits (the usual case).
    if (restBytes + (end - start) * 3 <= maxLineBytes) return false;
    return restBytes + Buffer.byteLength(text.slice(start, end), 'utf8') > maxLineBytes;
  };
  const it = chunks[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<Buffer | string>;
      try {
        next = await it.next();
      } catch (error) {
        throw failed(error, line + 1);
      }
      if (next.done) break;
      const chunk = next.value;
      let text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
      /** Tracking: the raw bytes, and the index in them of the next line break to match. */
      const raw = track ? (typeof chunk === 'string' ? Buffer.from(chunk) : chunk) : undefined;
      let rp = 0;
      if (pendingCR && text.startsWith('\n')) {
        text = text.slice(1);
        rp = 1;
      }
      pendingCR = false;
      const out: Line[] = [];
      let start = 0;
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c !== 10 && c !== 13) continue;
        if (raw) {
          while (raw[rp] !== 10 && raw[rp] !== 13) rp++;
          rp += c === 13 && i + 1 < text.length && text.charCodeAt(i + 1) === 10 ? 2 : 1;
          const end = base + rp;
          if (dropping || over(text, start, i)) {
            out.push({ text: '', line: ++line, end, tooLong: true });
            dropping = false;
          } else {
            const piece = text.slice(start, i);
            out.push({ text: rest ? rest + piece : piece, line: ++line, end });
          }
        } else if (dropping || over(text, start, i)) {
          out.push({ text: '', line: ++line, tooLong: true });
          dropping = false;
        } else {
          const piece = text.slice(start, i);
          out.push({ text: rest ? rest + piece : piece, line: ++line });
        }
        rest = '';
        restBytes = 0;
        if (c === 13) {
          if (i + 1 < text.length) {
            if (text.charCodeAt(i + 1) === 10) i++;
          } else {
            pendingCR = true;
          }
        }
        start = i + 1;
      }
      if (!dropping && start < text.length) {
        const tail = text.slice(start);
        const bytes = Buffer.byteLength(tail, 'utf8');
        if (restBytes + bytes > maxLineBytes) {
          // Stop gathering: the line is a bad record whatever follows.
          dropping = true;
          rest = '';
          restBytes = 0;
        } else {
          rest += tail;
          restBytes += bytes;
        }
      }
      if (raw) base += raw.length;
      if (out.length > 0) yield out;
    }
  } finally {
    // Stopped early (or failed): the file closes.
    await it.return?.();
  }
  const last = decoder.end();
  if (!dropping && last) {
    rest += last;
    restBytes += Buffer.byteLength(last, 'utf8');
    if (restBytes > maxLineBytes) dropping = true;
  }
  // The last line, without a break: it ends at the end of the file.
  const end = track ? base : undefined;
  if (dropping) yield [{ text: '', line: ++line, end, tooLong: true }];
  else if (rest.length > 0) yield [{ text: rest, line: ++line, end }];
}
