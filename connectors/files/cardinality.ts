/** Cardinality of file sources: fixed-length binary records are counted from file sizes. */
import { stat } from 'node:fs/promises';
import type { Observable } from 'rxjs';
import { declareCardinality, type Cardinality } from '../../src/cardinality.js';
import { listFiles, type FileShard } from './listFiles.js';
import { isGzip, type Compression } from './source.js';

/** What the count needs from `fromFiles`'s options. */
interface CountableOptions {
  readonly format: string;
  readonly shard?: FileShard;
  readonly compression?: Compression;
  readonly recordBytes?: number;
  readonly headerBytes?: number;
  readonly footerBytes?: number;
}

/** Records in this worker's share of the files: Σ ⌊(size − header − footer) / recordBytes⌋; `'unknown'` for gzip. */
export async function countFixedRecords(patterns: string | readonly string[], options: CountableOptions): Promise<Cardinality> {
  const { recordBytes = 0, headerBytes = 0, footerBytes = 0 } = options;
  const files = await listFiles(patterns, { shard: options.shard });
  if (files.some((f) => isGzip(f, options.compression))) return 'unknown';
  let total = 0;
  for (const file of files) total += Math.floor(Math.max(0, (await stat(file)).size - headerBytes - footerBytes) / recordBytes);
  return total;
}

/** Declares the cardinality of a `fromFiles` source when its format allows counting without reading (binary). */
export function withFileCardinality<T>(patterns: string | readonly string[], options: CountableOptions, source: Observable<T>): Observable<T> {
  if (options.format !== 'binary' || !(Number(options.recordBytes) > 0)) return source;
  return declareCardinality(source, () => countFixedRecords(patterns, options).catch((): Cardinality => 'unknown'));
}
