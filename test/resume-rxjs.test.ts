/**
 * Issue 17: `rxdata/rxjs`'s stateful synchronous operators behave as RxJS's (same notifications,
 * inside a resumable pipeline and out of one) and save their state in a resumable pipeline; state
 * that is not plain data fails the checkpoint naming the operator; `stateful()` marks a user's
 * operator.
 */
import test from 'ava';
import * as rx from 'rxjs';
import { filter, map, type Observable, type OperatorFunction } from 'rxjs';
import { fromIterable } from '../src/index.js';
import * as ours from '../src/rxjs.js';
import { stateful } from '../src/rxjs.js';
import { CheckpointError, resumable } from '../src/state/index.js';
import { checkResume } from './fixtures/resume/train.js';
import { sleep, syncAndAsyncSources } from './helpers.js';

const values = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

type Note = ['N', unknown] | ['E', string] | ['C'];
/** Every notification of `source`, until it completes or fails. */
function notes(source: Observable<unknown>): Promise<Note[]> {
  return new Promise((resolve) => {
    const out: Note[] = [];
    source.subscribe({
      next: (v) => out.push(['N', v]),
      error: (e: unknown) => resolve([...out, ['E', `${(e as Error).name}: ${(e as Error).message}`]]),
      complete: () => resolve([...out, ['C']]),
    });
  });
}

/** Inputs: empty, short, longer with repeats, and one that fails after 5 elements. */
const inputs: [string, () => Iterable<number>, () => Observable<number>][] = [
  ['empty', () => [], () => rx.EMPTY],
  ['short', () => [3, 1, 2], () => rx.of(3, 1, 2)],
  ['repeats', () => [1, 1, 2, 2, 2, 3, 1, 4, 4, 0, 5, 1], () => rx.of(1, 1, 2, 2, 2, 3, 1, 4, 4, 0, 5, 1)],
  [
    'failing',
    () =>
      (function* () {
        yield* [5, 6, 6, 7, 8];
        throw new Error('boom');
      })(),
    () => rx.concat(rx.of(5, 6, 6, 7, 8), rx.throwError(() => new Error('boom'))),
  ],
];

