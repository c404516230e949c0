import test from 'ava';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lastValueFrom, map, range, take, toArray } from 'rxjs';
import { PipelineStats, RecordError, consume, fromFiles, writeParquet, type NDArray } from '../src/index.js';
import { mulberry32 } from '../src/random.js';
import { collect, sleep } from './helpers.js';
import { expectedRow, span } from './fixtures/formats/rows.js';

const F = 'test/fixtures/formats';
const dir = mkdtempSync(join(tmpdir(), 'rxdata-parquet-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const ids = (rows: readonly { id: unknown }[]): unknown[] => rows.map((r) => r.id);

/** Descriptors this process holds on `path` (other tests run concurrently on other files). */
const openFds = (path: string): number => {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
};

for (const codec of ['snappy', 'gzip', 'zstd']) {
  test(`reads pyarrow's ${codec} file: 3 row groups, nested struct and list columns, nulls, int64 as numbers`, async (t) => {
    const stats = new PipelineStats();
    const rows = await lastValueFrom(fromFiles(`${F}/rows-${codec}.parquet`, { format: 'parquet' }).pipe(consume(async (r) => r, { stats }), toArray()));
    t.deepEqual(rows, span(0, 300).map(expectedRow));
    t.is(stats.get('fromFiles')?.extra.rowGroups, 3);
  });
}

test('select reads only the chosen columns (fewer bytes from disk)', async (t) => {
  const rows = await collect(fromFiles(`${F}/rows-snappy.parquet`, { format: 'parquet', select: ['label', 'id'] }));
  t.deepEqual(rows[11], { label: 1, id: 11 });
  t.deepEqual(Object.keys(rows[0]), ['label', 'id']);
  await t.throwsAsync(collect(fromFiles(`${F}/rows-snappy.parquet`, { format: 'parquet', select: ['nope'] })), { instanceOf: RecordError, message: /no column 'nope'.*rows-snappy\.parquet/ });
  // A narrow column beside a wide one: only the narrow one's chunks are read.
  const path = join(dir, 'wide.parquet');
  await lastValueFrom(range(0, 4000).pipe(map((i) => ({ i, xs: Float32Array.from({ length: 32 }, (_, j) => i * j) })), writeParquet(path, { rowGroupSize: 1000 })));
  const all = new PipelineStats();
  const some = new PipelineStats();
  await lastValueFrom(fromFiles(path, { format: 'parquet' }).pipe(consume(async (r) => r, { stats: all })));
  await lastValueFrom(fromFiles(path, { format: 'parquet', select: ['i'] }).pipe(consume(async (r) => r, { stats: some })));
  const bytes = (s: PipelineStats): number => s.get('fromFiles')?.extra.bytesRead ?? 0;
  t.true(bytes(some) < bytes(all) / 4, `${bytes(some)} vs ${bytes(all)}`);
});

test('where: row-group statistics prune groups unread, and rows are filtered exactly', async (t) => {
  const stats = new PipelineStats();
  const rows = await lastValueFrom(
    fromFiles<{ id: number; label: number }>(`${F}/rows-zstd.parquet`, { format: 'parquet', where: { id: { gte: 250 }, label: { in: [1, 2] } } }).pipe(consume(async (r) => r, { stats }), toArray()),
  );
  t.deepEqual(ids(rows), [251, 252, 261, 262, 271, 272, 281, 282, 291, 292]);
  const s = stats.get('fromFiles')!;
  t.is(s.extra.rowGroupsPruned, 2);
  t.is(s.extra.rowGroups, 1);
  // Strings compare too; null never matches; a function over statistics prunes without filtering.
  t.deepEqual(ids(await collect(fromFiles<{ id: number }>(`${F}/rows-gzip.parquet`, { format: 'parquet', where: { name: { eq: 'row-120' } } }))), [120]);
  t.deepEqual(ids(await collect(fromFiles<{ id: number }>(`${F}/rows-gzip.parquet`, { format: 'parquet', where: { opt: { lt: 8 } } }))), [1, 2, 3, 4, 5, 6]);
  const seen: number[] = [];
  const picked = await collect(
    fromFiles<{ id: number }>(`${F}/rows-gzip.parquet`, {
      format: 'parquet',
      select: ['id'],
      where: (g) => {
        seen.push(g.index);
        t.is(g.rows, 100);
        return (g.columns.x.max as number) >= 50;
      },
    }),
  );
  t.deepEqual(seen, [0, 1, 2]);
  t.deepEqual(ids(picked), span(200, 300));
});

test("output: 'columns' gives one batch of NDArrays per row group, keeping float32 and int32", async (t) => {
  const batches = await collect(fromFiles(`${F}/rows-snappy.parquet`, { format: 'parquet', output: 'columns' }));
  t.is(batches.length, 3);
  const b = batches[1];
  const x = b.x as NDArray;
  t.true(x.data instanceof Float32Array);
  t.deepEqual(x.shape, [100]);
  t.is(x.data[3], 103 / 4);
  t.true((b.label as NDArray).data instanceof Int32Array);
  t.true((b.id as NDArray).data instanceof Float64Array);
  t.is((b.id as NDArray).data[0], 100);
  const vec = b.vec as NDArray;
  t.true(vec.data instanceof Float32Array);
  t.deepEqual(vec.shape, [100, 4]);
  t.deepEqual([...vec.data.subarray(4, 8)], [101, 102, 103, 104]);
  // Nulls, strings, ragged lists and structs stay arrays of values.
  t.is((b.opt as unknown[])[5], null); // 105 = 7 · 15
  t.is((b.opt as unknown[])[6], 106);
  t.is((b.name as unknown[])[0], 'row-100');
  t.deepEqual((b.point as unknown[])[0], { a: 100, b: -50 });
  // With a where, the columns are filtered too.
  const [only] = await collect(fromFiles(`${F}/rows-snappy.parquet`, { format: 'parquet', output: 'columns', select: ['label'], where: { id: { lt: 5 } } }));
  t.deepEqual([...(only.label as NDArray).data], [0, 1, 2, 3, 4]);
});

test('rowGroupShard splits a file by row group; with file sharding, workers cover every row once', async (t) => {
  const part = async (index: number): Promise<unknown[]> => ids(await collect(fromFiles<{ id: number }>(`${F}/rows-snappy.parquet`, { format: 'parquet', select: ['id'], rowGroupShard: { count: 2, index } })));
  t.deepEqual(await part(0), [...span(0, 100), ...span(200, 300)]);
  t.deepEqual(await part(1), span(100, 200));
  t.throws(() => fromFiles(`${F}/rows-snappy.parquet`, { format: 'parquet', rowGroupShard: { count: 2, index: 2 } }), { instanceOf: RangeError });
  const files = [`${F}/rows-snappy.parquet`, `${F}/rows-gzip.parquet`, `${F}/rows-zstd.parquet`];
  const seen: unknown[] = [];
  for (let w = 0; w < 2; w++) seen.push(...ids(await collect(fromFiles<{ id: number }>(files, { format: 'parquet', select: ['id'], shard: { count: 2, index: w } }))));
  t.is(seen.length, 900);
});

test('streams under demand: take(5) of a 20-row-group file reads one row group; the file handle closes on unsubscribe', async (t) => {
  const path = join(dir, 'big.parquet');
  await lastValueFrom(range(0, 20_000).pipe(map((i) => ({ i, xs: new Float32Array([i, i, i, i, i, i, i, i]) })), writeParquet(path, { rowGroupSize: 1000 })));
  const stats = new PipelineStats();
  const fds = openFds(path);
  const rows = await lastValueFrom(fromFiles<{ i: number }>(path, { format: 'parquet' }).pipe(take(5), consume(async (r) => r.i, { stats }), toArray()));
  t.deepEqual(rows, [0, 1, 2, 3, 4]);
  const s = stats.get('fromFiles')!;
  t.is(s.extra.rowGroups, 1);
  t.true((s.extra.bytesRead ?? 0) < statSync(path).size / 5, `${s.extra.bytesRead} of ${statSync(path).size}`);
  t.is(fds, 0);
  for (let i = 0; i < 100 && openFds(path) > 0; i++) await sleep(10);
  t.is(openFds(path), 0);
  // A slow consumer: row groups are read one at a time as rows are consumed.
  const slow = new PipelineStats();
  let maxAhead = 0;
  let consumed = 0;
  await lastValueFrom(
    fromFiles<{ i: number }>(path, { format: 'parquet', select: ['i'] }).pipe(
      take(3500),
      consume(
        async () => {
          consumed++;
          maxAhead = Math.max(maxAhead, (slow.get('fromFiles')?.extra.rowGroups ?? 0) * 1000 - consumed);
          if (consumed % 500 === 0) await sleep(1);
        },
        { stats: slow },
      ),
    ),
  );
  t.true(maxAhead <= 1000, `read ${maxAhead} rows ahead of the consumer`);
  t.is(slow.get('fromFiles')?.extra.rowGroups, 4);
});

test('writeParquet round trip: nested rows back through our reader, NDArray and typed-array fields as lists', async (t) => {
  const path = join(dir, 'rt.parquet');
  const source = span(0, 250).map((i) => ({ id: i, x: i / 3, xs: new Float32Array([i, -i]), name: `n${i}`, ok: i % 2 === 0, p: { a: i, s: 'q' }, tags: ['a', 'b'].slice(0, i % 3) }));
  const progress = await lastValueFrom(range(0, 250).pipe(map((i) => source[i]), writeParquet(path, { rowGroupSize: 100, codec: 'gzip', types: { id: 'INT32' } }), toArray()));
  t.is(progress.length, 250);
  t.false(existsSync(`${path}.partial`));
  const stats = new PipelineStats();
  const back = await lastValueFrom(fromFiles(path, { format: 'parquet' }).pipe(consume(async (r) => r, { stats }), toArray()));
  t.deepEqual(back, source.map((r) => ({ ...r, xs: [...r.xs] })));
  t.is(stats.get('fromFiles')?.extra.rowGroups, 3);
  // Statistics written: a where prunes.
  const few = await collect(fromFiles<{ id: number }>(path, { format: 'parquet', where: { id: { gte: 240 } } }));
  t.deepEqual(ids(few), span(240, 250));
});

/** A Python with pyarrow, if this machine has one (the test is skipped otherwise): the one the bench and the README's set-up use first. */
const python = [process.env.RXDATA_PYTHON, fileURLToPath(new URL('../.venv/bin/python', import.meta.url)), 'python3'].find(
  (p): p is string => !!p && spawnSync(p, ['-c', 'import pyarrow'], { stdio: 'ignore' }).status === 0,
);
(python ? test : test.skip)('writeParquet output reads back in pyarrow with the same values and types', async (t) => {
  const path = join(dir, 'for-pyarrow.parquet');
  const source = span(0, 30).map((i) => ({ id: BigInt(i), x: i / 4, xs: new Float32Array([i, i + 0.5]), name: `n${i}`, p: { a: i } }));
  await lastValueFrom(range(0, 30).pipe(map((i) => source[i]), writeParquet(path, { rowGroupSize: 7, types: { x: 'FLOAT' } })));
  const script = `import json, sys, pyarrow.parquet as pq
f = pq.ParquetFile(sys.argv[1])
print(json.dumps({"groups": f.metadata.num_row_groups, "schema": [str(f.schema_arrow.field(i).type) for i in range(len(f.schema_arrow))], "rows": f.read().to_pylist()}))`;
  const out = spawnSync(python!, ['-c', script, path], { encoding: 'utf8' });
  t.is(out.status, 0, out.stderr);
  const parsed = JSON.parse(out.stdout) as { groups: number; schema: string[]; rows: unknown[] };
  t.is(parsed.groups, 5);
  t.deepEqual(parsed.schema, ['int64', 'float', 'list<element: float>', 'string', 'struct<a: double>']);
  t.deepEqual(parsed.rows, source.map((r) => ({ ...r, id: Number(r.id), xs: [...r.xs] })));
});

test('fuzz: truncated and mutated Parquet files give rows or a RecordError naming the file, never another error or a hang', async (t) => {
  const random = mulberry32(7);
  const good = readFileSync(`${F}/rows-snappy.parquet`);
  for (let trial = 0; trial < 45; trial++) {
    let bytes: Buffer;
    if (trial % 3 === 0) bytes = good.subarray(0, Math.floor(random() * good.length));
    else if (trial % 3 === 1) {
      bytes = Buffer.from(good);
      for (let k = 0; k < 4; k++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    } else {
      // Mutations in the footer, where the metadata lives.
      bytes = Buffer.from(good);
      for (let k = 0; k < 3; k++) bytes[bytes.length - 9 - Math.floor(random() * 2000)] = Math.floor(random() * 256);
    }
    const path = join(dir, `fuzz-${trial}.parquet`);
    writeFileSync(path, bytes);
    for (const onError of ['fail', 'skip'] as const) {
      try {
        const rows = await collect(fromFiles(path, { format: 'parquet', onError, output: trial % 2 ? 'columns' : 'rows' }));
        t.true(rows.length <= 300);
      } catch (error) {
        t.true(error instanceof RecordError, `trial ${trial}: ${String(error)}`);
        t.true((error as RecordError).message.includes(path), `trial ${trial}: ${(error as Error).message}`);
        t.is(onError, 'fail', `trial ${trial}: ${String(error)}`);
      }
    }
  }
});

test('a bad row group is skipped and counted with onError: skip, the others are read', async (t) => {
  const path = join(dir, 'bad-group.parquet');
  copyFileSync(`${F}/rows-snappy.parquet`, path);
  const bytes = readFileSync(path);
  // Overwrite the start of the file (row group 0's first column chunk) with garbage.
  for (let i = 4; i < 200; i++) bytes[i] = 0xff;
  writeFileSync(path, bytes);
  const stats = new PipelineStats();
  const rows = await lastValueFrom(fromFiles<{ id: number }>(path, { format: 'parquet', onError: 'skip' }).pipe(consume(async (r) => r.id, { stats }), toArray()));
  t.deepEqual(rows, span(100, 300));
  t.is(stats.get('fromFiles')?.skipped, 1);
  const error = await t.throwsAsync(collect(fromFiles(path, { format: 'parquet' })), { instanceOf: RecordError });
  t.regex(error!.message, /bad-group\.parquet row group 0/);
});
