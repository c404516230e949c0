import test from 'ava';
import fc from 'fast-check';
import { EMPTY, Subject, from, lastValueFrom, map, take, throwError, toArray } from 'rxjs';
import { LimitError, cardinality, chooseFromDatasets, consume, flatMap, fromIterable, range, sampleFromDatasets, zipDatasets } from '../src/index.js';
import { collect, counter, sleep } from './helpers.js';

const letters = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

test('chooseFromDatasets: the tf.data docstring example', async (t) => {
  const sources = [fromIterable(['foo', 'foo', 'foo']), fromIterable(['bar', 'bar', 'bar']), fromIterable(['baz', 'baz', 'baz'])];
  const out = await collect(chooseFromDatasets(sources, from([0, 1, 2, 0, 1, 2, 0, 1, 2])));
  t.deepEqual(out, ['foo', 'bar', 'baz', 'foo', 'bar', 'baz', 'foo', 'bar', 'baz']);
  t.deepEqual(await collect(chooseFromDatasets([fromIterable([1, 2])], range(1))), [1]);
});

test('chooseFromDatasets: stopOnEmptyDataset true ends at the first chosen empty source; false skips it', async (t) => {
  const make = () => [fromIterable(['a0']), fromIterable(['b0', 'b1', 'b2'])];
  const choices = [0, 1, 0, 1, 1, 0];
  t.deepEqual(await collect(chooseFromDatasets(make(), from(choices))), ['a0', 'b0']);
  t.deepEqual(await collect(chooseFromDatasets(make(), from(choices), { stopOnEmptyDataset: false })), ['a0', 'b0', 'b1', 'b2']);
  // Ends when the choices end, and when every source has ended (even with choices left).
  t.deepEqual(await collect(chooseFromDatasets(make(), from([1]))), ['b0']);
  t.deepEqual(await collect(chooseFromDatasets([EMPTY, EMPTY], range(0, Infinity).pipe(map((i) => i % 2)), { stopOnEmptyDataset: false })), []);
});

test('chooseFromDatasets: a bad index and a failing source are errors naming the cause', async (t) => {
  await t.throwsAsync(collect(chooseFromDatasets([fromIterable([1])], from([0, 3]))), { message: /choice 3 is not a source index in \[0, 1\)/ });
  await t.throwsAsync(collect(chooseFromDatasets([throwError(() => new Error('boom'))], from([0]))), { message: 'boom' });
  await t.throwsAsync(collect(chooseFromDatasets([fromIterable([1])], throwError(() => new Error('choices')))), { message: 'choices' });
  t.throws(() => chooseFromDatasets([], from([0])), { instanceOf: RangeError });
});

test('chooseFromDatasets: property: every source is read in order and exactly the chosen elements come out', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.nat(2), { maxLength: 40 }), fc.array(fc.nat(6), { minLength: 3, maxLength: 3 }), async (choices, lengths) => {
      const sources = lengths.map((n, k) => letters('abc'[k], n));
      const out = await collect(chooseFromDatasets(sources.map((s) => fromIterable(s)), from(choices), { stopOnEmptyDataset: false }));
      // Reference: a plain loop over the choices.
      const next = [0, 0, 0];
      const expected: string[] = [];
      for (const c of choices) if (next[c] < lengths[c]) expected.push(sources[c][next[c]++]);
      t.deepEqual(out, expected);
    }),
    { seed: 42, numRuns: 100 },
  );
});

test('chooseFromDatasets: only the chosen source is pulled; a live Subject waits for demand', async (t) => {
  const a = counter();
  const b = counter();
  const out = await collect(chooseFromDatasets([fromIterable(a.endless), fromIterable(b.endless)], from([0, 0, 0, 1, 0])));
  t.deepEqual(out, [0, 1, 2, 0, 3]);
  t.true(a.state.pulled <= 4 + 1, `a pulled ${a.state.pulled}`);
  t.true(b.state.pulled <= 1 + 1, `b pulled ${b.state.pulled}`);
  await sleep(1);
  t.true(a.state.closed && b.state.closed, 'both generators closed at the end');
});

