/**
 * The streams of one read session read in parallel into a push sink: all open at once, all
 * paused while the sink is full and resumed when it wants more, a broken stream resumed at its
 * offset after a backoff, every call cancelled on teardown.
 */
import { RecordError, RxDataError, type OnError } from '../../src/errors.js';
import type { PushSink } from '../../src/pushSource.js';
import { backoff, classify, clearError, readClient, type BigQueryConnection, type RetryOptions } from './clients.js';
import { readRowsOpener, type OpenReadRows, type ReadRowsCall, type ReadRowsResponse } from './readRows.js';
import { bytesOf, createReadSession, type ReadSessionInfo, type TableSessionOptions } from './session.js';
import { arrowColumns, arrowRows, decodeArrowBatch, type BigQueryColumns, type BigQueryRow } from './types.js';
import type { BigQueryResume } from './resume.js';

/** Which streams of the session this worker reads: those with `i % count === index`. */
export interface ShardSpec {
  readonly count: number;
  readonly index: number;
}

/** What the reader needs, options resolved. */
export interface StreamReadOptions extends TableSessionOptions, BigQueryConnection, RetryOptions {
  readonly session?: ReadSessionInfo;
  readonly output: 'rows' | 'columns';
  readonly onError: OnError;
  readonly retries: number;
  readonly shard: ShardSpec;
  /** In a resumable pipeline: where to start, and where to note each row's position (resume.ts). */
  readonly resume?: BigQueryResume;
}

/** One stream of the session being read. */
interface StreamState {
  readonly name: string;
  readonly index: number;
  /** Rows received so far: where a resumed ReadRows starts (`offset`). */
  offset: number;
  /** Rows at the start of the stream to drop: emitted before the checkpoint a restored stream resumes from. */
  drop: number;
  /** Rows of the batch being delivered emitted so far. */
  emittedInBatch: number;
  /** Where the current ReadRows call started (a restored offset, or 0): positions are noted from it. */
  readonly start: number;
  /** Consecutive failures without a row in between. */
  failures: number;
  /** The live call; replaced when the stream resumes. */
  call: ReadRowsCall | undefined;
  done: boolean;
}

type Output = BigQueryRow | BigQueryColumns;

/** Starts reading the session's streams (this shard's) into `sink`; returns the teardown. */
export function readStreams(sink: PushSink<Output>, options: StreamReadOptions): () => void {
  const { table, output, onError, retries, shard } = options;
  const extra = sink.stats.extra;
  extra.retries = 0;
  extra.resumes = 0;
  extra.activeStreams = 0;
  extra.rows = 0;
  extra.pauses = 0;
  const client = readClient(options);
  const states: StreamState[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let paused = false;
  let failed = false;
  let remaining = 0;
  const live = (): boolean => !failed && !sink.signal.aborted;

  const cancelAll = (): void => {
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    for (const s of states) {
      const call = s.call;
      s.call = undefined;
      if (call && !s.done) call.cancel();
    }
  };
  const fail = (error: unknown): void => {
    if (!live()) return;
    failed = true;
    cancelAll();
    sink.error(error);
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

  /** The rows (or column batch) of one response into the sink; a bad batch fails the read. */
  const deliver = (session: ReadSessionInfo, s: StreamState, response: ReadRowsResponse): void => {
    const bytes = bytesOf(response.arrowRecordBatch?.serializedRecordBatch);
    if (bytes.length === 0) return;
    const skip = onError === 'skip' ? (error: unknown) => sink.stats.skip(error) : undefined;
    try {
      for (const batch of decodeArrowBatch(session.arrowSchema, bytes)) {
        const base = s.offset;
        const where = (row: number, column: string): string =>
          `table ${table} stream ${s.index} row ${base + row} column "${column}"`;
        s.offset += batch.numRows;
        extra.rows += batch.numRows;
        const resume = options.resume;
        if (output === 'columns') {
          const columns = arrowColumns(batch, where, skip);
          resume?.tag(columns, s.index, s.offset, 0);
          sink.next(columns);
        } else {
          for (const row of arrowRows(batch, where, skip)) {
            if (resume) {
              // Positions count rows emitted since the batch's start: bad rows skipped are skipped again.
              if (s.drop > 0) {
                s.drop--;
                s.emittedInBatch++;
                continue;
              }
              resume.tag(row, s.index, base, ++s.emittedInBatch);
            }
            sink.next(row);
          }
          s.emittedInBatch = 0;
        }
      }
    } catch (error) {
      if (error instanceof RecordError) throw error;
      const at = `table ${table} stream ${s.index} offset ${s.offset}`;
      throw new RecordError(`undecodable Arrow record batch: ${String(error)}`, at, { cause: error });
    }
  };

  /** Opens (or re-opens, at its offset) one stream's ReadRows call. */
  const open = (openReadRows: OpenReadRows, session: ReadSessionInfo, s: StreamState): void => {
    extra.activeStreams++;
    const call = openReadRows(s.name, s.offset);
    s.call = call;
    // One terminal event per call: a replaced or cancelled call is ignored from then on.
    const current = (): boolean => s.call === call && live();
    call.on('data', (response: ReadRowsResponse) => {
      if (!current()) return;
      s.failures = 0;
      try {
        deliver(session, s, response);
      } catch (error) {
        fail(error);
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
        fail(clearError(error, kind, `table ${table} stream ${s.index} offset ${s.offset}`));
        return;
      }
      // Resume where the stream broke: ReadRows' offset is the rows received on this stream.
      extra.resumes++;
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (live()) open(openReadRows, session, s);
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

  const run = async (): Promise<void> => {
    const restored = options.resume?.restored;
    const session = restored?.session ?? options.session ?? (await createReadSession(options, client, () => extra.retries++));
    options.resume?.onSession(session);
    const openReadRows = await readRowsOpener(client);
    if (sink.signal.aborted) return;
    if (session.arrowSchema.length === 0 && session.streams.length > 0) {
      const message = 'BigQuery read session has no Arrow schema (was it created with dataFormat ARROW?)';
      throw new RxDataError(message, `table ${table}`);
    }
    session.streams.forEach((name, index) => {
      if (index % shard.count !== shard.index) return;
      const at = restored?.streams[index];
      states.push({ name, index, offset: at?.offset ?? 0, start: at?.offset ?? 0, drop: at?.emitted ?? 0, emittedInBatch: 0, failures: 0, call: undefined, done: false });
    });
    extra.streams = states.length;
    remaining = states.length;
    if (states.length === 0) return sink.complete();
    for (const s of states) open(openReadRows, session, s);
  };
  run().catch(fail);
  return () => {
    cancelAll();
    // A client we made is ours to close (its channel would keep the process alive).
    if (!options.readClient) void client.close().catch(() => undefined);
  };
}
