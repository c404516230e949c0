/**
 * A small streamed CSV reader for the demo: lines from disk through node:readline, parsed in
 * blocks with csv-parse, pulled only as the pipeline asks (`fromIterable` over an async generator).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parse } from 'csv-parse/sync';
import type { Observable } from 'rxjs';
import { fromIterable } from '../../src/fromIterable.js';
import { RecordError } from '../../src/errors.js';

/** One optdigits record: 64 pixel counts (0..16) of an 8×8 digit, and its class. */
export interface DigitRow {
  readonly pixels: Float32Array;
  readonly label: number;
}

/** Lines parsed per csv-parse call: one call per line costs more than the parsing itself. */
const BLOCK = 256;

/** The data lines of a CSV file (header skipped) in blocks, with their line numbers for error messages. */
async function* blocks(path: string): AsyncGenerator<{ texts: string[]; lines: number[] }> {
  const reader = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let line = 0;
  let texts: string[] = [];
  let lines: number[] = [];
  try {
    for await (const text of reader) {
      line++;
      if (line === 1 || text.trim() === '') continue;
      texts.push(text);
      lines.push(line);
      if (texts.length === BLOCK) {
        yield { texts, lines };
        texts = [];
        lines = [];
      }
    }
    if (texts.length > 0) yield { texts, lines };
  } finally {
    // Closing on early exit (unsubscribe) releases the file descriptor.
    reader.close();
  }
}

/** Parses a block of optdigits lines; a malformed one is a RecordError naming the file and line. */
function* parseBlock(path: string, texts: string[], lines: number[]): Generator<DigitRow> {
  const records = parse(texts.join('\n'), { relax_column_count: true }) as string[][];
  for (let i = 0; i < records.length; i++) {
    const cells = records[i];
    const at = `${path}:${lines[i]}`;
    if (cells.length !== 65) throw new RecordError(`expected 65 columns, got ${cells.length}`, at);
    const values = cells.map(Number);
    if (values.some((v) => !Number.isFinite(v))) throw new RecordError('non-numeric cell', at);
    yield { pixels: Float32Array.from(values.slice(0, 64)), label: values[64] };
  }
}

/**
 * The rows of an optdigits CSV file as a cold, demand-driven Observable (re-read per subscription).
 *
 * ```
 * file ─readline─▶ line ─csv-parse─▶ { pixels: Float32Array(64), label }
 * ```
 *
 * @example
 * ```ts
 * readDigits('examples/data/optdigits/optdigits.tra.csv').pipe(batch(32));
 * ```
 */
export function readDigits(path: string): Observable<DigitRow> {
  return fromIterable(async function* () {
    for await (const { texts, lines } of blocks(path)) yield* parseBlock(path, texts, lines);
  }, { name: 'readCsv' });
}
