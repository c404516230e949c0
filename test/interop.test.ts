import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Subject, from, map, take, throwError } from 'rxjs';
import { LimitError, assertCardinality, cardinality, fromDataset, fromIterable, fromReadable, range, toAsyncIterable, toDataset, toReadable, consume } from '../src/index.js';
import { selectBackend } from '../src/train/backend.js';
import type { NDArray } from '../src/types.js';
import { collect, counter, sleep } from './helpers.js';

test.before(async () => {
  await selectBackend('cpu', { log: false });
});

test('toAsyncIterable: for await reads in order; highWaterMark bounds the read-ahead', async (t) => {
  for (const highWaterMark of [0, 1, 4]) {
    const source = counter();
    let consumed = 0;
    let maxAhead = 0;
    for await (const x of toAsyncIterable(fromIterable(source.endless), { highWaterMark })) {
      t.is(x, consumed);
      consumed++;
      maxAhead = Math.max(maxAhead, source.state.pulled - consumed);
      await sleep(0);
      if (consumed === 40) break;
    }
    // The generator may run one step ahead of what it yielded.
    t.log(`pulled − consumed peaked at ${maxAhead}`);
    t.true(maxAhead <= highWaterMark + 1, `highWaterMark ${highWaterMark}: ran ${maxAhead} ahead`);
    await sleep(1);
    t.true(source.state.closed, 'break released the source (the generator finally ran)');
  }
});

test('toAsyncIterable: a throw in the loop body releases the source; a source error is thrown from the loop', async (t) => {
  const source = counter();
  await t.throwsAsync(async () => {
    for await (const x of toAsyncIterable(fromIterable(source.endless))) if (x === 3) throw new Error('body');
  }, { message: 'body' });
  await sleep(1);
  t.true(source.state.closed);
  const seen: number[] = [];
  await t.throwsAsync(async () => {
    for await (const x of toAsyncIterable(from([1, 2]).pipe(map((x) => (x === 2 ? (() => { throw new Error('source'); })() : x))))) seen.push(x);
  }, { message: 'source' });
  t.deepEqual(seen, [1]);
  // Each loop subscribes afresh: cold sources replay.
  const iterable = toAsyncIterable(range(3));
  for (let i = 0; i < 2; i++) {
    const all: number[] = [];
    for await (const x of iterable) all.push(x);
    t.deepEqual(all, [0, 1, 2]);
  }
});

test('toAsyncIterable: a live Subject is delivered; return() unsubscribes it', async (t) => {
  const live = new Subject<number>();
  const iterator = toAsyncIterable(live)[Symbol.asyncIterator]();
  const first = iterator.next();
  live.next(7);
  t.deepEqual(await first, { value: 7, done: false });
  await iterator.return!();
  t.false(live.observed);
  t.deepEqual(await iterator.next(), { value: undefined, done: true });
});

type Batch = { xs: NDArray<Float32Array>; ys: NDArray<Float32Array> };
/** An endless generator of y = 2x − 1 batches of 8 that counts pulls. */
function batches() {
  const state = { pulled: 0, closed: false };
  function* endless(): Generator<Batch> {
    try {
      for (let i = 0; ; i++) {
        state.pulled++;
        const xs = Float32Array.from({ length: 8 }, (_, j) => ((i * 8 + j) % 17) / 17);
        yield { xs: { data: xs, shape: [8, 1] }, ys: { data: xs.map((x) => 2 * x - 1), shape: [8, 1] } };
      }
    } finally {
      state.closed = true;
    }
  }
  return { state, endless };
}

test.serial('toDataset: model.fitDataset trains on it, pulling one batch per step', async (t) => {
  const source = batches();
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [1] })] });
  model.compile({ optimizer: tf.train.sgd(0.3), loss: 'meanSquaredError' });
  const ds = toDataset(fromIterable(source.endless));
  let consumed = 0;
  let maxAhead = 0;
  const tensorsBefore = tf.memory().numTensors;
  const history = await model.fitDataset(ds, {
    epochs: 3,
    batchesPerEpoch: 20,
    verbose: 0,
    callbacks: {
      onBatchEnd: async () => {
        consumed++;
        maxAhead = Math.max(maxAhead, source.state.pulled - consumed);
      },
    },
  });
  t.is(consumed, 60);
  t.log(`pulled − consumed peaked at ${maxAhead}`);
  t.true(maxAhead <= 1, `pulled ran ${maxAhead} ahead of training`);
  const losses = history.history.loss as number[];
  t.true(losses[2] < losses[0], `loss fell: ${losses.join(', ')}`);
  ds.close();
  await sleep(1);
  t.true(source.state.closed, 'close() released the iteration tfjs left open');
  // Only the optimizer's state and the model's weights were added.
  t.true(tf.memory().numTensors - tensorsBefore <= 4, `tensors grew by ${tf.memory().numTensors - tensorsBefore}`);
  model.dispose();
});

test.serial('toDataset: a finite source ends each epoch; size from the cardinality; int32 kept', async (t) => {
  // RxJS's map does not carry a cardinality: assertCardinality states (and checks) it.
  const ds = toDataset(range(10).pipe(map((i) => ({ xs: { data: Int32Array.of(i, i), shape: [2] }, id: i })), assertCardinality(10)));
  t.is(ds.size, 10);
  const seen: number[] = [];
  await ds.forEachAsync((e) => {
    const { xs, id } = e as { xs: tf.Tensor; id: number };
    t.is(xs.dtype, 'int32');
    seen.push(id);
    xs.dispose();
  });
  t.deepEqual(seen, [...Array(10).keys()]);
  // Re-iterable: a second epoch subscribes again.
  t.is((await ds.toArray()).length, 10);
  const failing = toDataset(throwError(() => new Error('upstream')));
  await t.throwsAsync(failing.toArray(), { message: 'upstream' });
});

