import test from 'ava';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EMPTY, map, take, type Observable } from 'rxjs';
import {
  assertCardinality,
  batch,
  cardinality,
  cardinalitySync,
  cardinalityWithin,
  fit,
  flatMap,
  fromFiles,
  fromIterable,
  range,
  sampleFromDatasets,
  shard,
} from '../src/index.js';
import { declareCardinality } from '../src/kit.js';
import { selectBackend } from '../src/train/backend.js';
import { collect } from './helpers.js';

test('sources declare, our operators derive, others are unknown', (t) => {
  t.is(cardinality(range(10)), 10);
  t.is(cardinality(range(0, Infinity)), 'infinite');
  t.is(cardinality(range(10).pipe(batch(3))), 4);
  t.is(cardinality(range(10).pipe(batch(3, { dropRemainder: true }))), 3);
  t.is(cardinality(range(0, Infinity).pipe(batch(3))), 'infinite');
  t.is(cardinality(range(10).pipe(shard(3, 0))), 4);
  t.is(cardinality(range(10).pipe(shard(3, 2))), 3);
  t.is(cardinality(range(10).pipe(shard(3, 1), batch(2))), 2);
  // Operators that do not declare (RxJS's own, flatMap) make it unknown.
  t.is(cardinality(range(10).pipe(map((x) => x))), 'unknown');
  t.is(cardinality(range(10).pipe(flatMap((x) => [x, x]))), 'unknown');
  t.is(cardinality(fromIterable([1, 2])), 2);
  t.is(cardinality(fromIterable(function* () { yield 1; })), 'unknown');
  t.is(cardinality(EMPTY), 'unknown');
  t.is(cardinality(sampleFromDatasets([range(3), range(4)], { seed: 1 })), 7);
  t.is(cardinality(sampleFromDatasets([range(3), range(0, Infinity)], { seed: 1 })), 'infinite');
  t.is(cardinality(sampleFromDatasets([range(3), fromIterable(function* () { yield 1; })], { seed: 1 })), 'unknown');
  t.is(cardinality(sampleFromDatasets([range(3), range(0, Infinity)], { weights: [1, 0], seed: 1 })), 3, 'a source never drawn does not count');
  t.is(cardinality(sampleFromDatasets([range(3), range(4)], { seed: 1, stopOnEmptyDataset: true })), 'unknown');
});

test('property: declared counts equal what is emitted (batch, dropRemainder, shard)', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.nat(60), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 5 }), fc.nat(4), fc.boolean(), async (n, b, k, i0, dropRemainder) => {
      const i = i0 % k;
      for (const pipeline of [range(n).pipe(batch(b, { dropRemainder })), range(n).pipe(shard(k, i)), range(n).pipe(shard(k, i), batch(b, { dropRemainder }))] as Observable<unknown>[]) {
        t.is(cardinality(pipeline), (await collect(pipeline)).length, `n ${n}, b ${b}, shard ${k}/${i}, dropRemainder ${dropRemainder}`);
      }
    }),
    { seed: 3, numRuns: 60 },
  );
});

test('assertCardinality declares and checks', async (t) => {
  const stated = fromIterable([1, 2, 3]).pipe(assertCardinality(3));
  t.is(cardinality(stated), 3);
  t.is(cardinality(stated.pipe(batch(2))), 2);
  t.deepEqual(await collect(stated), [1, 2, 3]);
  await t.throwsAsync(collect(fromIterable([1, 2]).pipe(assertCardinality(3))), { message: 'assertCardinality: expected 3 elements, the source ended after 2' });
  await t.throwsAsync(collect(fromIterable([1, 2, 3, 4]).pipe(assertCardinality(3))), { message: 'assertCardinality: more than 3 elements' });
  await t.throwsAsync(collect(fromIterable([1]).pipe(assertCardinality('infinite'))), { message: /'infinite' source ended after 1/ });
  t.deepEqual(await collect(range(0, Infinity).pipe(assertCardinality('infinite'), take(2))), [0, 1]);
  t.throws(() => assertCardinality(-1), { instanceOf: RangeError });
});

test('promised cardinalities: derived lazily, awaited with a time limit', async (t) => {
  let asked = 0;
  const remote = declareCardinality(fromIterable([1, 2, 3, 4, 5]), () => {
    asked++;
    return Promise.resolve(5);
  });
  const batched = remote.pipe(batch(2));
  t.is(asked, 0, 'building a pipeline does not ask');
  t.is(cardinalitySync(batched), 'unknown');
  t.is(await cardinality(batched), 3);
  t.is(await cardinalityWithin(batched), 3);
  const never = declareCardinality(fromIterable([1]), () => new Promise<number>(() => undefined));
  t.is(await cardinalityWithin(never, 20), 'unknown');
  const failing = declareCardinality(fromIterable([1]), () => Promise.reject(new Error('down')));
  t.is(await cardinalityWithin(failing), 'unknown');
});

test('fromFiles binary: counted from file sizes (header and footer excluded), per shard', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rxdata-card-'));
  // 3 files of 2-byte header + k records of 4 bytes + 1-byte footer.
  for (const [i, k] of [5, 3, 7].entries()) writeFileSync(join(dir, `part-${i}.bin`), Buffer.alloc(2 + 4 * k + 1));
  const options = { format: 'binary' as const, recordBytes: 4, headerBytes: 2, footerBytes: 1 };
  const all = fromFiles(join(dir, '*.bin'), options);
  t.is(await cardinality(all), 15);
  t.is((await collect(all)).length, 15);
  t.is(await cardinality(all.pipe(batch(4))), 4);
  t.is(await cardinality(fromFiles(join(dir, '*.bin'), { ...options, shard: { count: 2, index: 1 } })), 3);
  t.is(cardinality(fromFiles(join(dir, '*.bin'), { format: 'lines' })), 'unknown');
  t.is(await cardinality(fromFiles(join(dir, 'missing.bin'), options)), 'unknown', 'a listing error is unknown, not a failure');
});

test.serial('fit shows the total steps when the pipeline declares its cardinality', async (t) => {
  await selectBackend('cpu', { log: false });
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [1] })] });
  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
  const lines: string[] = [];
  const stream = Object.assign(new (await import('node:stream')).Writable({ write: (chunk: Buffer, _e, done) => (lines.push(chunk.toString()), done()) }), { isTTY: false });
  const batches = range(64).pipe(
    map((i) => ({ xs: i / 64, ys: 1 - i / 64 })),
    assertCardinality(64),
    batch(16),
    map((b) => ({ xs: { data: Float32Array.from(b.xs.data), shape: [b.xs.shape[0], 1] }, ys: { data: Float32Array.from(b.ys.data), shape: [b.ys.shape[0], 1] } })),
    assertCardinality(4),
  );
  await fit(model, batches, { epochs: 1, progress: { mode: 'lines', stream, intervalMs: 0 } }).history;
  t.true(lines.some((l) => l.includes('step 1/4')), lines.join(''));
  model.dispose();
});
