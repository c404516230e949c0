/** Read sessions of the Storage Read API: a table's rows split into streams, in Arrow format. */
import type { BigQueryReadClient } from '@google-cloud/bigquery-storage';
import { RxDataError } from '../../src/errors.js';
import { readClient, withRetry, type BigQueryConnection, type RetryOptions } from './clients.js';

/** A read session as this connector uses it: share one between workers for exact sharding. */
export interface ReadSessionInfo {
  /** `projects/…/locations/…/sessions/…` */
  readonly name: string;
  /** The session's stream names, in the server's order. */
  readonly streams: readonly string[];
  /** `arrow_schema.serialized_schema`: the Arrow IPC schema message. */
  readonly arrowSchema: Uint8Array;
  /** The server's estimate of the rows the session holds. */
  readonly estimatedRowCount: number;
  /** When the session expires (ms since the epoch), when the server said (a saved pipeline position is void after it). */
  readonly expireTime?: number;
}

export interface TableSessionOptions extends BigQueryConnection, RetryOptions {
  /** `project.dataset.table` (or `project:dataset.table`). */
  table: string;
  /** Columns to read (default all); `a.b` picks a field of a RECORD. */
  selectedFields?: readonly string[];
  /** A SQL filter BigQuery applies before reading, e.g. `Occupancy = 1`. */
  rowRestriction?: string;
  /** Streams to ask for (`maxStreamCount`); BigQuery may give fewer. Default 4. */
  streams?: number;
}

/** `project.dataset.table` → `projects/p/datasets/d/tables/t`. */
export function tablePath(table: string): { path: string; project: string } {
  const m = /^([^.:]+)[.:]([^.]+)\.([^.]+)$/.exec(table.replace(/`/g, ''));
  if (!m) throw new RxDataError(`fromBigQuery: table must be 'project.dataset.table', got '${table}'`);
  return { path: `projects/${m[1]}/datasets/${m[2]}/tables/${m[3]}`, project: m[1] };
}

/** A protobuf bytes field as it arrives (Buffer, Uint8Array, or base64 text with some loaders). */
export function bytesOf(x: unknown): Uint8Array {
  if (x instanceof Uint8Array) return x;
  if (typeof x === 'string') return new Uint8Array(Buffer.from(x, 'base64'));
  return new Uint8Array(0);
}

/**
 * Creates a read session (Arrow format) on a table: create it once and pass it as `session` to
 * every worker so that `shard` splits exactly one set of streams.
 *
 * ```
 * createReadSession ──▶ { name, streams: [s0 s1 s2 s3], arrowSchema }
 *                          worker 0 (shard 0/2): s0 s2     worker 1 (shard 1/2): s1 s3
 * ```
 *
 * @example
 * ```ts
 * const session = await createReadSession({ table: 'p.d.t', streams: 8 });
 * fromBigQuery({ table: 'p.d.t', session, shard: { count: 2, index: rank } });
 * ```
 */
export async function createReadSession(
  options: TableSessionOptions,
  client?: BigQueryReadClient,
  onRetry?: () => void,
): Promise<ReadSessionInfo> {
  const { path, project } = tablePath(options.table);
  const reader = client ?? readClient(options);
  const request = {
    parent: `projects/${options.projectId ?? project}`,
    readSession: {
      table: path,
      dataFormat: 'ARROW' as const,
      readOptions: {
        selectedFields: options.selectedFields ? [...options.selectedFields] : [],
        rowRestriction: options.rowRestriction ?? '',
      },
    },
    maxStreamCount: options.streams ?? 4,
  };
  const [session] = await withRetry(
    // Our retry applies (backoff, counted); google-gax's would double it.
    () => reader.createReadSession(request, { retry: null }),
    `table ${options.table}`,
    'grpc',
    { ...options, onRetry },
  );
  return {
    name: session.name ?? '',
    streams: (session.streams ?? []).map((s) => s.name ?? ''),
    arrowSchema: bytesOf(session.arrowSchema?.serializedSchema),
    estimatedRowCount: Number(session.estimatedRowCount ?? 0),
    expireTime: session.expireTime?.seconds ? Number(session.expireTime.seconds) * 1000 : undefined,
  };
}
