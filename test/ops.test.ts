import test from 'ava';
import fc from 'fast-check';
import { EMPTY, Subject, from, lastValueFrom, map, of, take, throwError, toArray } from 'rxjs';
import { consume, flatMap, fromIterable, range, rejectionResample } from '../src/index.js';
import { mulberry32 } from '../src/random.js';
import { collect, counter, sleep } from './helpers.js';

test('range: tf.data examples', async (t) => {
  t.deepEqual(await collect(range(5)), [0, 1, 2, 3, 4]);
  t.deepEqual(await collect(range(2, 5)), [2, 3, 4]);
  t.deepEqual(await collect(range(1, 5, 2)), [1, 3]);
  t.deepEqual(await collect(range(1, 5, -2)), []);
  t.deepEqual(await collect(range(5, 1)), []);
  t.deepEqual(await collect(range(5, 1, -2)), [5, 3]);
  t.deepEqual(await collect(range(0, 1, 0.25)), [0, 0.25, 0.5, 0.75]);
  t.deepEqual(await collect(range(0, Infinity).pipe(take(3))), [0, 1, 2]);
  t.throws(() => range(0, 5, 0), { message: /step must be a finite non-zero number/ });
  t.throws(() => range(Number.NaN), { message: /stop must be a number/ });
  t.throws(() => range(Number.NaN, 3), { message: /start must be a finite number/ });
});

test('range: property: matches a plain loop, re-subscribable', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: -20, max: 20 }), fc.integer({ min: -20, max: 20 }), fc.integer({ min: -5, max: 5 }).filter((s) => s !== 0), async (a, b, s) => {
      const expected: number[] = [];
      for (let x = a; s > 0 ? x < b : x > b; x += s) expected.push(x);
      const r = range(a, b, s);
      t.deepEqual(await collect(r), expected);
      t.deepEqual(await collect(r), expected);
    }),
    { seed: 1, numRuns: 100 },
  );
});

test('range: an endless range under a slow consumer is pulled on demand', async (t) => {
  let consumed = 0;
  let maxSeen = -1;
  await lastValueFrom(
    range(0, Infinity).pipe(
      map((x) => (maxSeen = x)),
      take(30),
      consume(async () => {
        consumed++;
        t.true(maxSeen < consumed + 1, `saw ${maxSeen} with ${consumed} consumed`);
        await sleep(1);
      }),
      toArray(),
    ),
  );
  t.is(consumed, 30);
});

test('flatMap: tf.data flat_map over arrays, generators, async iterables and Observables, in order', async (t) => {
  t.deepEqual(await collect(fromIterable([[1, 2, 3], [4, 5, 6], [7, 8, 9]]).pipe(flatMap((row) => row))), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.deepEqual(
    await collect(
      fromIterable([1, 2, 3]).pipe(
        flatMap(function* (x) {
          for (let i = 0; i < x; i++) yield x;
        }),
      ),
    ),
    [1, 2, 2, 3, 3, 3],
  );
  t.deepEqual(
    await collect(
      fromIterable(['a', 'b']).pipe(
        flatMap(async function* (x) {
          await sleep(1);
          yield `${x}0`;
          yield `${x}1`;
        }),
      ),
    ),
    ['a0', 'a1', 'b0', 'b1'],
  );
  t.deepEqual(await collect(from([1, 2]).pipe(flatMap((x, i) => of(`${x}:${i}`, `${x}!`)))), ['1:0', '1!', '2:1', '2!']);
  t.deepEqual(await collect(fromIterable([1, 2]).pipe(flatMap(() => EMPTY))), []);
  t.deepEqual(await collect(EMPTY.pipe(flatMap(() => [1]))), []);
});

test('flatMap: property: equals the flattened arrays', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.array(fc.integer(), { maxLength: 5 }), { maxLength: 10 }), async (rows) => {
      t.deepEqual(await collect(fromIterable(rows).pipe(flatMap((r) => r))), rows.flat());
    }),
    { seed: 2, numRuns: 100 },
  );
});

test('flatMap: one inner at a time, pulled only under demand (endless outer and inner sources)', async (t) => {
  const outer = counter();
  const inners: ReturnType<typeof counter>[] = [];
  let consumed = 0;
  let maxAhead = 0;
  const out = await lastValueFrom(
    fromIterable(outer.endless).pipe(
      flatMap((x) => {
        const inner = counter();
        inners.push(inner);
        // Inner 0 is endless-but-taken: 5 elements each.
        return fromIterable(inner.endless).pipe(take(5), map((i) => `${x}.${i}`));
      }),
      take(23),
      consume(async (v) => {
        consumed++;
        const pulled = inners.reduce((n, s) => n + s.state.pulled, 0);
        maxAhead = Math.max(maxAhead, pulled - consumed);
        if (consumed % 4 === 0) await sleep(1);
        return v;
      }),
      toArray(),
    ),
  );
  t.is(out.length, 23);
  t.deepEqual(out.slice(0, 6), ['0.0', '0.1', '0.2', '0.3', '0.4', '1.0']);
  t.is(inners.length, 5, 'one inner source per outer element needed, no more');
  t.true(outer.state.pulled <= 5 + 1, `outer pulled ${outer.state.pulled}`);
  t.log(`pulled − consumed peaked at ${maxAhead}`);
  t.true(maxAhead <= 1, `inner sources ran ${maxAhead} ahead`);
  await sleep(2);
  t.true(outer.state.closed && inners.every((s) => s.state.closed), 'everything released');
});

