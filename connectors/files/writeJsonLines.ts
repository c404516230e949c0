import type { OperatorFunction } from 'rxjs';
import { FileSink, writerOperator, type WriteProgress, type WriterOptions } from './sink.js';

export interface WriteJsonLinesOptions extends WriterOptions {
  /** `'auto'` (default): gzip when `path` ends in `.gz`. */
  readonly compression?: 'auto' | 'none' | 'gzip';
}

/** Typed arrays as plain arrays (JSON.stringify would write `{"0":…}`), bigints as numbers. */
function replacer(_key: string, value: unknown): unknown {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? Number(v) : v));
  if (typeof value === 'bigint') return Number(value);
  return value;
}

const encoder = new TextEncoder();

/**
 * Writes each element as one line of JSON and emits progress; completes when the file is closed.
 *
 * ```
 * source:   -{a:1}-{a:2}-|
 * file:      {"a":1}\n{"a":2}\n
 * output:   -p1----p2----|        ({ records, bytes, path } after each write)
 * ```
 *
 * A `consume`: the pipeline runs at the disk's pace. Typed arrays become JSON arrays. The file
 * appears under `path` only when the pass completes; on error or unsubscribe it is removed. A
 * file that cannot be opened or written fails the pass with a `WriteError` naming it.
 *
 * @example
 * ```ts
 * await lastValueFrom(fromFiles('raw/*.csv', { format: 'csv' }).pipe(map(clean), writeJsonLines('clean.jsonl.gz')));
 * ```
 */
export function writeJsonLines<T>(path: string, options: WriteJsonLinesOptions = {}): OperatorFunction<T, WriteProgress> {
  const { compression = 'auto' } = options;
  const gzip = compression === 'gzip' || (compression === 'auto' && path.endsWith('.gz'));
  return writerOperator<T>(
    () => [new FileSink(path, gzip)],
    (value) => {
      const text = JSON.stringify(value, replacer);
      if (text === undefined) throw new TypeError('writeJsonLines: element is not JSON-serialisable');
      return encoder.encode(text + '\n');
    },
    { ...options, name: options.name ?? 'writeJsonLines' },
  );
}
