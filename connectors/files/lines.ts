/** Text lines out of a stream of byte chunks, with any line ending (\n, \r\n, \r). */
import { StringDecoder } from 'node:string_decoder';

/** One line of text and its 1-based line number. */
export interface Line {
  readonly text: string;
  readonly line: number;
}

/**
 * Splits chunks into lines. A `\r` at the end of a chunk waits for the next chunk to tell `\r\n`
 * from a lone `\r`; the last line counts even without a newline; UTF-8 sequences split across
 * chunks decode whole. Yields the lines of each chunk together (one await per chunk, not per line).
 */
export async function* splitLines(chunks: AsyncIterable<Buffer | string>): AsyncGenerator<Line[]> {
  const decoder = new StringDecoder('utf8');
  /** Text of the line being assembled (everything after the last line break seen). */
  let rest = '';
  /** The previous chunk ended in '\r': a '\n' at the start of this one belongs to it. */
  let pendingCR = false;
  let line = 0;
  for await (const chunk of chunks) {
    let text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    if (pendingCR && text.startsWith('\n')) text = text.slice(1);
    pendingCR = false;
    const out: Line[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const piece = text.slice(start, i);
      const full = rest ? rest + piece : piece;
      rest = '';
      out.push({ text: full, line: ++line });
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          pendingCR = true;
        }
      }
      start = i + 1;
    }
    rest += text.slice(start);
    if (out.length > 0) yield out;
  }
  rest += decoder.end();
  if (rest.length > 0) yield [{ text: rest, line: ++line }];
}
