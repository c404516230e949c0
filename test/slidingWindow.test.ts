import test from 'ava';
import { lastValueFrom, Subject, toArray } from 'rxjs';
import { batch, consume, ElementError, fromIterable, PipelineStats } from '../src/index.js';
import { slidingWindow } from '../operators/slidingWindow.js';
import { collect, range, sleep } from './helpers.js';

const rows = (w: { data: Float32Array; shape: readonly number[] }): number[][] => {
  const [n, f] = w.shape;
  return range(n).map((i) => Array.from(w.data.subarray(i * f, (i + 1) * f)));
};

test('by count: every step starts a window of [size, features]', async (t) => {
  const out = await collect(fromIterable(range(6)).pipe(slidingWindow(3)));
  t.deepEqual(out.map((w) => w.shape), [[3, 1], [3, 1], [3, 1], [3, 1]]);
  t.deepEqual(out.map((w) => Array.from(w.data)), [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]]);
  t.deepEqual(out.map((w) => w.last), [2, 3, 4, 5]);
  t.true(out[0].data instanceof Float32Array);
});

test('stride skips window starts; stride larger than size leaves gaps', async (t) => {
  const two = await collect(fromIterable(range(7)).pipe(slidingWindow(3, { stride: 2 })));
  t.deepEqual(two.map((w) => Array.from(w.data)), [[0, 1, 2], [2, 3, 4], [4, 5, 6]]);
  const four = await collect(fromIterable(range(10)).pipe(slidingWindow(2, { stride: 4 })));
  t.deepEqual(four.map((w) => Array.from(w.data)), [[0, 1], [4, 5], [8, 9]]);
});

test('features pick a vector per record; windows batch into [n, size, features]', async (t) => {
  const recs = range(5).map((i) => ({ a: i, b: 10 * i, label: i % 2 }));
  const out = await collect(
    fromIterable(recs).pipe(
      slidingWindow(2, { features: (r) => [r.a, r.b] }),
      (s) => s,
    ),
  );
  t.deepEqual(rows(out[0]), [[0, 0], [1, 10]]);
  const batches = await collect(fromIterable(out.map((w) => ({ xs: w, ys: w.last.label }))).pipe(batch(4)));
  t.deepEqual(batches[0].xs.shape, [4, 2, 2]);
  t.deepEqual(Array.from(batches[0].ys.data), [1, 0, 1, 0]);
});

test('per key: one window per sensor, never mixed', async (t) => {
  const recs = [
    { s: 'a', v: 1 }, { s: 'b', v: 100 }, { s: 'a', v: 2 }, { s: 'a', v: 3 }, { s: 'b', v: 200 }, { s: 'b', v: 300 }, { s: 'a', v: 4 },
  ];
  const out = await collect(fromIterable(recs).pipe(slidingWindow(3, { key: (r) => r.s, features: (r) => r.v })));
  t.deepEqual(out.map((w) => [w.key, Array.from(w.data)]), [
    ['a', [1, 2, 3]],
    ['b', [100, 200, 300]],
    ['a', [2, 3, 4]],
  ]);
});

test('by time: event-time steps, mean per step, forward fill, start times', async (t) => {
  // Window of 4 steps of 10 ms (timeMs 40); records at irregular times.
  const recs = [
    { t: 0, v: 1 }, { t: 5, v: 3 }, // step 0 → mean 2
    { t: 12, v: 4 }, // step 1 → 4
    // step 2 empty → repeats 4
    { t: 31, v: 6 }, // step 3 → 6 → first window [2, 4, 4, 6]
    { t: 45, v: 8 }, // step 4 → 8 → window [4, 4, 6, 8]
    { t: 52, v: 9 }, // open at completion → closed → window [4, 6, 8, 9]
  ];
  const out = await collect(fromIterable(recs).pipe(slidingWindow(4, { timeMs: 40, timestamp: 't', features: (r) => r.v })));
  t.deepEqual(out.map((w) => Array.from(w.data)), [[2, 4, 4, 6], [4, 4, 6, 8], [4, 6, 8, 9]]);
  t.deepEqual(out.map((w) => w.start), [0, 10, 20]);
  t.deepEqual(out.map((w) => w.last.t), [31, 45, 52]);
});

