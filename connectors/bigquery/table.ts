/**
 * Table mode: the Storage Read API, with the streams of one read session read in parallel.
 */
import type { BigQueryReadClient } from '@google-cloud/bigquery-storage';
import * as grpc from '@grpc/grpc-js';
import type { Observable } from 'rxjs';
import { RecordError, RxDataError, type OnError } from '../../src/errors.js';
import { pushSource, type PushSink } from '../../src/pushSource.js';
import { backoff, classify, clearError, readClient, withRetry, type BigQueryConnection, type RetryOptions } from './clients.js';
import { withTableCardinality } from './cardinality.js';
import { arrowColumns, arrowRows, decodeArrowBatch, type BigQueryColumns, type BigQueryRow } from './types.js';

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
}

/** Which streams of the session this worker reads: those with `i % count === index`. */
export interface ShardSpec {
  readonly count: number;
  readonly index: number;
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
function bytesOf(x: unknown): Uint8Array {
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
export async function createReadSession(options: TableSessionOptions, client?: BigQueryReadClient, onRetry?: () => void): Promise<ReadSessionInfo> {
  const { path, project } = tablePath(options.table);
  const reader = client ?? readClient(options);
  const parent = `projects/${options.projectId ?? project}`;
  const [session] = await withRetry(
    () =>
      reader.createReadSession(
        {
          parent,
          readSession: {
            table: path,
            dataFormat: 'ARROW',
            readOptions: { selectedFields: options.selectedFields ? [...options.selectedFields] : [], rowRestriction: options.rowRestriction ?? '' },
          },
          maxStreamCount: options.streams ?? 4,
        },
        // Our retry applies (backoff, counted); google-gax's would double it.
        { retry: null },
      ),
    `table ${options.table}`,
    'grpc',
    { ...options, onRetry },
  );
  const streams = (session.streams ?? []).map((s) => s.name ?? '');
  return {
    name: session.name ?? '',
    streams,
    arrowSchema: bytesOf(session.arrowSchema?.serializedSchema),
    estimatedRowCount: Number(session.estimatedRowCount ?? 0),
  };
}

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
}

/** One stream of the session being read. */
interface StreamState {
  readonly name: string;
  readonly index: number;
  /** Rows received so far: where a resumed ReadRows starts (`offset`). */
  offset: number;
  /** Consecutive failures without a row in between. */
  failures: number;
  /** The live call; replaced when the stream resumes. */
  call: ReadRowsCall | undefined;
  done: boolean;
}

/** What a ReadRows call gives back, whichever way it was made. */
interface ReadRowsCall {
  on(event: 'data', listener: (response: ReadRowsResponse) => void): unknown;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
  cancel(): void;
}

interface ReadRowsResponse {
  arrowRecordBatch?: { serializedRecordBatch?: unknown } | null;
}

type OpenReadRows = (readStream: string, offset: number) => ReadRowsCall;

/**
 * How this connector opens ReadRows. Preferably straight on the client's grpc-js stub (same
 * channel, credentials and decoding): google-gax's wrapper adds three more buffers of 16
 * responses per stream (duplexify, retry-request's pass-through): measured, a paused stream let
 * about 110 responses leave the server instead of 32. Falls back to the wrapper without a stub.
 */
async function readRowsOpener(client: BigQueryReadClient): Promise<OpenReadRows> {
  const viaGax: OpenReadRows = (readStream, offset) =>
    // google-gax's retries off (retry-request would re-send before the first response, after
    // seconds of its own backoff): ours resume at the offset and are counted.
    client.readRows({ readStream, offset }, { retry: null, retryRequestOptions: { retries: 0, noResponseRetries: 0 } }) as unknown as ReadRowsCall;
  try {
    await client.initialize();
    const stub = (await (client as unknown as { bigQueryReadStub?: Promise<Record<string, unknown>> }).bigQueryReadStub) as Record<string, unknown> | undefined;
    const readRows = stub?.readRows;
    if (typeof readRows !== 'function') return viaGax;
    return (readStream, offset) => {
      const metadata = new grpc.Metadata();
      // The routing header google-gax would add: BigQuery routes ReadRows by stream.
      metadata.set('x-goog-request-params', `read_stream=${encodeURIComponent(readStream)}`);
      return (readRows as (request: object, metadata: grpc.Metadata) => ReadRowsCall).call(stub, { readStream, offset }, metadata);
    };
  } catch {
    return viaGax;
  }
}

/** Reads a table through the Storage Read API (see `fromBigQuery`). */
export function readTable(options: TableReadOptions & { output: 'columns' }): Observable<BigQueryColumns>;
export function readTable(options: TableReadOptions): Observable<BigQueryRow>;
export function readTable(options: TableReadOptions): Observable<BigQueryRow | BigQueryColumns> {
  const { output = 'rows', onError = 'fail', retries = 5 } = options;
  const shard = options.shard ?? { count: 1, index: 0 };
  if (!(Number.isInteger(shard.count) && shard.count >= 1 && Number.isInteger(shard.index) && shard.index >= 0 && shard.index < shard.count)) {
    throw new RangeError(`fromBigQuery: shard must have integers 0 <= index < count, got ${JSON.stringify(shard)}`);
  }
  tablePath(options.table);
  const highWaterMark = options.highWaterMark ?? (output === 'columns' ? 8 : 1024);
  return withTableCardinality(options, pushSource<BigQueryRow | BigQueryColumns>((sink) => startReading(sink, options, output, onError, retries, shard), {
    highWaterMark,
    ...(highWaterMark === 'auto' && output === 'columns' ? { maxHighWaterMark: 64 } : {}),
    overflow: 'pause',
    name: options.name ?? 'bigquery',
  }));
}

function startReading(
  sink: PushSink<BigQueryRow | BigQueryColumns>,
  options: TableReadOptions,
  output: 'rows' | 'columns',
  onError: OnError,
  retries: number,
  shard: ShardSpec,
): () => void {
  const extra = sink.stats.extra;
  extra.retries = 0;
  extra.resumes = 0;
  extra.activeStreams = 0;
  extra.rows = 0;
  extra.pauses = 0;
  const client = readClient(options);
  const states: StreamState[] = [];
  let paused = false;
  let failed = false;
  const timers = new Set<NodeJS.Timeout>();

  const fail = (error: unknown): void => {
    if (failed || sink.signal.aborted) return;
    failed = true;
    cancelAll();
    sink.error(error);
  };
  const cancelAll = (): void => {
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    for (const s of states) {
      const call = s.call;
      s.call = undefined;
      if (call && !s.done) call.cancel();
    }
  };
  const pauseAll = (): void => {
    if (paused) return;
    paused = true;
    extra.pauses++;
    for (const s of states) s.call?.pause();
  };
  sink.onWantMore(() => {
    paused = false;
    for (const s of states) s.call?.resume();
  });

  const run = async (): Promise<void> => {
    const session = options.session ?? (await createReadSession(options, client, () => extra.retries++));
    const openReadRows = await readRowsOpener(client);
    if (sink.signal.aborted) return;
    if (session.arrowSchema.length === 0 && session.streams.length > 0) {
      throw new RxDataError('BigQuery read session has no Arrow schema (was it created with dataFormat ARROW?)', `table ${options.table}`);
    }
    session.streams.forEach((name, index) => {
      if (index % shard.count === shard.index) states.push({ name, index, offset: 0, failures: 0, call: undefined, done: false });
    });
    extra.streams = states.length;
    if (states.length === 0) return sink.complete();
    let remaining = states.length;
    const where = (s: StreamState, base: number) => (row: number, column: string) => `table ${options.table} stream ${s.index} row ${base + row} column "${column}"`;

    const open = (s: StreamState): void => {
      extra.activeStreams++;
      const call = openReadRows(s.name, s.offset);
      s.call = call;
      // One terminal event per call: a replaced or cancelled call is ignored from then on.
      const current = (): boolean => s.call === call && !failed && !sink.signal.aborted;
      call.on('data', (response: ReadRowsResponse) => {
        if (!current()) return;
        s.failures = 0;
        const bytes = bytesOf(response.arrowRecordBatch?.serializedRecordBatch);
        if (bytes.length === 0) return;
        try {
          for (const batch of decodeArrowBatch(session.arrowSchema, bytes)) {
            const base = s.offset;
            s.offset += batch.numRows;
            extra.rows += batch.numRows;
            const skip = onError === 'skip' ? (error: unknown) => sink.stats.skip(error) : undefined;
            if (output === 'columns') {
              sink.next(arrowColumns(batch, where(s, base), skip));
            } else {
              for (const row of arrowRows(batch, where(s, base), skip)) sink.next(row);
            }
          }
        } catch (error) {
          fail(error instanceof RecordError ? error : new RecordError(`undecodable Arrow record batch: ${String(error)}`, `table ${options.table} stream ${s.index} offset ${s.offset}`, { cause: error }));
          return;
        }
        if (!sink.wantsMore) pauseAll();
      });
      call.on('error', (error: unknown) => {
        if (!current()) return;
        s.call = undefined;
        extra.activeStreams--;
        const kind = classify(error, 'grpc');
        if (kind !== 'retry' || s.failures >= retries) {
          fail(clearError(error, kind, `table ${options.table} stream ${s.index} offset ${s.offset}`));
          return;
        }
        // Resume where the stream broke: ReadRows' offset is the rows received on this stream.
        extra.resumes++;
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (!failed && !sink.signal.aborted) open(s);
        }, backoff(s.failures++, options));
        timers.add(timer);
      });
      call.on('end', () => {
        if (!current()) return;
        s.done = true;
        s.call = undefined;
        extra.activeStreams--;
        if (--remaining === 0) sink.complete();
      });
      if (paused) call.pause();
    };
    for (const s of states) open(s);
  };
  run().catch(fail);
  return () => {
    cancelAll();
    // A client we made is ours to close (its channel would keep the process alive).
    if (!options.readClient) void client.close().catch(() => undefined);
  };
}
