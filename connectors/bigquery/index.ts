/**
 * `rxdata/bigquery`: BigQuery queries and tables as sources with backpressure.
 * Type mapping: see ./types.ts and docs/bigquery.md.
 */
import type { Observable } from 'rxjs';
import { withSignal } from '../../src/abort.js';
import { readQuery, type QueryReadOptions } from './query.js';
import { readTable, type TableReadOptions } from './table.js';
import type { BigQueryColumns, BigQueryRow } from './types.js';

export {
  createReadSession,
  type ReadSessionInfo,
  type ShardSpec,
  type TableReadOptions,
  type TableSessionOptions,
} from './table.js';
export type { QueryReadOptions } from './query.js';
export type { BigQueryConnection, RetryOptions } from './clients.js';
export type { BigQueryValue, BigQueryRow, BigQueryColumns, BigQueryField } from './types.js';

/** Options of {@link fromBigQuery}: a `query`, or a `table` read through the Storage Read API. */
export type FromBigQueryOptions = QueryReadOptions | TableReadOptions;

/**
 * Reads a BigQuery query result or table as a cold Observable that obeys demand.
 *
 * ```
 * query mode:  createQueryJob ─▶ page 1 ─▶ rows…   page 2 (fetched only when the stages below
 *                                                   have room) ─▶ rows… ─▶ complete
 * table mode:  createReadSession (ARROW, N streams, fresh per subscription)
 *                ├─ ReadRows s0 ─┐  Arrow record batches, decoded
 *                ├─ ReadRows s1 ─┼─▶ rows (or column batches) ─▶ buffer ─▶ pipeline
 *                └─ ReadRows sN ─┘  all paused while the buffer is full; a broken stream
 *                                   resumes at its offset; 429/UNAVAILABLE retry with backoff
 * ```
 *
 * Rows come as records (`{ column: value }`); in table mode `output: 'columns'` gives one
 * column batch per Arrow record batch (numeric columns as Float64 NDArrays `[n]`, BOOL as
 * Uint8, the rest as arrays). Type mapping, both modes alike: INT64, FLOAT64, NUMERIC,
 * BIGNUMERIC → number (INT64 past ±2^53 is an error naming row and column); TIMESTAMP → number
 * of ms since the epoch; BOOL → boolean; STRING, JSON, GEOGRAPHY, DATE ('YYYY-MM-DD'),
 * DATETIME, TIME → string; BYTES → Uint8Array; REPEATED → array; RECORD → object;
 * NULL → null (NaN, or 0 for BOOL, in numeric columns).
 *
 * Credentials and project come the way Google's libraries find them (Application Default
 * Credentials); `apiEndpoint` / `storageEndpoint` (+ `insecure`) point at another server.
 * Permission and not-found errors fail with an {@link RxDataError} naming the table or job.
 *
 * @example
 * ```ts
 * fromBigQuery({ table: 'my-project.sensors.occupancy', streams: 4, shard: { count: 2, index: rank } })
 *   .pipe(map((r) => ({ xs: [r.Temperature, r.CO2], ys: r.Occupancy })), batch(64), consume(step));
 * fromBigQuery({ query: 'SELECT x, y FROM `p.d.t` WHERE split = @s', params: { s: 'train' }, pageSize: 5000 });
 * ```
 */
export function fromBigQuery(options: TableReadOptions & { output: 'columns' }): Observable<BigQueryColumns>;
export function fromBigQuery(options: FromBigQueryOptions): Observable<BigQueryRow>;
export function fromBigQuery(options: FromBigQueryOptions): Observable<BigQueryRow | BigQueryColumns> {
  const hasQuery = 'query' in options && typeof options.query === 'string';
  const hasTable = 'table' in options && typeof options.table === 'string';
  if (hasQuery === hasTable) throw new TypeError('fromBigQuery: give exactly one of `query` or `table`');
  if (hasQuery) return withSignal(readQuery(options as QueryReadOptions), options.signal, 'fromBigQuery(query)');
  const table = options as TableReadOptions;
  return withSignal(readTable(table), options.signal, `fromBigQuery(table ${table.table})`);
}
