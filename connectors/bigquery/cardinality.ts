/** Cardinality of a BigQuery table read: the table's `numRows` (REST `tables.get`). */
import type { Observable } from 'rxjs';
import { declareCardinality, type Cardinality } from '../../src/cardinality.js';
import { restClient, type BigQueryConnection } from './clients.js';

/** What the count needs from `fromBigQuery`'s table options. */
interface CountableTable extends BigQueryConnection {
  readonly table: string;
  readonly rowRestriction?: string;
  readonly shard?: { readonly count: number };
}

/** `numRows` of `project.dataset.table` (committed rows; the streaming buffer is not counted). */
export async function countTableRows(options: CountableTable): Promise<Cardinality> {
  const m = /^([^.:]+)[.:]([^.]+)\.([^.]+)$/.exec(options.table.replace(/`/g, ''));
  if (!m) return 'unknown';
  const table = restClient(options).dataset(m[2], { projectId: m[1] }).table(m[3]);
  const [metadata] = (await table.getMetadata()) as unknown as [{ numRows?: string | number }];
  return metadata.numRows === undefined ? 'unknown' : Number(metadata.numRows);
}

/**
 * Declares a table read's cardinality when it is the whole table: a `rowRestriction` or a shard of
 * the streams (split unevenly by the server) make it unknown. Query mode is unknown too: the count
 * exists only once the job has run, and each subscription runs a new job.
 */
export function withTableCardinality<T>(options: CountableTable, source: Observable<T>): Observable<T> {
  if (options.rowRestriction || (options.shard && options.shard.count > 1)) return source;
  return declareCardinality(source, () => countTableRows(options).catch((): Cardinality => 'unknown'));
}
