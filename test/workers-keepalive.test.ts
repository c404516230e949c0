import test from 'ava';
import { lastValueFrom, take, takeWhile, toArray } from 'rxjs';
import { consume } from '../operators/consume.js';
import { PipelineStats } from '../src/stats.js';
import { fromWorkers } from '../src/workers/fromWorkers.js';
import type { EpochArgs, Tagged } from './fixtures/workers/epochs.js';

const epochs = new URL('./fixtures/workers/epochs.ts', import.meta.url);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const counters = (): Int32Array => new Int32Array(new SharedArrayBuffer(8));

async function eventually(cond: () => boolean): Promise<boolean> {
  for (let i = 0; i < 1500 && !cond(); i++) await sleep(20);
  return cond();
}
const threads = (stats: PipelineStats): number | undefined => stats.get('fromWorkers')?.extra.threads;

test.serial('keepAliveMs: the next subscription reuses the threads and the head, each run is whole, statistics add up once', async (t) => {
  const args: EpochArgs = { perShard: 6, counters: counters() };
  const source = fromWorkers<Tagged, EpochArgs>(epochs, { workers: 2, credit: 2, keepAliveMs: 60_000, args });
  const stats = new PipelineStats();
  const seen: Set<number>[] = [];
  for (let epoch = 0; epoch < 3; epoch++) {
    const got = await lastValueFrom(source.pipe(consume((x) => x, { stats }), toArray()));
    t.deepEqual(got.map((x) => `${x.shard}:${x.i}`).sort(), ['0:0', '0:1', '0:2', '0:3', '0:4', '0:5', '1:0', '1:1', '1:2', '1:3', '1:4', '1:5'], `epoch ${epoch}: every element once`);
    t.true(got.every((x) => x.data[0] === x.i && x.data.length === 4));
    seen.push(new Set(got.map((x) => x.thread).sort((a, b) => a - b)));
    t.is(threads(stats), 2, 'the threads wait for the next subscription');
  }
  t.deepEqual([...seen[1]], [...seen[0]], 'epoch 1 ran on the threads of epoch 0');
  t.deepEqual([...seen[2]], [...seen[0]]);
  t.is(args.counters[0], 2, 'the head was made once per thread');
  t.is(args.counters[1], 6, 'and subscribed once per thread and run');
  t.is(stats.get('fromWorkers/fromIterable')?.out, 36, 'head statistics: each run counted once');
  t.is(stats.get('fromWorkers/post')?.out, 36);
});

test.serial('keepAliveMs: an unsubscribed run stops its heads, the threads serve the next run from its start, and end once the wait is over', async (t) => {
  const args: EpochArgs = { counters: counters() };
  const stats = new PipelineStats();
  const source = fromWorkers<Tagged, EpochArgs>(epochs, { workers: 2, credit: 2, keepAliveMs: 300, args });
  // At least 10 elements and both workers' first: one thread can start a second before the other
  // (tsx compiles the modules in each), and its elements alone would name only its thread.
  const shards = new Set<number>();
  const first = await lastValueFrom(source.pipe(takeWhile((x, i) => (shards.add(x.shard), shards.size < 2 || i < 9), true), consume((x) => x, { stats }), toArray()));
  t.true(first.length >= 10);
  const threadsOfFirst = new Set(first.map((x) => x.thread));
  t.is(threadsOfFirst.size, 2);
  // Endless heads, taken in part: what the stopped run had in flight must not leak into the next.
  const second = await lastValueFrom(source.pipe(take(4), consume((x) => x, { stats }), toArray()));
  t.true(second.every((x) => threadsOfFirst.has(x.thread)), 'same threads');
  t.true(second.every((x) => x.i < 4), `the second run starts at each shard's first element: ${second.map((x) => `${x.shard}:${x.i}`).join(' ')}`);
  const made = Atomics.load(args.counters, 0);
  t.true(made <= 2, `head made at most once per thread (${made})`);
  t.true(await eventually(() => threads(stats) === 0), `after keepAliveMs the threads end (left: ${threads(stats)})`);
  // And a later subscription starts fresh ones.
  const third = await lastValueFrom(source.pipe(take(2), consume((x) => x, { stats }), toArray()));
  t.is(third.length, 2);
  t.false(third.some((x) => threadsOfFirst.has(x.thread)), 'fresh threads');
  t.true(Atomics.load(args.counters, 0) > made, 'which made the head again');
  t.true(await eventually(() => threads(stats) === 0));
});

test.serial('keepAliveMs must be >= 0', (t) => {
  t.throws(() => fromWorkers(epochs, { keepAliveMs: -1 }), { instanceOf: RangeError });
});
