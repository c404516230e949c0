/**
 * The type mapping (docs/bigquery.md), the same through both read paths: a table with a column
 * of every type, read as REST query rows, as Storage Read API Arrow rows, and as Arrow columns.
 */
import test from 'ava';
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import { fromBigQuery, type BigQueryRow } from '../connectors/bigquery/index.js';
import { arrowRows, parseRestValue } from '../connectors/bigquery/types.js';
import { RecordError } from '../src/index.js';
import { startLocalBigQuery, TABLES, type LocalBigQuery } from './harness/bigquery/index.js';

let bq: LocalBigQuery;
test.before(async () => {
  bq = await startLocalBigQuery();
});
test.after.always(async () => {
  await bq?.close();
});

const collect = <T>(o: Observable<T>): Promise<T[]> => lastValueFrom(o.pipe(toArray()));

const expected: BigQueryRow[] = [
  {
    i: 42,
    f: 3.5,
    n: 123.456789012,
    b: true,
    s: 'héllo, wörld',
    by: new Uint8Array([0, 1, 2, 255]),
    d: '2024-02-29',
    ts: Date.UTC(2024, 1, 29, 12, 30, 45, 123),
    arr: [1, 2, 3],
    rec: { x: 1.25, tags: ['a', 'b'] },
  },
  { i: -9007199254740991, f: -1e-10, n: -42.5, b: false, s: '', by: new Uint8Array(0), d: '1970-01-01', ts: 0, arr: [], rec: { x: null, tags: [] } },
  { i: null, f: null, n: null, b: null, s: null, by: null, d: null, ts: null, arr: [], rec: null },
];

test('query rows (REST) follow the mapping', async (t) => {
  const rows = await collect(fromBigQuery({ ...bq.connection, query: `SELECT * FROM ${TABLES.types}` }));
  t.deepEqual(rows, expected);
});

test('table rows (Arrow) follow the same mapping', async (t) => {
  const rows = await collect(fromBigQuery({ ...bq.connection, table: TABLES.types, streams: 1 }));
  t.deepEqual(rows, expected);
});

test('table columns: numbers as Float64 NDArrays (null → NaN), BOOL as Uint8, the rest as arrays', async (t) => {
  const [columns] = await collect(fromBigQuery({ ...bq.connection, table: TABLES.types, streams: 1, output: 'columns' }));
  const numeric = (name: string) => columns[name] as { data: Float64Array; shape: number[] };
  t.deepEqual(Object.keys(columns), ['i', 'f', 'n', 'b', 's', 'by', 'd', 'ts', 'arr', 'rec']);
  for (const name of ['i', 'f', 'n', 'ts']) {
    t.true(numeric(name).data instanceof Float64Array, name);
    t.deepEqual(numeric(name).shape, [3]);
    t.deepEqual([...numeric(name).data.subarray(0, 2)], [expected[0][name], expected[1][name]]);
    t.true(Number.isNaN(numeric(name).data[2]));
  }
  const b = columns.b as { data: Uint8Array; shape: number[] };
  t.deepEqual([...b.data], [1, 0, 0]);
  for (const name of ['s', 'by', 'd', 'arr', 'rec']) t.deepEqual(columns[name], expected.map((r) => r[name]), name);
});

test('REST values: parse errors name the place; TIMESTAMP in seconds also accepted', (t) => {
  const where = () => 'job j row 3 column "x"';
  t.is(parseRestValue({ name: 'x', type: 'TIMESTAMP' }, '1.5E9', where), 1.5e12);
  t.is(parseRestValue({ name: 'x', type: 'TIMESTAMP' }, '1500000000000001', where), 1500000000000.001);
  t.is(parseRestValue({ name: 'x', type: 'INTEGER' }, '-7', where), -7);
  t.is(parseRestValue({ name: 'x', type: 'FLOAT' }, 'Infinity', where), Infinity);
  t.is(parseRestValue({ name: 'x', type: 'DATETIME' }, '2024-01-02T03:04:05.123456', where), '2024-01-02T03:04:05.123456');
  const error = t.throws(() => parseRestValue({ name: 'x', type: 'INT64' }, 'abc', where), { instanceOf: RecordError });
  t.regex(error.message, /value "abc" does not fit INT64 \(at job j row 3 column "x"\)/);
  t.throws(() => parseRestValue({ name: 'x', type: 'BOOL' }, 'yes', where), { instanceOf: RecordError });
});

test('Arrow DATETIME (zoneless timestamp) and TIME become BigQuery-style text', async (t) => {
  const arrow = await import('apache-arrow');
  const us = BigInt(Date.UTC(2024, 0, 2, 3, 4, 5)) * 1000n + 123456n;
  const fields = [new arrow.Field('dt', new arrow.TimestampMicrosecond(), true), new arrow.Field('tm', new arrow.TimeMicrosecond(), true)];
  const children = [
    arrow.makeData({ type: new arrow.TimestampMicrosecond(), length: 1, data: new BigInt64Array([us]) }),
    arrow.makeData({ type: new arrow.TimeMicrosecond(), length: 1, data: new BigInt64Array([(3n * 3600n + 4n * 60n + 5n) * 1_000_000n + 500n]) }),
  ];
  const schema = new arrow.Schema(fields);
  const batch = new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(fields), length: 1, nullCount: 0, children }));
  t.deepEqual(arrowRows(batch, () => ''), [{ dt: '2024-01-02T03:04:05.123456', tm: '03:04:05.000500' }]);
});