test.serial('fromDataset: reads a tfjs dataset on demand, tensors copied to arrays and disposed', async (t) => {
  let made = 0;
  const ds = tf.data
    .generator(function* () {
      for (let i = 0; i < 6; i++) {
        made++;
        yield { xs: tf.tensor1d([i, i + 1]), ys: tf.scalar(i, 'int32') };
      }
    })
    .batch(2);
  const before = tf.memory().numTensors;
  const out = await collect(fromDataset<tf.TensorContainer, { xs: NDArray; ys: NDArray }>(ds));
  t.is(out.length, 3);
  t.deepEqual([...out[1].xs.data], [2, 3, 3, 4]);
  t.deepEqual(out[1].xs.shape, [2, 2]);
  t.true(out[2].ys.data instanceof Int32Array);
  t.is(made, 6);
  t.is(tf.memory().numTensors, before, 'no tensor left behind');
  // On demand: take(1) of an array dataset reads only what it needs.
  let pulled = 0;
  const lazy = tf.data.generator(function* () {
    for (let i = 0; ; i++) {
      pulled++;
      yield i;
    }
  });
  t.deepEqual(await collect(fromDataset<number, number>(lazy).pipe(take(3))), [0, 1, 2]);
  t.true(pulled <= 4, `pulled ${pulled}`);
  t.is(cardinality(fromDataset(tf.data.array([1, 2, 3]))), 3, "the dataset's size becomes the cardinality");
  t.deepEqual(await collect(fromDataset(tf.data.array([1, 2, 3]))), [1, 2, 3]);
});

test('toReadable: a pipeline into a slow Writable keeps the source bounded; destroy releases it', async (t) => {
  const source = counter();
  let written = 0;
  let maxAhead = 0;
  const slow = new Writable({
    objectMode: true,
    highWaterMark: 2,
    write(_chunk, _enc, done) {
      written++;
      maxAhead = Math.max(maxAhead, source.state.pulled - written);
      setTimeout(done, written % 10 === 0 ? 1 : 0);
    },
  });
  await pipeline(toReadable(fromIterable(source.endless).pipe(take(200)), { highWaterMark: 4 }), slow);
  t.is(written, 200);
  // Readable buffer (4) + Writable buffer (2) + one being written + one step of the generator.
  t.log(`pulled − consumed peaked at ${maxAhead}`);
  t.true(maxAhead <= 4 + 2 + 2, `ran ${maxAhead} ahead`);
  const endless = counter();
  const readable = toReadable(fromIterable(endless.endless), { highWaterMark: 2 });
  const seen: number[] = [];
  for await (const x of readable) {
    seen.push(x as number);
    if (seen.length === 5) break;
  }
  await sleep(1);
  t.true(endless.state.closed, 'breaking out destroyed the stream and released the source');
  await t.throwsAsync(pipeline(toReadable(throwError(() => new Error('upstream'))), new Writable({ objectMode: true, write: (_c, _e, d) => d() })), { message: 'upstream' });
});

test('fromReadable: the stream is paused while the pipeline is full, read on demand, and destroyed early', async (t) => {
  let produced = 0;
  const make = (limit: number) =>
    new Readable({
      objectMode: true,
      highWaterMark: 4,
      read() {
        this.push(produced < limit ? produced++ : null);
      },
    });
  let consumed = 0;
  let maxAhead = 0;
  const out = await collect(
    fromReadable<number>(() => make(300), { highWaterMark: 8 }).pipe(
      consume(async (x) => {
        consumed++;
        maxAhead = Math.max(maxAhead, produced - consumed);
        if (consumed % 10 === 0) await sleep(1);
        return x;
      }),
    ),
  );
  t.deepEqual(out, [...Array(300).keys()]);
  // Our buffer (8) + the stream's own (4) + a chunk or two in passage.
  t.log(`pulled − consumed peaked at ${maxAhead}`);
  t.true(maxAhead <= 8 + 4 + 2, `ran ${maxAhead} ahead`);
  produced = 0;
  const stream = make(Infinity);
  t.deepEqual(await collect(fromReadable<number>(stream).pipe(take(3))), [0, 1, 2]);
  t.true(stream.destroyed, 'take(3) destroyed the stream');
  await t.throwsAsync(collect(fromReadable(stream)), { message: /already read/ });
  const failing = new Readable({
    read() {
      this.destroy(new Error('disk'));
    },
  });
  await t.throwsAsync(collect(fromReadable(failing)), { message: 'disk' });
});

test('toAsyncIterable: a source that ignores demand fails past maxBuffered instead of growing', async (t) => {
  const iterator = toAsyncIterable(from([...Array(100).keys()]), { maxBuffered: 10 })[Symbol.asyncIterator]();
  t.deepEqual(await iterator.next(), { value: 0, done: false });
  await t.throwsAsync(iterator.next(), { instanceOf: LimitError, message: /pushed more than 10 elements ahead of the reader/ });
  t.deepEqual(await iterator.next(), { value: undefined, done: true });
  // Within the limit, a foreign source is read in full.
  const all: number[] = [];
  for await (const x of toAsyncIterable(from([1, 2, 3]), { maxBuffered: 10 })) all.push(x);
  t.deepEqual(all, [1, 2, 3]);
});
