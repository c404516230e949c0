/** A byte stream filter that bounds the length of a physical line, for parsers that gather lines themselves (csv-parse). */
import { Transform, type TransformCallback } from 'node:stream';
import { RecordError } from '../../src/errors.js';

/**
 * Passes bytes through, holding back the current line until its line break (at most
 * `maxLineBytes`), so a line over the limit never reaches the parser: `onTooLong` is told its
 * 1-based number and decides — return an error to fail the stream with, or `undefined` to drop
 * the line (its line break is kept, so line numbers downstream stay right). The rest of an
 * over-long line is read past, never held.
 *
 * ```
 * a,b\n 1,2\n xxxxxxxx…(over the limit)…\n 3,4\n ──▶ a,b\n 1,2\n \n 3,4\n   (onTooLong(3))
 * ```
 */
export function lineGuard(maxLineBytes: number, onTooLong: (line: number) => RecordError | undefined, starts?: LineStarts): Transform {
  /** Stream offset of the current chunk's first byte (for `starts`). */
  let base = 0;
  /** The current line's bytes from earlier chunks (a line that started before this chunk). */
  let held: Buffer[] = [];
  let heldBytes = 0;
  /** The current line is over the limit: its bytes are dropped up to the next break. */
  let dropping = false;
  /** 1-based number of the current line. */
  let line = 1;
  /** The last byte seen was a '\r' ending a line: a '\n' right after it is the same break. */
  let afterCR = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      /** Start of the part of `chunk` not yet pushed or dropped, and of the current line in it. */
      let regionStart = 0;
      let lineStart = 0;
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i];
        if (b !== 10 && b !== 13) continue;
        if (b === 10 && afterCR && i === lineStart && heldBytes === 0 && !dropping) {
          afterCR = false;
          lineStart = i + 1;
          starts?.set(line, base + lineStart);
          continue;
        }
        if (dropping || heldBytes + i - lineStart > maxLineBytes) {
          if (!dropping) {
            const error = onTooLong(line);
            if (error) return callback(error);
          }
          // Push what came before the line, drop the line; its break goes out with the next region.
          if (lineStart > regionStart) this.push(chunk.subarray(regionStart, lineStart));
          regionStart = i;
          dropping = false;
        } else if (heldBytes > 0) {
          for (const part of held) this.push(part);
        }
        held = [];
        heldBytes = 0;
        line++;
        afterCR = b === 13;
        lineStart = i + 1;
        starts?.set(line, base + lineStart);
      }
      if (lineStart > regionStart) this.push(chunk.subarray(regionStart, lineStart));
      if (lineStart < chunk.length) {
        afterCR = false;
        if (!dropping) {
          const tail = chunk.subarray(lineStart);
          if (heldBytes + tail.length > maxLineBytes) {
            const error = onTooLong(line);
            if (error) return callback(error);
            dropping = true;
            held = [];
            heldBytes = 0;
          } else {
            held.push(tail);
            heldBytes += tail.length;
          }
        }
      }
      base += chunk.length;
      if (starts) starts.total = base;
      callback();
    },
    flush(callback: TransformCallback) {
      for (const part of held) this.push(part);
      held = [];
      callback();
    },
  });
}

/**
 * Where each line of a stream starts (1-based line → stream offset), for the lines a consumer
 * behind the guard may still ask about: a ring over the lines from the lowest not yet released
 * to the last seen, which grows when the consumer lags by more (bounded by the bytes buffered
 * between the guard and the consumer). Tracking costs a store per line, and only when asked for.
 */
export class LineStarts {
  private ring = new Float64Array(256);
  private mask = 255;
  /** Lowest line still needed, and the last line recorded. */
  private low = 1;
  private high = 1;
  /** Stream bytes the guard has seen: where a line after the last break (the file's end) starts. */
  total = 0;

  set(line: number, offset: number): void {
    if (line - this.low > this.mask) this.grow(line - this.low + 1);
    this.ring[line & this.mask] = offset;
    this.high = line;
  }

  get(line: number): number {
    return line > this.high ? this.total : this.ring[line & this.mask];
  }

  /** Lines before `line` will not be asked about again. */
  release(line: number): void {
    if (line > this.low) this.low = Math.min(line, this.high);
  }

  private grow(span: number): void {
    let size = this.ring.length;
    while (size < span * 2) size *= 2;
    const ring = new Float64Array(size);
    for (let l = this.low; l <= this.high; l++) ring[l & (size - 1)] = this.ring[l & this.mask];
    this.ring = ring;
    this.mask = size - 1;
  }
}
