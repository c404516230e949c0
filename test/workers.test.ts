import test from 'ava';
import { lastValueFrom, take, toArray } from 'rxjs';
import { consume } from '../operators/consume.js';
import { RecordError, RxDataError } from '../src/errors.js';
import { PipelineStats } from '../src/stats.js';
import { fromWorkers } from '../src/workers/fromWorkers.js';
import { workerIndexOf } from '../src/workers/protocol.js';
import type { CountingArgs, Counted } from './fixtures/workers/counting.js';
import type { Moved } from './fixtures/workers/moving.js';

const counting = new URL('./fixtures/workers/counting.ts', import.meta.url);
const moving = new URL('./fixtures/workers/moving.ts', import.meta.url);
const plain = new URL('./fixtures/workers/plain.mjs', import.meta.url);
const broken = new URL('./fixtures/workers/broken.ts', import.meta.url);
const reuse = new URL('./fixtures/workers/reuse.ts', import.meta.url);

/** Shared counters: pulls per shard, then heads closed. */
const counters = (workers: number): Int32Array => new Int32Array(new SharedArrayBuffer(4 * (workers + 1)));
const sum = (xs: Int32Array, n: number): number => xs.slice(0, n).reduce((a, b) => a + b, 0);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (up to 30 s: thread exits are slow on a loaded machine) for `cond`; false if it never held. */
async function eventually(cond: () => boolean): Promise<boolean> {
  for (let i = 0; i < 1500 && !cond(); i++) await sleep(20);
  return cond();
}

/** The live thread count `fromWorkers` keeps (decremented on each worker's 'exit' event). */
const threads = (stats: PipelineStats): number | undefined => stats.get('fromWorkers')?.extra.threads;

test.serial('every shard\'s elements arrive exactly once, in order within each shard, and statistics are merged', async (t) => {
  const stats = new PipelineStats();
  const args: CountingArgs = { perShard: 50, floats: 4, counters: counters(3) };
  const out: Counted[] = [];
  await lastValueFrom(fromWorkers<Counted, CountingArgs>(counting, { workers: 3, credit: 2, args }).pipe(consume((x) => void out.push(x), { stats })), { defaultValue: undefined });
  t.is(out.length, 150);
  for (let s = 0; s < 3; s++) {
    const mine = out.filter((x) => x.shard === s);
    t.deepEqual(mine.map((x) => x.i), Array.from({ length: 50 }, (_, i) => i), `shard ${s} in order, each once`);
    t.true(mine.every((x) => x.data instanceof Float32Array && x.data.length === 4 && x.data[0] === x.i));
  }
  const source = stats.get('fromWorkers/fromIterable');
  t.is(source?.in, 150, 'the heads\' source stages, summed over the workers');
  t.is(stats.get('fromWorkers/post')?.out, 150);
  t.is(stats.get('fromWorkers')?.out, 150);
  t.is(sum(args.counters, 3), 150);
  t.true(await eventually(() => threads(stats) === 0), 'every thread exited after completion');
  const names = stats.snapshot().map((s) => s.name);
  t.true(names.indexOf('fromWorkers/fromIterable') < names.indexOf('fromWorkers'), 'the heads\' stages list above fromWorkers');
});

test.serial('pulled − consumed stays within workers · credit + 1 with endless heads and a slow sink', async (t) => {
  const workers = 2;
  const credit = 3;
  const args: CountingArgs = { floats: 16, counters: counters(workers) };
  const stats = new PipelineStats();
  let consumed = 0;
  let worst = 0;
  await lastValueFrom(
    fromWorkers<Counted, CountingArgs>(counting, { workers, credit, args, statsEveryMs: 0 }).pipe(
      take(60),
      consume(
        async () => {
          worst = Math.max(worst, sum(args.counters, workers) - consumed);
          await sleep(3);
          consumed++;
          worst = Math.max(worst, sum(args.counters, workers) - consumed);
        },
        { stats },
      ),
    ),
    { defaultValue: undefined },
  );
  // Each worker: ≤ credit posted and not yet delivered (credit returns as each is delivered);
  // plus the one element running in consume.
  const bound = workers * credit + 1;
  t.true(worst <= bound, `pulled − consumed reached ${worst}, bound ${bound}`);
  t.true(worst >= credit, `the workers did run ahead (${worst})`);
  t.true(await eventually(() => threads(stats) === 0));
  t.true((stats.get('fromWorkers/post')?.blockedMs ?? 0) > 0, 'the workers waited for credit');
});