/** [label, ours, RxJS's]: the same operator with the same arguments. */
const operators: [string, OperatorFunction<number, unknown>, OperatorFunction<number, unknown>][] = [
  ['bufferCount(2)', ours.bufferCount(2), rx.bufferCount(2)],
  ['bufferCount(3, 1)', ours.bufferCount(3, 1), rx.bufferCount(3, 1)],
  ['bufferCount(2, 3)', ours.bufferCount(2, 3), rx.bufferCount(2, 3)],
  ['scan(+)', ours.scan((a: number, x: number) => a + x), rx.scan((a: number, x: number) => a + x)],
  ['scan(seed, index)', ours.scan((a: number[], x: number, i: number) => [...a, x * i], [] as number[]), rx.scan((a: number[], x: number, i: number) => [...a, x * i], [] as number[])],
  ['scan that throws', ours.scan((a: number, x: number) => { if (x === 2) throw new Error('acc'); return a + x; }, 0), rx.scan((a: number, x: number) => { if (x === 2) throw new Error('acc'); return a + x; }, 0)],
  ['reduce(+)', ours.reduce((a: number, x: number) => a + x), rx.reduce((a: number, x: number) => a + x)],
  ['reduce(seed)', ours.reduce((a: number, x: number) => a * 10 + x, 7), rx.reduce((a: number, x: number) => a * 10 + x, 7)],
  ['pairwise', ours.pairwise(), rx.pairwise()],
  ['distinct', ours.distinct(), rx.distinct()],
  ['distinct(key)', ours.distinct((x: number) => x % 3), rx.distinct((x: number) => x % 3)],
  ['distinctUntilChanged', ours.distinctUntilChanged(), rx.distinctUntilChanged()],
  ['distinctUntilChanged(cmp, key)', ours.distinctUntilChanged((a: number, b: number) => a === b, (x: number) => x % 2), rx.distinctUntilChanged((a: number, b: number) => a === b, (x: number) => x % 2)],
  ['take(2)', ours.take(2), rx.take(2)],
  ['take(0)', ours.take(0), rx.take(0)],
  ['skip(2)', ours.skip(2), rx.skip(2)],
  ['takeWhile', ours.takeWhile((x: number) => x < 3), rx.takeWhile((x: number) => x < 3)],
  ['takeWhile inclusive', ours.takeWhile((x: number) => x < 3, true), rx.takeWhile((x: number) => x < 3, true)],
  ['skipWhile', ours.skipWhile((x: number, i: number) => x < 3 && i < 4), rx.skipWhile((x: number, i: number) => x < 3 && i < 4)],
  ['elementAt(2)', ours.elementAt(2), rx.elementAt(2)],
  ['elementAt(20, default)', ours.elementAt(20, -1), rx.elementAt(20, -1)],
  ['elementAt(20)', ours.elementAt(20), rx.elementAt(20)],
  ['count', ours.count(), rx.count()],
  ['count(pred)', ours.count((x: number, i: number) => x + i > 3), rx.count((x: number, i: number) => x + i > 3)],
  ['toArray', ours.toArray(), rx.toArray()],
  ['takeLast(2)', ours.takeLast(2), rx.takeLast(2)],
  ['skipLast(2)', ours.skipLast(2), rx.skipLast(2)],
  ['min', ours.min(), rx.min()],
  ['max(cmp)', ours.max((a: number, b: number) => b - a), rx.max((a: number, b: number) => b - a)],
  ['defaultIfEmpty', ours.defaultIfEmpty('none'), rx.defaultIfEmpty('none')],
  ['throwIfEmpty', ours.throwIfEmpty(), rx.throwIfEmpty()],
  ['every', ours.every((x: number, i: number) => x + i < 8), rx.every((x: number, i: number) => x + i < 8)],
  ['find', ours.find((x: number, i: number) => x > 3 && i > 1), rx.find((x: number, i: number) => x > 3 && i > 1)],
  ['findIndex', ours.findIndex((x: number) => x === 2), rx.findIndex((x: number) => x === 2)],
  ['first()', ours.first(), rx.first()],
  ['first(pred)', ours.first((x: number) => x > 3), rx.first((x: number) => x > 3)],
  ['first(pred, default)', ours.first((x: number) => x > 30, 'none'), rx.first((x: number) => x > 30, 'none')],
  ['last()', ours.last(), rx.last()],
  ['last(pred, default)', ours.last((x: number, i: number) => x < 3 && i < 9, 'none'), rx.last((x: number, i: number) => x < 3 && i < 9, 'none')],
  ['startWith', ours.startWith(-1, -2), rx.startWith(-1, -2)],
];

test('each behaves as RxJS\'s, inside a resumable pipeline and outside one', async (t) => {
  for (const [label, op, rxOp] of operators) {
    for (const [name, iterable, rxSource] of inputs) {
      const expected = await notes(rxSource().pipe(rxOp));
      t.deepEqual(await notes(resumable(fromIterable(iterable).pipe(op))), expected, `${label} over ${name}, resumable`);
      t.deepEqual(await notes(rxSource().pipe(op)), expected, `${label} over ${name}, plain`);
    }
  }
  // RxJS throws at call time for a negative index (an error ava does not take for one).
  const thrown = (f: () => unknown): unknown => {
    try {
      f();
    } catch (error) {
      return error;
    }
    return undefined;
  };
  t.true(thrown(() => ours.elementAt(-1)) instanceof rx.ArgumentOutOfRangeError);
  t.true(thrown(() => rx.elementAt(-1)) instanceof rx.ArgumentOutOfRangeError);
  // distinctUntilKeyChanged and windowCount (flattened) too.
  const rows = [{ k: 1 }, { k: 1 }, { k: 2 }, { k: 1 }];
  t.deepEqual(await notes(resumable(fromIterable(rows).pipe(ours.distinctUntilKeyChanged('k')))), await notes(rx.from(rows).pipe(rx.distinctUntilKeyChanged('k'))));
  const windows = (op: OperatorFunction<number, Observable<number>>): Observable<number[]> => rx.from(values(7)).pipe(op, rx.mergeMap((w) => w.pipe(rx.toArray())));
  t.deepEqual(await notes(windows(ours.windowCount(3, 2))), await notes(windows(rx.windowCount(3, 2))));
});

