/**
 * Query mode (REST API v2 through @google-cloud/bigquery) against a local server speaking the
 * jobs.insert / jobs.getQueryResults resources (test/harness/bigquery). The cases at the end also
 * run against real BigQuery, and are registered only when GOOGLE_APPLICATION_CREDENTIALS,
 * BIGQUERY_PROJECT and BIGQUERY_TEST_TABLE are set.
 */
import test from 'ava';
import { inspect } from 'node:util';
import { lastValueFrom, take, toArray, type Observable } from 'rxjs';
import { PipelineStats, RecordError, RxDataError, consume } from '../src/index.js';
import { fromBigQuery, type BigQueryRow } from '../connectors/bigquery/index.js';
import { startLocalBigQuery, TABLES, type LocalBigQuery } from './harness/bigquery/index.js';
import { sleep } from './helpers.js';

let bq: LocalBigQuery;
test.before(async () => {
  bq = await startLocalBigQuery();
});
test.after.always(async () => {
  await bq?.close();
});
test.afterEach.always(() => {
  bq.rest.faults = [];
  bq.rest.denied.clear();
  bq.rest.pendingPolls = 0;
});

const OCCUPANCY_ROWS = 8143;
const collect = <T>(o: Observable<T>): Promise<T[]> => lastValueFrom(o.pipe(toArray()));
const fast = { initialDelayMs: 5, maxDelayMs: 20 };
const resultRequests = (from: number) => bq.rest.log.slice(from).filter((r) => r.method === 'GET' && r.path.includes('/queries/'));

test.serial('pages through the results with page tokens, every row once and in order', async (t) => {
  const from = bq.rest.log.length;
  const rows = await collect(fromBigQuery({ ...bq.connection, query: `SELECT * FROM \`${TABLES.occupancy}\``, pageSize: 1000 }));
  t.is(rows.length, OCCUPANCY_ROWS);
  t.deepEqual(rows.map((r) => r.id), Array.from({ length: OCCUPANCY_ROWS }, (_, i) => i + 1));
  const inserts = bq.rest.log.slice(from).filter((r) => r.method === 'POST' && r.path === '/bigquery/v2/projects/local-project/jobs');
  t.is(inserts.length, 1);
  t.is((inserts[0].body as { configuration: { query: { query: string } } }).configuration.query.query, `SELECT * FROM \`${TABLES.occupancy}\``);
  const pages = resultRequests(from);
  t.is(pages.length, 9);
  t.deepEqual(pages.map((p) => p.query.pageToken), [undefined, ...Array.from({ length: 8 }, (_, i) => `page-${(i + 1) * 1000}`)]);
  t.true(pages.every((p) => p.query.maxResults === '1000'));
});

test.serial('LIMIT, params and location reach the server', async (t) => {
  const from = bq.rest.log.length;
  const rows = await collect(
    fromBigQuery({ ...bq.connection, query: `SELECT * FROM ${TABLES.occupancy} WHERE Occupancy = @o LIMIT 25`, params: { o: 1 }, location: 'EU', pageSize: 10 }),
  );
  t.is(rows.length, 25);
  const insert = bq.rest.log[from].body as { configuration: { query: { queryParameters: { name: string }[] } }; jobReference: { location: string } };
  t.is(insert.configuration.query.queryParameters[0].name, 'o');
  t.is(insert.jobReference.location, 'EU');
  t.is(resultRequests(from).length, 3);
});

test.serial('a job still running (jobComplete: false) is polled until it is done', async (t) => {
  bq.rest.pendingPolls = 2;
  const from = bq.rest.log.length;
  const rows = await collect(fromBigQuery({ ...bq.connection, query: `SELECT * FROM ${TABLES.occupancy} LIMIT 10` }));
  t.is(rows.length, 10);
  t.is(resultRequests(from).length, 3);
});

test.serial('the next page is not fetched while the pipeline is full', async (t) => {
  const from = bq.rest.log.length;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let consumed = 0;
  const subscription = fromBigQuery({ ...bq.connection, query: `SELECT * FROM ${TABLES.occupancy}`, pageSize: 500 })
    .pipe(consume(async () => void (++consumed > 3 && (await gate))))
    .subscribe({ error: () => undefined });
  try {
    // Polled with a generous cap: on a slow machine the first page only takes longer to come.
    for (const end = Date.now() + 10_000; consumed < 4 && Date.now() < end; ) await sleep(10);
    t.is(consumed, 4, 'the sink took three rows and holds the fourth');
    await sleep(300);
    // One page in the buffer, at most one more fetched as the buffer fell below its mark.
    t.true(resultRequests(from).length <= 2, `${resultRequests(from).length} pages fetched`);
  } finally {
    subscription.unsubscribe();
    release();
  }
});

test.serial('429 twice, then the page is served: retried with backoff', async (t) => {
  bq.rest.faults = [
    { route: 'insert', status: 429, times: 2 },
    { route: 'getQueryResults', status: 429, times: 2 },
  ];
  const from = bq.rest.log.length;
  const stats = new PipelineStats();
  const rows: BigQueryRow[] = [];
  await lastValueFrom(fromBigQuery({ ...bq.connection, ...fast, query: `SELECT * FROM ${TABLES.occupancy}`, pageSize: 5000 }).pipe(consume((r) => void rows.push(r), { stats })), {
    defaultValue: undefined,
  });
  t.is(rows.length, OCCUPANCY_ROWS);
  t.is(bq.rest.log.slice(from).filter((r) => r.method === 'POST').length, 3);
  t.is(resultRequests(from).length, 4);
  t.is(stats.get('bigquery')!.extra.retries, 4);
  t.is(stats.get('bigquery')!.extra.pages, 2);
});