test.serial('a slow element is posted as soon as it is made; fast ones share a message per burst', async (t) => {
  // Slow: 2 ms of work each, emitted in one synchronous burst while credit lasts. Held to the end
  // of the burst, the first would wait for the others, and its credit with it.
  const slowStats = new PipelineStats();
  const slow: CountingArgs = { perShard: 6, floats: 4, counters: counters(1), busyMs: 2 };
  await lastValueFrom(fromWorkers<Counted, CountingArgs>(counting, { workers: 1, credit: 8, args: slow }).pipe(consume(() => undefined, { stats: slowStats })), { defaultValue: undefined });
  t.is(slowStats.get('fromWorkers/post')?.out, 6);
  t.is(slowStats.get('fromWorkers/post')?.extra.messages, 6, 'one message per slow element');
  // Fast: 300 elements with credit to spare go in a few messages, not 300.
  const fastStats = new PipelineStats();
  const fast: CountingArgs = { perShard: 300, floats: 4, counters: counters(1) };
  await lastValueFrom(fromWorkers<Counted, CountingArgs>(counting, { workers: 1, credit: 400, args: fast }).pipe(consume(() => undefined, { stats: fastStats })), { defaultValue: undefined });
  t.is(fastStats.get('fromWorkers/post')?.out, 300);
  const messages = fastStats.get('fromWorkers/post')?.extra.messages ?? 0;
  t.true(messages >= 1 && messages <= 30, `${messages} messages for 300 fast elements`);
});

test.serial('typed arrays move to the main thread without a copy; views on pooled buffers are copied', async (t) => {
  const stats = new PipelineStats();
  const out: Moved[] = [];
  await lastValueFrom(fromWorkers<Moved, number>(moving, { workers: 1, args: 6, statsEveryMs: 0 }).pipe(consume((x) => void out.push(x), { stats })), { defaultValue: undefined });
  t.deepEqual(out.map((x) => x.k), [0, 1, 2, 3, 4, 5]);
  t.is(out[0].previousByteLength, -1);
  for (const x of out.slice(1)) t.is(x.previousByteLength, 0, `element ${x.k - 1}'s buffer was detached in the worker once posted`);
  for (const x of out) {
    t.is(x.data.byteLength, 1024);
    t.is(x.data[0], x.k);
    t.true(x.poolByteLength > x.pooled.byteLength, 'the worker\'s Buffer was a view on the pool');
    t.is(Buffer.from(x.pooled).toString(), `element ${x.k}`);
    t.is(x.pooled.buffer.byteLength, x.pooled.byteLength, 'only the view\'s bytes came across, not the pool');
  }
  const post = stats.get('fromWorkers/post');
  t.is(post?.extra.copiedBytes, out.reduce((a, x) => a + x.pooled.byteLength, 0));
  t.true((post?.extra.movedBytes ?? 0) >= 6 * 1024);
  // The same array emitted twice: moved the first time, so the second post fails, clearly.
  const error = await t.throwsAsync(lastValueFrom(fromWorkers(reuse, { workers: 1 })));
  t.regex(error!.message, /cannot post an element to the main thread: .*has moved to another thread already/);
  const copied = await lastValueFrom(fromWorkers<Float32Array>(reuse, { workers: 1, transfer: false }).pipe(toArray()));
  t.is(copied.length, 3, 'with transfer: false it is copied each time');
});

