import type { OperatorFunction } from 'rxjs';
import { serializeExample, type ExampleFeatures } from './example.js';
import { FileSink, writerOperator, type WriteProgress, type WriterOptions } from './sink.js';
import { frameRecord } from './tfrecord.js';

export interface WriteTFRecordOptions extends WriterOptions {
  /** Split the records round robin over this many files, `path-00000-of-00004` … Default 1 (just `path`). */
  readonly shards?: number;
  /** `'auto'` (default): gzip when `path` ends in `.gz`. */
  readonly compression?: 'auto' | 'none' | 'gzip';
}

/** The file names of `shards` shards of `path`, TensorFlow style: `path-00000-of-00004`. */
export function shardPaths(path: string, shards: number): string[] {
  if (shards === 1) return [path];
  const pad = (n: number): string => String(n).padStart(5, '0');
  return Array.from({ length: shards }, (_, i) => `${path}-${pad(i)}-of-${pad(shards)}`);
}

/**
 * Writes each element as a TFRecord record (length, masked CRC32C, data, masked CRC32C) and emits
 * progress; completes when every shard is closed. The sink of an offline preprocessing pipeline.
 *
 * ```
 * source:   -a-b-c-|                  (Uint8Array records, or features → tf.train.Example)
 * files:     path-00000-of-00002: a c   path-00001-of-00002: b
 * output:   -p1-p2-p3-|               ({ records, bytes, path } after each write)
 * ```
 *
 * It is a `consume`: the next element is pulled once the previous one is written (at the disk's
 * pace, through a 1 MiB buffer). Files appear under their names only when the pass completes;
 * on error or unsubscribe the handles close and the partial files are removed. A file that
 * cannot be opened or written (a full disk, a path under a regular file) fails the pass with a
 * `WriteError` naming it. Feature objects are serialised with `serializeExample`.
 *
 * @example
 * ```ts
 * await lastValueFrom(rows$.pipe(map((r) => ({ x: r.xs, y: r.ys })), writeTFRecord('out/train.tfrecord', { shards: 4 })));
 * ```
 */
export function writeTFRecord(path: string, options: WriteTFRecordOptions = {}): OperatorFunction<Uint8Array | ExampleFeatures, WriteProgress> {
  const { shards = 1, compression = 'auto' } = options;
  if (!(Number.isInteger(shards) && shards >= 1)) throw new RangeError(`writeTFRecord: shards must be an integer >= 1, got ${shards}`);
  const gzip = compression === 'gzip' || (compression === 'auto' && path.endsWith('.gz'));
  return writerOperator<Uint8Array | ExampleFeatures>(
    () => shardPaths(path, shards).map((p) => new FileSink(p, gzip)),
    (value) => frameRecord(value instanceof Uint8Array ? value : serializeExample(value)),
    { ...options, name: options.name ?? 'writeTFRecord' },
  );
}