test.serial('503 past the retries fails with a clear error naming the job', async (t) => {
  bq.rest.faults = [{ route: 'getQueryResults', status: 503, times: 100 }];
  const error = await t.throwsAsync(collect(fromBigQuery({ ...bq.connection, ...fast, retries: 2, query: `SELECT * FROM ${TABLES.occupancy}` })), { instanceOf: RxDataError });
  t.regex(error!.message, /still failing after retries/);
  t.regex(error!.message, /at job [\w-]+\)/);
});

test.serial('a missing table fails at job creation, naming the query', async (t) => {
  const error = await t.throwsAsync(collect(fromBigQuery({ ...bq.connection, query: 'SELECT * FROM `local-project.sensors.nope`' })), { instanceOf: RxDataError });
  t.regex(error!.message, /not found: .*Table local-project:sensors\.nope/i);
  t.regex(error!.message, /at query "SELECT \* FROM `local-project\.sensors\.nope`"/);
});

test.serial('access denied is a clear error', async (t) => {
  bq.rest.denied.add(TABLES.occupancy);
  const error = await t.throwsAsync(collect(fromBigQuery({ ...bq.connection, query: `SELECT * FROM ${TABLES.occupancy}` })), { instanceOf: RxDataError });
  t.regex(error!.message, /denied access: Access Denied: Table local-project:sensors\.occupancy/);
});

test.serial('an error keeps no credentials: the cause is a sanitised copy without the request (Bearer token)', async (t) => {
  bq.rest.denied.add(TABLES.occupancy);
  const error = await t.throwsAsync(collect(fromBigQuery({ ...bq.connection, query: `SELECT * FROM ${TABLES.occupancy}` })), { instanceOf: RxDataError });
  // The harness's client sends `Authorization: Bearer rxdata-local`; console.error(err) prints util.inspect(err).
  const printed = inspect(error, { depth: 20 });
  t.false(printed.includes('rxdata-local'), 'no token in util.inspect(err)');
  t.false(/Bearer [^*]/.test(printed));
  const cause = error!.cause as Error & { code?: unknown };
  t.is(cause.code, 403, 'the status is kept');
  t.regex(cause.message, /Access Denied/);
});

test.serial('a job that vanished (404 on results) names the job', async (t) => {
  bq.rest.faults = [{ route: 'getQueryResults', status: 404, times: 1, message: 'Not found: Job local-project:gone' }];
  const error = await t.throwsAsync(collect(fromBigQuery({ ...bq.connection, query: `SELECT * FROM ${TABLES.occupancy}` })), { instanceOf: RxDataError });
  t.regex(error!.message, /not found/i);
  t.regex(error!.message, /at job [\w-]+\)/);
});

test.serial('a value that does not fit its type names job, row and column; skip counts it', async (t) => {
  const error = await t.throwsAsync(collect(fromBigQuery({ ...bq.connection, query: `SELECT * FROM ${TABLES.overflow}` })), { instanceOf: RecordError });
  t.regex(error!.message, /1152921504606846976 does not fit INT64/);
  t.regex(error!.message, /at job [\w-]+ row 1 column "big"/);
  const stats = new PipelineStats();
  const rows: BigQueryRow[] = [];
  await lastValueFrom(fromBigQuery({ ...bq.connection, query: `SELECT * FROM ${TABLES.overflow}`, onError: 'skip' }).pipe(consume((r) => void rows.push(r), { stats })), {
    defaultValue: undefined,
  });
  t.deepEqual(rows, [{ id: 0, big: 1 }, { id: 2, big: 3 }]);
  t.is(stats.get('bigquery')!.skipped, 1);
});

test.serial('options: exactly one of query or table', (t) => {
  t.throws(() => fromBigQuery({ ...bq.connection } as never), { instanceOf: TypeError });
  t.throws(() => fromBigQuery({ ...bq.connection, query: 'x', pageSize: 0 }), { instanceOf: RangeError });
});

// Real BigQuery: registered only with credentials, a project and a table to read.
const real = process.env.GOOGLE_APPLICATION_CREDENTIALS && process.env.BIGQUERY_PROJECT && process.env.BIGQUERY_TEST_TABLE;
if (real) {
  const table = process.env.BIGQUERY_TEST_TABLE!;
  const projectId = process.env.BIGQUERY_PROJECT!;
  test.serial('real BigQuery: a query pages with small pages', async (t) => {
    const rows = await collect(fromBigQuery({ projectId, query: `SELECT * FROM \`${table}\` LIMIT 250`, pageSize: 100 }));
    t.is(rows.length, 250);
  });
  test.serial('real BigQuery: teardown mid-query completes', async (t) => {
    const rows = await collect(fromBigQuery({ projectId, query: `SELECT * FROM \`${table}\` LIMIT 50`, pageSize: 10 }).pipe(take(3)));
    t.is(rows.length, 3);
  });
}
