/**
 * RxJS's own checklist, for every core operator: never, empty, single, many, error,
 * never-ending, early unsubscribe. (Callback-throws cases live in each operator's own tests.)
 */
import test from 'ava';
import { EMPTY, NEVER, Observable, finalize, lastValueFrom, map, of, take, throwError, toArray, type OperatorFunction } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { batch, cache, consume, fromIterable, paddedBatch, parallelMap, prefetch, shard, shuffle, unbatch } from '../src/index.js';
import { counter, sleep } from './helpers.js';

/** `view` turns the output into plain values to compare with `expected`. */
type Case = { name: string; op: () => OperatorFunction<number, unknown>; many: number[]; expected: unknown; view?: (out: unknown[]) => unknown };

const values = (out: unknown[]) => (out as { data: Float32Array }[]).map((b) => Array.from(b.data));
const cases: Case[] = [
  { name: 'parallelMap', op: () => parallelMap(async (x: number) => x + 1, { concurrency: 3 }), many: [1, 2, 3, 4, 5], expected: [2, 3, 4, 5, 6] },
  { name: 'shuffle', op: () => shuffle(3, { seed: 1 }), many: [1, 2, 3, 4, 5], expected: [1, 2, 3, 4, 5], view: (out) => [...(out as number[])].sort() },
  { name: 'batch', op: () => batch(2), many: [1, 2, 3, 4, 5], expected: [[1, 2], [3, 4], [5]], view: values },
  { name: 'paddedBatch', op: () => paddedBatch(2), many: [1, 2, 3], expected: [[1, 2], [3]], view: values },
  { name: 'unbatch', op: () => (s) => s.pipe(batch(2), unbatch()), many: [1, 2, 3], expected: [1, 2, 3] },
  { name: 'cache', op: () => cache(), many: [1, 2, 3], expected: [1, 2, 3] },
  { name: 'prefetch', op: () => prefetch(2), many: [1, 2, 3], expected: [1, 2, 3] },
  { name: 'shard', op: () => shard(2, 0), many: [1, 2, 3, 4], expected: [1, 3] },
  { name: 'consume', op: () => consume(async (x: number) => x * 10), many: [1, 2, 3], expected: [10, 20, 30] },
];

for (const c of cases) {
  test(`${c.name}: empty completes with nothing`, async (t) => {
    t.deepEqual(await lastValueFrom(EMPTY.pipe(c.op(), toArray())), []);
  });

  test(`${c.name}: single`, async (t) => {
    const out = await lastValueFrom(of(1).pipe(c.op(), toArray()));
    t.is(out.length, 1); // shard(2, 0) keeps element 0
  });

  test(`${c.name}: many`, async (t) => {
    const out = await lastValueFrom(fromIterable(c.many).pipe(c.op(), toArray()));
    t.deepEqual(c.view ? c.view(out) : out, c.expected);
  });

  test(`${c.name}: error propagates`, async (t) => {
    await t.throwsAsync(lastValueFrom(throwError(() => new Error('upstream failed')).pipe(c.op())), { message: 'upstream failed' });
  });

  test(`${c.name}: never stays silent and can be unsubscribed`, async (t) => {
    let events = 0;
    const sub = NEVER.pipe(c.op()).subscribe({ next: () => events++, complete: () => events++, error: () => events++ });
    await sleep(5);
    sub.unsubscribe();
    t.is(events, 0);
    t.true(sub.closed);
  });

  test(`${c.name}: never-ending source, early unsubscribe through take releases it`, async (t) => {
    const { state, endless } = counter();
    let finalized = false;
    const out = await lastValueFrom(
      fromIterable(endless).pipe(
        finalize(() => (finalized = true)),
        c.op(),
        take(2),
        toArray(),
      ),
    );
    t.is(out.length, 2);
    await sleep(5);
    t.true(finalized);
    t.true(state.closed);
  });
}

test('marbles: batch, shard and prefetch are transparent to synchronous schedules', (t) => {
  const scheduler = new TestScheduler((actual, expected) => t.deepEqual(actual, expected));
  scheduler.run(({ cold, expectObservable }) => {
    const source = cold('-a-b-c-d-e-|', { a: 1, b: 2, c: 3, d: 4, e: 5 });
    expectObservable(source.pipe(shard(2, 0))).toBe('-a---c---e-|', { a: 1, c: 3, e: 5 });
    expectObservable(source.pipe(prefetch(2))).toBe('-a-b-c-d-e-|', { a: 1, b: 2, c: 3, d: 4, e: 5 });
    expectObservable(source.pipe(batch(2), map((b) => Array.from(b.data)))).toBe('---x---y---(z|)', { x: [1, 2], y: [3, 4], z: [5] });
    expectObservable(source.pipe(batch(2, { dropRemainder: true }), map((b) => Array.from(b.data)))).toBe('---x---y---|', { x: [1, 2], y: [3, 4] });
  });
});

test('marbles: shuffle emits once its window is full and drains on completion', (t) => {
  const scheduler = new TestScheduler((actual, expected) => t.deepEqual(actual, expected));
  scheduler.run(({ cold, expectObservable }) => {
    const source = cold('-a-b-c-d-|', { a: 1, b: 2, c: 3, d: 4 });
    // Window 2: nothing until the third element, then one out per element in, the rest at the end.
    const shuffled = source.pipe(shuffle(2, { seed: 1 }), map(() => 'x'));
    expectObservable(shuffled).toBe('-----x-x-(xx|)');
  });
});

test('operators do not leak subscriptions on an Observable that errors late', async (t) => {
  let unsubscribed = 0;
  const late = new Observable<number>((s) => {
    s.next(1);
    const timer = setTimeout(() => s.error(new Error('late')), 2);
    return () => {
      clearTimeout(timer);
      unsubscribed++;
    };
  });
  for (const c of cases) await t.throwsAsync(lastValueFrom(late.pipe(c.op())), { message: 'late' });
  t.is(unsubscribed, cases.length);
});