test('sampleFromDatasets: proportions follow the weights', async (t) => {
  const n = 4000;
  const out = await collect(
    sampleFromDatasets([fromIterable(counter().endless).pipe(map(() => 'a')), fromIterable(counter().endless).pipe(map(() => 'b'))], { weights: [3, 1], seed: 7 }).pipe(take(n)),
  );
  const share = out.filter((x) => x === 'a').length / n;
  // Binomial sd at n = 4000, p = 0.75 is 0.0068: 4 sd.
  t.true(Math.abs(share - 0.75) < 0.03, `share of a: ${share}`);
});

test('sampleFromDatasets: same seed, same mix; each subscription replays it unless rerandomized', async (t) => {
  const make = (seed: number, rerandomizeEachIteration = false) =>
    sampleFromDatasets([fromIterable(letters('a', 50)), fromIterable(letters('b', 50)), fromIterable(letters('c', 50))], { seed, rerandomizeEachIteration });
  const one = await collect(make(11));
  t.deepEqual(await collect(make(11)), one);
  const mixed = make(11);
  t.deepEqual(await collect(mixed), await collect(mixed));
  t.notDeepEqual(await collect(make(12)), one);
  const rerandomized = make(11, true);
  t.notDeepEqual(await collect(rerandomized), await collect(rerandomized));
  // Every element of every source, each source in its own order.
  t.is(one.length, 150);
  for (const p of 'abc') t.deepEqual(one.filter((x) => x[0] === p), letters(p, 50));
  // Foreign sources that push everything at once give the same mix (their elements are held).
  t.deepEqual(await collect(sampleFromDatasets([from(letters('a', 50)), from(letters('b', 50)), from(letters('c', 50))], { seed: 11 })), one);
});

test('sampleFromDatasets: exhaustion: false keeps sampling the rest, true stops at the first empty draw', async (t) => {
  const make = (stopOnEmptyDataset: boolean) => sampleFromDatasets([fromIterable(letters('a', 3)), fromIterable(letters('b', 100))], { seed: 3, stopOnEmptyDataset });
  const all = await collect(make(false));
  t.is(all.length, 103);
  const stopped = await collect(make(true));
  t.true(stopped.length < 103);
  t.is(stopped.filter((x) => x[0] === 'a').length, 3, 'stops only once a has run out and is drawn again');
  // Sources of weight zero are never drawn; once only they are left, the mix ends.
  t.deepEqual(await collect(sampleFromDatasets([fromIterable([1, 2]), fromIterable([9])], { weights: [1, 0], seed: 1 })), [1, 2]);
});

test('sampleFromDatasets: bad weights are refused', (t) => {
  t.throws(() => sampleFromDatasets([EMPTY], { weights: [1, 2] }), { message: /2 weights for 1 sources/ });
  t.throws(() => sampleFromDatasets([EMPTY], { weights: [-1] }), { message: /weights\[0\]/ });
  t.throws(() => sampleFromDatasets([EMPTY, EMPTY], { weights: [0, 0] }), { message: /at least one weight/ });
});

test('sampleFromDatasets: endless sources and a slow consume: pulled − consumed stays bounded', async (t) => {
  const sources = [counter(), counter(), counter()];
  let consumed = 0;
  let maxAhead = 0;
  await lastValueFrom(
    sampleFromDatasets(
      sources.map((s) => fromIterable(s.endless)),
      { weights: [1, 2, 3], seed: 5 },
    ).pipe(
      take(150),
      consume(async () => {
        consumed++;
        const pulled = sources.reduce((n, s) => n + s.state.pulled, 0);
        maxAhead = Math.max(maxAhead, pulled - consumed);
        if (consumed % 10 === 0) await sleep(2);
      }),
      toArray(),
    ),
  );
  t.is(consumed, 150);
  // The mix holds one element; each generator may run one step ahead of what it yielded.
  t.log(`pulled − consumed peaked at ${maxAhead}`);
  t.true(maxAhead <= 1 + 3, `ran ${maxAhead} ahead`);
  await sleep(2);
  t.true(sources.every((s) => s.state.closed), 'every source released on unsubscribe');
});

