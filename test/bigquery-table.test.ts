/**
 * Table mode (Storage Read API over gRPC) against a local server speaking
 * google.cloud.bigquery.storage.v1 (test/harness/bigquery). The cases at the end also run against
 * real BigQuery, and are registered only when GOOGLE_APPLICATION_CREDENTIALS, BIGQUERY_PROJECT
 * and BIGQUERY_TEST_TABLE are set.
 */
import test from 'ava';
import { lastValueFrom, take, toArray, type Observable } from 'rxjs';
import { AbortError, PipelineStats, RecordError, RxDataError, consume } from '../src/index.js';
import { createReadSession, fromBigQuery, type BigQueryRow } from '../connectors/bigquery/index.js';
import { startLocalBigQuery, TABLES, type LocalBigQuery } from './harness/bigquery/index.js';
import { sleep } from './helpers.js';

let bq: LocalBigQuery;
test.before(async () => {
  bq = await startLocalBigQuery();
});
test.after.always(async () => {
  await bq?.close();
});
// Faults and logs are shared: run one case at a time.
test.afterEach.always(() => {
  bq.storage.fault = {};
  bq.storage.denied.clear();
  bq.storage.batchRows = 256;
});

const OCCUPANCY_ROWS = 8143;
const collect = <T>(o: Observable<T>): Promise<T[]> => lastValueFrom(o.pipe(toArray()));
const fast = { initialDelayMs: 5, maxDelayMs: 20 };

/** Every id 1..n exactly once. */
function assertEachOnce(t: import('ava').ExecutionContext, rows: readonly BigQueryRow[], n: number): void {
  const seen = new Uint8Array(n + 1);
  let doubled = 0;
  for (const r of rows) if (seen[r.id as number]++ > 0) doubled++;
  t.is(doubled, 0, 'no row doubled');
  t.is(seen.indexOf(0, 1), -1, 'no row lost');
  t.is(rows.length, n);
}