const sources = syncAndAsyncSources(5);

/** Operators, and stops (elements consumed, over two epochs of 25 inputs) that fall inside their output. */
const resumeCases: [string, () => OperatorFunction<number, unknown>, number[]][] = [
  ['bufferCount(4, 2)', () => ours.bufferCount(4, 2), [1, 5, 12, 14, 20]],
  ['scan', () => ours.scan((acc: { sum: number; seen: number[] }, x: number, i: number) => ({ sum: acc.sum + x * i, seen: [...acc.seen.slice(-2), x] }), { sum: 0, seen: [] as number[] }), [1, 9, 20, 30, 45]],
  ['pairwise', () => ours.pairwise(), [1, 7, 20, 30, 40]],
  ['distinct', () => ours.distinct((x: number) => x % 11), [1, 4, 9, 12, 18]],
  ['distinctUntilChanged', () => (s) => s.pipe(map((x) => Math.floor(x / 3)), ours.distinctUntilChanged()), [1, 4, 7, 20, 25]],
  ['take', () => ours.take(13), [1, 6, 12, 14, 20]],
  ['skip', () => ours.skip(7), [1, 6, 15, 20, 30]],
  ['takeWhile', () => ours.takeWhile((x: number, i: number) => x + i < 30), [1, 6, 9, 12, 15]],
  ['skipWhile', () => ours.skipWhile((x: number, i: number) => x + i < 12), [1, 6, 12, 25, 30]],
  ['takeLast', () => ours.takeLast(5), [1, 3, 6, 8]],
  ['skipLast', () => ours.skipLast(4), [1, 8, 15, 25, 35]],
  ['startWith (not emitted again on restore)', () => ours.startWith(-1, -2), [1, 2, 3, 20, 28]],
];

for (const [label, op, stops] of resumeCases) {
  for (const [kind, source] of sources) {
    test(`${label} resumes exactly between plain RxJS operators (${kind} source)`, async (t) => {
      const build = (): Observable<unknown> => source(25).pipe(map((x) => x * 2 + 1), op(), filter(() => true));
      await checkResume(t, build, 2, stops);
    });
  }
}

/**
 * Operators that emit at the end only (reduce, toArray, count, takeLast, elementAt late): the
 * checkpoint is taken while the source waits after `pauseAt` elements (nothing delivered yet), and
 * the restored pipeline's output must equal the uninterrupted one's.
 */
async function checkPaused(t: import('ava').ExecutionContext, op: () => OperatorFunction<number, unknown>, pauseAt: number): Promise<void> {
  let pause: (() => void) | undefined;
  const source = (at?: number): Observable<number> =>
    fromIterable(async function* () {
      for (let i = 0; i < 25; i++) {
        if (i === at) await new Promise<void>((resolve) => (pause = resolve));
        yield i;
      }
    });
  const build = (at?: number): Observable<unknown> => source(at).pipe(map((x) => x * 2 + 1), op(), filter(() => true));
  const whole = await rx.lastValueFrom(resumable(build()).pipe(rx.toArray()));
  const first = resumable(build(pauseAt));
  const subscription = first.subscribe();
  while (!pause) await sleep(1);
  const state = first.checkpoint();
  subscription.unsubscribe();
  const { decodePipelineState, encodePipelineState } = await import('../src/state/index.js');
  const again = resumable(build());
  again.restore(decodePipelineState(encodePipelineState(state)));
  t.deepEqual(await rx.lastValueFrom(again.pipe(rx.toArray())), whole);
  t.true(whole.length > 0);
}