test('by time: aggregate last, stride, a gap of a whole window restarts, late records counted', async (t) => {
  const stats = new PipelineStats();
  const recs = [
    { t: 0, v: 1 }, { t: 1, v: 2 }, { t: 10, v: 3 }, { t: 20, v: 4 }, { t: 30, v: 5 },
    { t: 25, v: 99 }, // late: its step (2) is already closed
    { t: 200, v: 7 }, { t: 210, v: 8 }, // a gap of many steps: start afresh
  ];
  const out = await lastValueFrom(
    fromIterable(recs).pipe(
      slidingWindow(2, { timeMs: 20, timestamp: (r) => r.t, features: (r) => [r.v], aggregate: 'last', stride: 2 }),
      consume((w) => Array.from(w.data), { stats }),
      toArray(),
    ),
  );
  t.deepEqual(out, [[2, 3], [4, 5], [7, 8]]);
  t.is(stats.get('slidingWindow')?.extra.late, 1);
});

test('timestamps may be Dates or date strings', async (t) => {
  const recs = ['2015-02-04T17:51:00Z', '2015-02-04T17:52:00Z', '2015-02-04T17:53:00Z'].map((d, i) => ({ d, v: i }));
  const out = await collect(fromIterable(recs).pipe(slidingWindow(2, { timeMs: 120_000, timestamp: (r) => new Date(r.d), features: (r) => r.v })));
  t.deepEqual(out.map((w) => Array.from(w.data)), [[0, 1], [1, 2]]);
});

test('bad features and bad timestamps fail with the element index', async (t) => {
  const e = await t.throwsAsync(collect(fromIterable([[1, 2], [3], [4, 5]]).pipe(slidingWindow(2))));
  t.true(e instanceof ElementError);
  t.regex(e!.message, /element #1.*length 1/);
  await t.throwsAsync(collect(fromIterable([{ t: 'soon' }]).pipe(slidingWindow(2, { timeMs: 10, timestamp: 't', features: () => 1 }))), { message: /not a time/ });
  t.throws(() => slidingWindow(0), { instanceOf: RangeError });
  t.throws(() => slidingWindow(2, { timeMs: 10 }), { message: /timestamp/ });
});

test('windows wait for demand: a time gap that completes several windows does not flood a slow sink', async (t) => {
  let pulled = 0;
  function* readings(): Generator<{ t: number; v: number }> {
    for (const time of [0, 10, 20, 30, 60, 70]) {
      pulled++;
      yield { t: time, v: time };
    }
  }
  const seen: [number | undefined, number][] = [];
  await lastValueFrom(
    fromIterable(readings).pipe(
      slidingWindow(4, { timeMs: 40, timestamp: 't', features: (r) => r.v }),
      consume(async (w) => {
        seen.push([w.start, pulled]);
        await sleep(1);
      }),
    ),
  );
  // The reading at t=60 completes three windows (steps 4 and 5 are filled); the next reading is
  // pulled only once all three have been taken.
  t.deepEqual(seen, [[0, 5], [10, 5], [20, 5], [30, 6], [40, 6]]);
});

test('error and early unsubscribe propagate', async (t) => {
  const subject = new Subject<number>();
  const got: number[][] = [];
  const sub = subject.pipe(slidingWindow(2)).subscribe((w) => got.push(Array.from(w.data)));
  subject.next(1);
  subject.next(2);
  sub.unsubscribe();
  subject.next(3);
  t.deepEqual(got, [[1, 2]]);
  t.false(subject.observed);
  const failing = new Subject<number>();
  const p = collect(failing.pipe(slidingWindow(2)));
  failing.error(new Error('boom'));
  await t.throwsAsync(p, { message: 'boom' });
});