test.serial('a RecordError in a worker arrives as a RecordError with its origin and the worker index; the other workers stop', async (t) => {
  const stats = new PipelineStats();
  const args: CountingArgs = { floats: 1, counters: counters(2), failShard: 1, failAt: 7 };
  const error = await t.throwsAsync(lastValueFrom(fromWorkers<Counted, CountingArgs>(counting, { workers: 2, credit: 2, args }).pipe(consume(() => sleep(1), { stats }))));
  t.true(error instanceof RecordError, `got ${String(error)}`);
  t.is((error as RecordError).origin, 'shard-1.csv:8');
  t.regex(error!.message, /^bad record #7 \(at shard-1\.csv:8\) \[worker 1 of 2\]$/);
  t.is(workerIndexOf(error), 1);
  t.regex(error!.stack ?? '', /counting\.ts/, 'the stack is the worker\'s');
  t.true(await eventually(() => threads(stats) === 0), 'every thread ended');
  const started = [0, 1].filter((s) => args.counters[s] > 0).length;
  t.true(started >= 1);
  t.is(args.counters[2], started, 'every head that started closed (the failing one, and the stopped one if it had started)');
});

test.serial('unsubscribing mid-stream stops every head and ends every thread', async (t) => {
  const workers = 3;
  const args: CountingArgs = { floats: 8, counters: counters(workers) };
  const stats = new PipelineStats();
  const subscription = fromWorkers<Counted, CountingArgs>(counting, { workers, credit: 2, args }).pipe(consume(() => sleep(2), { stats })).subscribe();
  t.true(await eventually(() => [0, 1, 2].every((s) => args.counters[s] > 0)), 'every head is running');
  t.is(threads(stats), workers);
  subscription.unsubscribe();
  t.true(await eventually(() => threads(stats) === 0), `threads left: ${threads(stats)}`);
  t.is(args.counters[workers], workers, 'every head\'s generator ran its finally block');
  const pulled = sum(args.counters, workers);
  await sleep(50);
  t.is(sum(args.counters, workers), pulled, 'nothing pulls after teardown');
});

test.serial('each subscription starts fresh workers (cold, re-subscribable)', async (t) => {
  const args: CountingArgs = { perShard: 5, floats: 1, counters: counters(2) };
  const source = fromWorkers<Counted, CountingArgs>(counting, { workers: 2, args });
  const stats = new PipelineStats();
  for (let epoch = 0; epoch < 2; epoch++) {
    const got = await lastValueFrom(source.pipe(consume((x) => `${x.shard}:${x.i}`, { stats }), toArray()));
    t.deepEqual(got.sort(), ['0:0', '0:1', '0:2', '0:3', '0:4', '1:0', '1:1', '1:2', '1:3', '1:4']);
  }
  t.is(args.counters[2], 4, 'four heads ran to their end');
  t.is(stats.get('fromWorkers/fromIterable')?.in, 20, 'statistics add up over epochs');
  t.true(await eventually(() => threads(stats) === 0));
});

test.serial('a plain .mjs head works, and a head that ignores demand is absorbed within maxOvershoot', async (t) => {
  const got = await lastValueFrom(fromWorkers<number, { perShard: number }>(plain, { workers: 2, credit: 1, args: { perShard: 20 } }).pipe(consume((x) => x), toArray()));
  t.deepEqual(got.sort((a, b) => a - b), [...Array.from({ length: 20 }, (_, i) => i), ...Array.from({ length: 20 }, (_, i) => 1000 + i)]);
  const error = await t.throwsAsync(lastValueFrom(fromWorkers<number, { perShard: number }>(plain, { workers: 1, credit: 1, maxOvershoot: 5, args: { perShard: 20 } }).pipe(consume((x) => x))));
  t.regex(error!.message, /after its gate closed \(maxOvershoot 5\)/);
});

test.serial('a module without a pipeline head fails with its path; bad options throw at once', async (t) => {
  const error = await t.throwsAsync(lastValueFrom(fromWorkers(broken, { workers: 1 })));
  t.true(error instanceof RxDataError);
  t.regex(error!.message, /default export must be a pipeline head/);
  t.regex(error!.message, /broken\.ts/);
  t.throws(() => fromWorkers(counting, { workers: 0 }), { instanceOf: RangeError });
  t.throws(() => fromWorkers(counting, { credit: 0 }), { instanceOf: RangeError });
});
