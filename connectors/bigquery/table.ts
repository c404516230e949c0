/**
 * Table mode of `fromBigQuery`: the Storage Read API, the streams of one read session read in
 * parallel (session.ts makes the session, readRows.ts opens the calls, tableStreams.ts reads them).
 */
import type { Observable } from 'rxjs';
import type { OnError } from '../../src/errors.js';
import { pushSource } from '../../src/pushSource.js';
import { withTableCardinality } from './cardinality.js';
import { tablePath, type ReadSessionInfo, type TableSessionOptions } from './session.js';
import { readStreams, type ShardSpec } from './tableStreams.js';
import { resumableTable, type BigQueryResume } from './resume.js';
import type { BigQueryColumns, BigQueryRow } from './types.js';

export { createReadSession, tablePath, type ReadSessionInfo, type TableSessionOptions } from './session.js';
export type { ShardSpec } from './tableStreams.js';

export interface TableReadOptions extends TableSessionOptions {
  /** Read only this worker's share of the streams. */
  shard?: ShardSpec;
  /** A session made by {@link createReadSession} (default: a fresh one per subscription). */
  session?: ReadSessionInfo;
  /** `'rows'` (default): one record per row; `'columns'`: one column batch per Arrow record batch. */
  output?: 'rows' | 'columns';
  /** Rows (or column batches) held before the streams are paused. Default 1024 (columns: 8); `'auto'`: tuned up to 4096 (columns: 64; docs/autotune.md). */
  highWaterMark?: number | 'auto';
  /**
   * A value that does not fit its type: fail (default) or skip the row and count it (with
   * `output: 'columns'` the value becomes NaN, counted the same way).
   */
  onError?: OnError;
  /** The stage's name in pipeline statistics. Default `bigquery`. */
  name?: string;
  /** Aborting fails the source with an `AbortError` naming it and cancels every ReadRows call. */
  signal?: AbortSignal;
}

/** Reads a table through the Storage Read API (see `fromBigQuery`). */
export function readTable(options: TableReadOptions & { output: 'columns' }): Observable<BigQueryColumns>;
export function readTable(options: TableReadOptions): Observable<BigQueryRow>;
export function readTable(options: TableReadOptions): Observable<BigQueryRow | BigQueryColumns> {
  const { output = 'rows', onError = 'fail', retries = 5 } = options;
  const shard = options.shard ?? { count: 1, index: 0 };
  const { count, index } = shard;
  if (!(Number.isInteger(count) && count >= 1 && Number.isInteger(index) && index >= 0 && index < count)) {
    throw new RangeError(`fromBigQuery: shard must have integers 0 <= index < count, got ${JSON.stringify(shard)}`);
  }
  tablePath(options.table);
  const highWaterMark = options.highWaterMark ?? (output === 'columns' ? 8 : 1024);
  const read = { ...options, output, onError, retries, shard };
  /** A resumable pipeline's context for the subscription being opened (resume.ts). */
  let handedOff: BigQueryResume | undefined;
  const name = options.name ?? 'bigquery';
  const source = resumableTable(
    pushSource<BigQueryRow | BigQueryColumns>(
      (sink) => {
        const resume = handedOff;
        handedOff = undefined;
        return readStreams(sink, { ...read, resume });
      },
      {
        highWaterMark,
        ...(highWaterMark === 'auto' && output === 'columns' ? { maxHighWaterMark: 64 } : {}),
        overflow: 'pause',
        name,
      },
    ),
    name,
    (resume) => (handedOff = resume),
  );
  return withTableCardinality(options, source);
}