test('sampleFromDatasets: a source of weight zero is never drawn, and is unsubscribed at the end', async (t) => {
  const live = new Subject<string>();
  const out = await collect(sampleFromDatasets([fromIterable(['x', 'y']), live], { weights: [1, 0], seed: 1 }));
  t.deepEqual(out, ['x', 'y']);
  t.false(live.observed, 'unsubscribed at the end');
});

test('zipDatasets: tuples and objects in lockstep, ends with the shortest, cardinality the smallest', async (t) => {
  t.deepEqual(await collect(zipDatasets([range(3), fromIterable(['a', 'b', 'c', 'd'])])), [[0, 'a'], [1, 'b'], [2, 'c']]);
  t.deepEqual(await collect(zipDatasets({ xs: range(2), ys: from(['p', 'q', 'r']) })), [{ xs: 0, ys: 'p' }, { xs: 1, ys: 'q' }]);
  t.deepEqual(await collect(zipDatasets([range(3), EMPTY])), []);
  t.is(cardinality(zipDatasets([range(3), range(5)])), 3);
  t.is(cardinality(zipDatasets([range(0, Infinity), range(5)])), 5);
  t.is(cardinality(zipDatasets([range(3), fromIterable(function* () { yield 1; })])), 'unknown');
  await t.throwsAsync(collect(zipDatasets([range(3), throwError(() => new Error('ys'))])), { message: 'ys' });
});

test('zipDatasets: property: equals a pairwise zip of arrays', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.integer(), { maxLength: 20 }), fc.array(fc.string(), { maxLength: 20 }), async (a, b) => {
      const expected = a.slice(0, Math.min(a.length, b.length)).map((x, i) => [x, b[i]]);
      t.deepEqual(await collect(zipDatasets([fromIterable(a), fromIterable(b)])), expected);
    }),
    { seed: 5, numRuns: 100 },
  );
});

test('zipDatasets: endless sources and a slow consume stay in lockstep (RxJS zip pulled 100,000+ here)', async (t) => {
  const a = counter();
  const b = counter();
  let consumed = 0;
  let maxAhead = 0;
  await lastValueFrom(
    zipDatasets([fromIterable(a.endless), fromIterable(b.endless)]).pipe(
      take(60),
      consume(async () => {
        consumed++;
        maxAhead = Math.max(maxAhead, a.state.pulled + b.state.pulled - 2 * consumed);
        if (consumed % 10 === 0) await sleep(1);
      }),
      toArray(),
    ),
  );
  // One pair held at most, and each generator one step ahead.
  t.log(`pulled − consumed peaked at ${maxAhead}`);
  t.true(maxAhead <= 2 + 2, `ran ${maxAhead} ahead`);
  await sleep(1);
  t.true(a.state.closed && b.state.closed);
});

test('maxBuffered: a source that ignores demand fails the mix, the zip and flatMap instead of growing', async (t) => {
  const flood = () => from([...Array(100).keys()]);
  const message = /pushed more than 10 elements ahead of demand/;
  await t.throwsAsync(collect(zipDatasets([flood(), range(3)], { maxBuffered: 10 })), { instanceOf: LimitError, message });
  await t.throwsAsync(collect(sampleFromDatasets([flood(), range(3)], { seed: 1, maxBuffered: 10 })), { instanceOf: LimitError, message });
  await t.throwsAsync(collect(chooseFromDatasets([range(3)], flood().pipe(map(() => 0)), { maxBuffered: 10 })), { instanceOf: LimitError, message });
  await t.throwsAsync(collect(range(1).pipe(flatMap(() => flood(), { maxBuffered: 10 }))), { instanceOf: LimitError, message });
  // Under the default limit, foreign sources are read in full.
  t.is((await collect(range(2).pipe(flatMap(() => flood())))).length, 200);
});