/** Polls `read` until it stops changing (the pipeline has settled). */
async function settled(read: () => number): Promise<number> {
  let last = -1;
  let same = 0;
  for (let i = 0; i < 100 && same < 4; i++) {
    await sleep(100);
    const now = read();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await sleep(10);
}

test.serial('reads every row exactly once across parallel streams, streams interleaved', async (t) => {
  const rows = await collect(fromBigQuery({ ...bq.connection, table: TABLES.occupancy, streams: 4 }));
  assertEachOnce(t, rows, OCCUPANCY_ROWS);
  const session = bq.storage.log.sessions.at(-1)!;
  t.is(session.maxStreamCount, 4);
  const call = bq.storage.log.readRows.at(-1)!;
  t.is(call.routing, `read_stream=${encodeURIComponent(call.stream)}`, 'the routing header google-gax would send');
  t.is(session.parent, 'projects/local-project');
  // Parallel, not one after another: stream 3's first row arrives before stream 0's last.
  const firstOfLast = rows.findIndex((r) => (r.id as number) > (OCCUPANCY_ROWS * 3) / 4 + 1);
  let lastOfFirst = -1;
  rows.forEach((r, i) => (r.id as number) <= OCCUPANCY_ROWS / 4 && (lastOfFirst = i));
  t.true(firstOfLast < lastOfFirst, `stream 3 began at ${firstOfLast}, stream 0 ended at ${lastOfFirst}`);
  t.deepEqual(rows.find((r) => r.id === 1), {
    id: 1,
    date: Date.UTC(2015, 1, 4, 17, 51, 0),
    Temperature: 23.18,
    Humidity: 27.272,
    Light: 426,
    CO2: 721.25,
    HumidityRatio: 0.00479298817650529,
    Occupancy: 1,
  });
});

test.serial('a fresh session per subscription (epochs)', async (t) => {
  const source = fromBigQuery({ ...bq.connection, table: TABLES.occupancy, streams: 2 });
  const before = bq.storage.log.sessions.length;
  t.is((await collect(source)).length, OCCUPANCY_ROWS);
  t.is((await collect(source)).length, OCCUPANCY_ROWS);
  t.is(bq.storage.log.sessions.length, before + 2);
});

test.serial('sharded workers with their own sessions read every row exactly once', async (t) => {
  const parts = await Promise.all([0, 1, 2].map((index) => collect(fromBigQuery({ ...bq.connection, table: TABLES.occupancy, streams: 6, shard: { count: 3, index } }))));
  for (const part of parts) t.true(part.length > 0 && part.length < OCCUPANCY_ROWS);
  assertEachOnce(t, parts.flat(), OCCUPANCY_ROWS);
});

test.serial('sharded workers sharing one session read every row exactly once', async (t) => {
  const session = await createReadSession({ ...bq.connection, table: TABLES.occupancy, streams: 5 });
  t.is(session.streams.length, 5);
  const before = bq.storage.log.sessions.length;
  const parts = await Promise.all([0, 1].map((index) => collect(fromBigQuery({ ...bq.connection, table: TABLES.occupancy, session, shard: { count: 2, index } }))));
  t.is(bq.storage.log.sessions.length, before, 'no new session');
  assertEachOnce(t, parts.flat(), OCCUPANCY_ROWS);
});

test.serial("output: 'columns' gives one column batch per Arrow record batch", async (t) => {
  const batches = await collect(fromBigQuery({ ...bq.connection, table: TABLES.occupancy, streams: 3, output: 'columns', selectedFields: ['id', 'CO2', 'Occupancy'] }));
  t.deepEqual(bq.storage.log.sessions.at(-1)!.selectedFields, ['id', 'CO2', 'Occupancy']);
  let total = 0;
  const ids = new Set<number>();
  for (const b of batches) {
    t.deepEqual(Object.keys(b), ['id', 'CO2', 'Occupancy']);
    const id = b.id as unknown as { data: Float64Array; shape: number[] };
    t.true(id.data instanceof Float64Array);
    t.is(id.shape[0], (b.CO2 as unknown as { shape: number[] }).shape[0]);
    total += id.shape[0];
    for (const v of id.data) ids.add(v);
  }
  t.is(total, OCCUPANCY_ROWS);
  t.is(ids.size, OCCUPANCY_ROWS);
});

test.serial('a slow sink pauses the streams: rows sent stay bounded, the in-flight bound holds', async (t) => {
  const total = bq.tables.get(TABLES.big)!.rowCount;
  // What flow control lets through per stream: the server's write buffer (16 responses), the
  // HTTP/2 window (64 KiB) and grpc-js's read buffer (16): measured 32 responses per stream.
  // Small responses make the bound small beside the table (325,720 rows).
  bq.storage.batchRows = 64;
  const bound = 4 * 40 * 64;
  const stats = new PipelineStats();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let consumed = 0;
  const sessionsBefore = bq.storage.log.sessions.length;
  const sent = () => [...bq.storage.log.rowsSent.entries()].filter(([k]) => k.includes(`/s${sessionsBefore + 1}/`)).reduce((a, [, v]) => a + v, 0);
  const cancelled = () => bq.storage.log.cancelledStreams.filter((k) => k.includes(`/s${sessionsBefore + 1}/`)).length;
  const subscription = fromBigQuery({ ...bq.connection, table: TABLES.big, streams: 4, highWaterMark: 512 })
    .pipe(
      consume(
        async () => {
          // Ten rows, then a consumer that does not come back.
          if (++consumed > 10) await gate;
        },
        { stats },
      ),
    )
    .subscribe({ error: () => undefined });
  try {
    const first = await settled(sent);
    t.true(first > 0);
    t.true(first <= bound, `server sent ${first} of ${total} rows while the sink was stalled`);
    await sleep(500);
    t.true(sent() <= bound, `server sent ${sent()} of ${total} rows while the sink was stalled`);
    t.is(consumed, 11);
    const source = stats.get('bigquery')!;
    // The buffer holds at most the mark plus one response per stream that was in flight.
    t.true(source.maxBuffered <= 512 + 4 * 64, `held ${source.maxBuffered}`);
    t.true((source.extra.pauses ?? 0) >= 1);
  } finally {
    // Teardown cancels every stream: the server sees the calls cancelled.
    subscription.unsubscribe();
    release();
  }
  await until(() => cancelled() >= 4);
  t.is(cancelled(), 4);
});

test.serial('teardown after take() cancels the open streams', async (t) => {
  const session = `/s${bq.storage.log.sessions.length + 1}/`;
  const cancelled = () => bq.storage.log.cancelledStreams.filter((k) => k.includes(session)).length;
  const rows = await collect(fromBigQuery({ ...bq.connection, table: TABLES.big, streams: 3 }).pipe(take(5)));
  t.is(rows.length, 5);
  await until(() => cancelled() >= 3);
  t.is(cancelled(), 3);
});

test.serial('signal: an abort fails the read with an AbortError naming the table and cancels every stream', async (t) => {
  const session = `/s${bq.storage.log.sessions.length + 1}/`;
  const cancelled = () => bq.storage.log.cancelledStreams.filter((k) => k.includes(session)).length;
  const controller = new AbortController();
  let rows = 0;
  const read = lastValueFrom(
    fromBigQuery({ ...bq.connection, table: TABLES.big, streams: 3, signal: controller.signal }).pipe(
      consume(async () => {
        // The streams are open and flowing when the signal aborts.
        if (++rows === 100) controller.abort(new Error('stop'));
        await sleep(0);
      }),
    ),
  );
  const error = await t.throwsAsync(read, { instanceOf: AbortError });
  t.is(error.message, `fromBigQuery(table ${TABLES.big}): aborted`);
  t.is((error.cause as Error).message, 'stop');
  await until(() => cancelled() >= 3);
  t.is(cancelled(), 3);
  t.true(rows < bq.tables.get(TABLES.big)!.rowCount);
});

test.serial('a stream broken mid-read resumes at its offset: no row lost or doubled', async (t) => {
  bq.storage.fault = { breakStream: { stream: 1, row: 1000, code: 14, times: 2 } };
  const stats = new PipelineStats();
  const rows: BigQueryRow[] = [];
  await lastValueFrom(fromBigQuery({ ...bq.connection, ...fast, table: TABLES.occupancy, streams: 4 }).pipe(consume((r) => void rows.push(r), { stats })), { defaultValue: undefined });
  assertEachOnce(t, rows, OCCUPANCY_ROWS);
  const session = bq.storage.log.sessions.length;
  const resumed = bq.storage.log.readRows.filter((r) => r.stream === `projects/local/locations/us/sessions/s${session}/streams/1`);
  t.deepEqual(resumed.map((r) => r.offset), [0, 1000, 1000]);
  t.is(stats.get('bigquery')!.extra.resumes, 2);
});

test.serial('RESOURCE_EXHAUSTED and UNAVAILABLE retry with backoff, then the read succeeds', async (t) => {
  bq.storage.fault = { createSession: { code: 14, times: 2 }, readRows: { code: 8, times: 2, message: 'Quota exceeded' } };
  const stats = new PipelineStats();
  const rows: BigQueryRow[] = [];
  await lastValueFrom(fromBigQuery({ ...bq.connection, ...fast, table: TABLES.occupancy, streams: 2 }).pipe(consume((r) => void rows.push(r), { stats })), { defaultValue: undefined });
  assertEachOnce(t, rows, OCCUPANCY_ROWS);
  const extra = stats.get('bigquery')!.extra;
  t.is(extra.retries, 2, 'session retried twice');
  t.is(extra.resumes, 2, 'two ReadRows calls retried');
});

test.serial('retries give up after `retries` attempts with a clear error', async (t) => {
  bq.storage.fault = { readRows: { code: 8, times: 100 } };
  const error = await t.throwsAsync(collect(fromBigQuery({ ...bq.connection, ...fast, retries: 2, table: TABLES.occupancy, streams: 1 })), { instanceOf: RxDataError });
  t.regex(error!.message, /still failing after retries/);
  t.regex(error!.message, /table local-project\.sensors\.occupancy stream 0/);
});

test.serial('a missing table is a clear error naming the table', async (t) => {
  const error = await t.throwsAsync(collect(fromBigQuery({ ...bq.connection, table: 'local-project.sensors.nope' })), { instanceOf: RxDataError });
  t.regex(error!.message, /not found/i);
  t.regex(error!.message, /at table local-project\.sensors\.nope/);
});

test.serial('a denied table is a clear error naming the table', async (t) => {
  bq.storage.denied.add(TABLES.occupancy);
  const error = await t.throwsAsync(collect(fromBigQuery({ ...bq.connection, table: TABLES.occupancy })), { instanceOf: RxDataError });
  t.regex(error!.message, /denied access/);
  t.regex(error!.message, /table local-project\.sensors\.occupancy/);
});

test.serial('a value that does not fit its type names stream, row and column; skip counts it', async (t) => {
  const error = await t.throwsAsync(collect(fromBigQuery({ ...bq.connection, table: TABLES.overflow, streams: 1 })), { instanceOf: RecordError });
  t.regex(error!.message, /1152921504606846976 does not fit INT64/);
  t.regex(error!.message, /table local-project\.sensors\.overflow stream 0 row 1 column "big"/);
  const stats = new PipelineStats();
  const rows: BigQueryRow[] = [];
  await lastValueFrom(fromBigQuery({ ...bq.connection, table: TABLES.overflow, streams: 1, onError: 'skip' }).pipe(consume((r) => void rows.push(r), { stats })), { defaultValue: undefined });
  t.deepEqual(rows, [{ id: 0, big: 1 }, { id: 2, big: 3 }]);
  t.is(stats.get('bigquery')!.skipped, 1);
});

test.serial("output: 'columns' names the bad value too; skip makes it NaN and counts it", async (t) => {
  const error = await t.throwsAsync(collect(fromBigQuery({ ...bq.connection, table: TABLES.overflow, streams: 1, output: 'columns' })), { instanceOf: RecordError });
  t.regex(error!.message, /stream 0 row 1 column "big"/);
  const stats = new PipelineStats();
  const batches: { big: { data: Float64Array } }[] = [];
  await lastValueFrom(
    fromBigQuery({ ...bq.connection, table: TABLES.overflow, streams: 1, output: 'columns', onError: 'skip' }).pipe(consume((b) => void batches.push(b as never), { stats })),
    { defaultValue: undefined },
  );
  t.deepEqual([...batches[0].big.data], [1, NaN, 3]);
  t.is(stats.get('bigquery')!.skipped, 1);
});

test.serial('bad options fail at once', (t) => {
  t.throws(() => fromBigQuery({ ...bq.connection, table: 'nodots' }), { instanceOf: RxDataError });
  t.throws(() => fromBigQuery({ ...bq.connection, table: TABLES.types, shard: { count: 2, index: 2 } }), { instanceOf: RangeError });
});

// Real BigQuery: registered only with credentials, a project and a table to read.
const real = process.env.GOOGLE_APPLICATION_CREDENTIALS && process.env.BIGQUERY_PROJECT && process.env.BIGQUERY_TEST_TABLE;
if (real) {
  const table = process.env.BIGQUERY_TEST_TABLE!;
  const projectId = process.env.BIGQUERY_PROJECT!;
  test.serial('real BigQuery: parallel streams read as many rows as COUNT(*)', async (t) => {
    const [count] = await collect(fromBigQuery({ projectId, query: `SELECT COUNT(*) AS n FROM \`${table}\`` }));
    const rows = await collect(fromBigQuery({ projectId, table, streams: 4 }));
    t.is(rows.length, count.n as number);
  });
  test.serial('real BigQuery: teardown mid-read completes', async (t) => {
    const rows = await collect(fromBigQuery({ projectId, table, streams: 2 }).pipe(take(3)));
    t.true(rows.length <= 3);
  });
}