test('flatMap: errors from fn, the inner and the outer source reach the subscriber', async (t) => {
  await t.throwsAsync(collect(fromIterable([1]).pipe(flatMap(() => { throw new Error('fn'); }))), { message: 'fn' });
  await t.throwsAsync(collect(fromIterable([1]).pipe(flatMap(() => throwError(() => new Error('inner'))))), { message: 'inner' });
  await t.throwsAsync(collect(throwError(() => new Error('outer')).pipe(flatMap(() => [1]))), { message: 'outer' });
  const live = new Subject<number>();
  const seen: number[] = [];
  const sub = live.pipe(flatMap((x) => [x, x])).subscribe((v) => seen.push(v));
  live.next(1);
  // The inner source waits for its gate, then resumes; a resumed source may give way to the event
  // loop first when the turn is already busy (docs/ARCHITECTURE.md, Fairness): on a loaded
  // machine that turn can take longer than any fixed sleep, so wait for the second value.
  for (let i = 0; i < 400 && seen.length < 2; i++) await sleep(5);
  sub.unsubscribe();
  t.deepEqual(seen, [1, 1]);
  t.false(live.observed);
});

/** Classes drawn with probabilities `dist`, seeded. */
function skewed(dist: number[], seed: number): () => Generator<{ id: number; label: number }> {
  return function* () {
    const random = mulberry32(seed);
    for (let id = 0; ; id++) {
      let r = random();
      let label = 0;
      while (label < dist.length - 1 && r >= dist[label]) r -= dist[label++];
      yield { id, label };
    }
  };
}
const shares = (xs: { label: number }[], classes: number): number[] => {
  const counts = new Array<number>(classes).fill(0);
  for (const x of xs) counts[x.label]++;
  return counts.map((c) => c / xs.length);
};

test('rejectionResample: with initialDist, the output follows the target', async (t) => {
  const out = await collect(
    fromIterable(skewed([0.7, 0.2, 0.1], 9)).pipe(rejectionResample((x) => x.label, [1, 1, 1], { initialDist: [0.7, 0.2, 0.1], seed: 4 }), take(6000)),
  );
  for (const s of shares(out, 3)) t.true(Math.abs(s - 1 / 3) < 0.025, `shares ${shares(out, 3).join(', ')}`);
  const ids = out.map((x) => x.id);
  t.deepEqual(ids, [...ids].sort((a, b) => a - b), 'order kept');
});

test('rejectionResample: without initialDist, estimated online, the output converges to the target', async (t) => {
  const target = [0.5, 0.3, 0.2];
  const out = await collect(fromIterable(skewed([0.1, 0.3, 0.6], 21)).pipe(rejectionResample((x) => x.label, target, { seed: 8 }), take(8000)));
  // Judge the later part, after the estimate has settled.
  const late = shares(out.slice(2000), 3);
  for (const [c, s] of late.entries()) t.true(Math.abs(s - target[c]) < 0.03, `shares ${late.join(', ')}`);
});

test('rejectionResample: deterministic with a seed; bad classes and distributions are clear errors', async (t) => {
  const run = (seed: number) => collect(fromIterable(skewed([0.8, 0.2], 3)).pipe(take(500), rejectionResample((x) => x.label, [0.5, 0.5], { seed })));
  const a = await run(1);
  t.deepEqual(await run(1), a);
  t.notDeepEqual(await run(2), a);
  await t.throwsAsync(collect(fromIterable([0, 1, 5]).pipe(rejectionResample((x) => x, [0.5, 0.5]))), { message: /element #2 has class 5, not an integer in \[0, 2\)/ });
  t.throws(() => rejectionResample(() => 0, [0, 0]), { message: /targetDist sums to 0/ });
  t.throws(() => rejectionResample(() => 0, [1, 1], { initialDist: [1] }), { message: /initialDist has 1 classes/ });
  await t.throwsAsync(collect(fromIterable([1]).pipe(rejectionResample(() => { throw new Error('classFn'); }, [1]))), { message: 'classFn' });
});
