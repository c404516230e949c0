import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, take, toArray } from 'rxjs';
import * as arrow from 'apache-arrow';
import { PipelineStats, RecordError, consume, fromFiles, type NDArray } from '../src/index.js';
import { mulberry32 } from '../src/random.js';
import { collect } from './helpers.js';
import { expectedRow, span } from './fixtures/formats/rows.js';

const F = 'test/fixtures/formats';
const dir = mkdtempSync(join(tmpdir(), 'rxdata-arrow-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

for (const file of ['rows.feather', 'rows-zstd.feather', 'rows-lz4.feather', 'rows.arrows']) {
  test(`reads pyarrow's ${file} record batch by record batch: structs, lists, nulls, int64 as numbers`, async (t) => {
    const stats = new PipelineStats();
    const rows = await lastValueFrom(fromFiles(`${F}/${file}`, { format: 'arrow' }).pipe(consume(async (r) => r, { stats }), toArray()));
    t.deepEqual(rows, span(0, 300).map(expectedRow));
    t.is(stats.get('fromFiles')?.extra.recordBatches, 3);
  });
}

test("select, where and output: 'columns' (one batch of NDArrays per record batch)", async (t) => {
  const rows = await collect(fromFiles(`${F}/rows.feather`, { format: 'arrow', select: ['id', 'name'], where: { label: { eq: 3 }, id: { lt: 40 } } }));
  t.deepEqual(rows, [3, 13, 23, 33].map((i) => ({ id: i, name: `row-${i}` })));
  const batches = await collect(fromFiles(`${F}/rows.arrows`, { format: 'arrow', output: 'columns' }));
  t.is(batches.length, 3);
  const b = batches[2];
  t.true((b.x as NDArray).data instanceof Float32Array);
  t.true((b.label as NDArray).data instanceof Int32Array);
  t.true((b.id as NDArray).data instanceof Float64Array);
  t.is((b.id as NDArray).data[0], 200);
  t.deepEqual((b.vec as NDArray).shape, [100, 4]);
  t.deepEqual((b.point as unknown[])[1], { a: 201, b: -100.5 });
  await t.throwsAsync(collect(fromFiles(`${F}/rows.feather`, { format: 'arrow', select: ['nope'] })), { instanceOf: RecordError, message: /no column 'nope'/ });
});

test('pulls record batches under demand: take(3) reads one batch of a many-batch file', async (t) => {
  const path = join(dir, 'many.arrow');
  const batches = span(0, 50).map((b) => arrow.tableFromArrays({ i: Int32Array.from(span(b * 100, b * 100 + 100)) }).batches[0]);
  writeFileSync(path, arrow.tableToIPC(new arrow.Table(batches), 'file'));
  const stats = new PipelineStats();
  const rows = await lastValueFrom(fromFiles<{ i: number }>(path, { format: 'arrow' }).pipe(take(3), consume(async (r) => r.i, { stats }), toArray()));
  t.deepEqual(rows, [0, 1, 2]);
  t.is(stats.get('fromFiles')?.extra.recordBatches, 1);
});

test('fuzz: truncated and mutated Arrow files give rows or a RecordError naming the file, never another error or a hang', async (t) => {
  const random = mulberry32(11);
  for (const [name, good] of [
    ['file', readFileSync(`${F}/rows.feather`)],
    ['stream', readFileSync(`${F}/rows.arrows`)],
  ] as const) {
    for (let trial = 0; trial < 30; trial++) {
      let bytes: Buffer;
      if (trial % 2 === 0) bytes = good.subarray(0, Math.floor(random() * good.length));
      else {
        bytes = Buffer.from(good);
        for (let k = 0; k < 4; k++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      }
      const path = join(dir, `fuzz-${name}-${trial}.arrow`);
      writeFileSync(path, bytes);
      try {
        const rows = await collect(fromFiles(path, { format: 'arrow', output: trial % 4 === 1 ? 'columns' : 'rows' }));
        t.true(rows.length <= 300);
      } catch (error) {
        t.true(error instanceof RecordError, `${name} trial ${trial}: ${String(error)}`);
        t.true((error as RecordError).message.includes(path), `${name} trial ${trial}: ${(error as Error).message}`);
      }
    }
  }
});