test('operators that emit at the end resume from a checkpoint taken while they accumulate', async (t) => {
  await checkPaused(t, () => ours.reduce((a: number, x: number) => a * 3 + x), 10);
  await checkPaused(t, () => ours.reduce((a: number[], x: number) => [...a, x], [] as number[]), 1);
  await checkPaused(t, () => ours.toArray(), 12);
  await checkPaused(t, () => ours.count((x: number) => x % 3 === 0), 12);
  await checkPaused(t, () => ours.takeLast(4), 23);
  await checkPaused(t, () => ours.elementAt(17), 9);
  await checkPaused(t, () => ours.elementAt(40, 'none'), 9);
  await checkPaused(t, () => ours.bufferCount(30), 20);
  await checkPaused(t, () => ours.last((x: number) => x % 7 === 0), 20);
  await checkPaused(t, () => ours.max(), 20);
  await checkPaused(t, () => ours.every((x: number) => x < 100), 20);
  await checkPaused(t, () => (s) => s.pipe(filter((x) => x > 1000), ours.defaultIfEmpty(0)), 20);
});

/** Checkpoints after `after` elements of `source` in a resumable pipeline: the error, if any. */
async function checkpointError(source: Observable<unknown>, after = 2): Promise<unknown> {
  const pipeline = resumable(source);
  return new Promise((resolve, reject) => {
    let seen = 0;
    const subscription = pipeline.subscribe({
      next: () => {
        if (++seen !== after) return;
        try {
          pipeline.checkpoint();
          resolve(undefined);
        } catch (error) {
          resolve(error);
        }
        setImmediate(() => subscription.unsubscribe());
      },
      error: reject,
      complete: () => resolve(undefined),
    });
  });
}

class Tally {
  n = 0;
  add(x: number): Tally {
    this.n += x;
    return this;
  }
}

test('state that is not plain data fails the checkpoint naming the operator', async (t) => {
  const scanned = await checkpointError(fromIterable(values(10)).pipe(ours.scan((acc: Tally, x: number) => acc.add(x), new Tally())));
  t.true(scanned instanceof CheckpointError);
  t.regex((scanned as Error).message, /'scan' cannot save its state: scan's accumulated value is a Tally instance/);
  const objects = await checkpointError(fromIterable(values(10)).pipe(map((x) => ({ x })), ours.distinct()));
  t.regex((objects as Error).message, /'distinct' cannot save its state: a key is an object, compared by identity/);
  const windows = await checkpointError(fromIterable(values(10)).pipe(ours.windowCount(3), rx.mergeMap((w) => w)));
  t.regex((windows as Error).message, /'windowCount' cannot save its state: its open windows are Observables/);
  // Plain data saves.
  t.is(await checkpointError(fromIterable(values(10)).pipe(ours.scan((acc: { n: number }, x: number) => ({ n: acc.n + x }), { n: 0 }))), undefined);
});

test('stateful(): a user\'s operator saves and restores its state; one that is not plain data is named', async (t) => {
  const numbered = (): OperatorFunction<number, [number, number]> =>
    stateful('numbered', () => {
      let n = 100;
      return { operator: map((x: number): [number, number] => [n++, x]), save: () => n, restore: (saved: number) => (n = saved) };
    });
  for (const [, source] of sources) await checkResume(t, () => source(30).pipe(map((x) => x + 1), numbered(), filter(() => true)), 2, [1, 9, 31, 45]);
  // Without stateful() the counter restarts: the check above would fail (shown here).
  const plainCounter = (): OperatorFunction<number, [number, number]> => (s) => rx.defer(() => {
    let n = 100;
    return s.pipe(map((x: number): [number, number] => [n++, x]));
  });
  const { train } = await import('./fixtures/resume/train.js');
  const whole = await train(() => fromIterable(values(30)).pipe(plainCounter()), 1);
  const first = await train(() => fromIterable(values(30)).pipe(plainCounter()), 1, { stopAfter: 9 });
  const rest = await train(() => fromIterable(values(30)).pipe(plainCounter()), 1, { restore: first.state });
  t.notDeepEqual([...first.trained, ...rest.trained], whole.trained);
  // A state that is not plain data: named.
  const bad = await checkpointError(fromIterable(values(10)).pipe(stateful('tally', () => {
    const tally = new Tally();
    return { operator: map((x: number) => tally.add(x).n), save: () => tally, restore: () => undefined };
  })));
  t.regex((bad as Error).message, /'tally' cannot save its state: its saved state is a Tally instance/);
});
