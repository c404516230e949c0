import test from 'ava';
import fc from 'fast-check';
import { lastValueFrom, map, Observable, take, toArray } from 'rxjs';
import { fromIterable, stack, window } from '../src/index.js';
import { range } from './helpers.js';

const all = <T>(o: Observable<T>): Promise<T[]> => lastValueFrom(o.pipe(toArray()));

/** tf.data's window, written the obvious way: window k starts at k * shift. */
function reference<T>(xs: T[], size: number, shift: number, stride: number, dropRemainder: boolean): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < xs.length; start += shift) {
    const w: T[] = [];
    for (let j = start; j < xs.length && w.length < size; j += stride) w.push(xs[j]);
    if (!dropRemainder || w.length === size) out.push(w);
  }
  return out;
}

test("tf.data's documented examples", async (t) => {
  const r7 = range(7);
  t.deepEqual(await all(fromIterable(r7).pipe(window(3))), [[0, 1, 2], [3, 4, 5], [6]]);
  t.deepEqual(await all(fromIterable(r7).pipe(window(3, { dropRemainder: true }))), [[0, 1, 2], [3, 4, 5]]);
  t.deepEqual(await all(fromIterable(r7).pipe(window(3, { shift: 2, dropRemainder: true }))), [[0, 1, 2], [2, 3, 4], [4, 5, 6]]);
  t.deepEqual(await all(fromIterable(r7).pipe(window(3, { shift: 1, stride: 2, dropRemainder: true }))), [[0, 2, 4], [1, 3, 5], [2, 4, 6]]);
  t.deepEqual(await all(fromIterable(r7).pipe(window(3, { shift: 1 }))).then((w) => w.slice(-2)), [[5, 6], [6]]);
});

test('windows keep tuple and object structure; stack turns a window into a batch', async (t) => {
  const rows = range(5).map((i) => ({ id: i, tag: [i, `t${i}`] as [number, string] }));
  const ws = await all(fromIterable(rows).pipe(window(2, { shift: 2 })));
  t.deepEqual(ws[1], [rows[2], rows[3]]);
  const [b] = await all(fromIterable(rows).pipe(window(2), take(1), map((w) => stack(w) as { id: { data: Float32Array }; tag: [unknown, string[]] })));
  t.deepEqual([...b.id.data], [0, 1]);
  t.deepEqual(b.tag[1], ['t0', 't1']);
});

test('property: window equals the reference for any size, shift, stride and length', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 4 }),
      fc.boolean(),
      async (n, size, shift, stride, dropRemainder) => {
        const xs = range(n);
        const got = await all(fromIterable(xs).pipe(window(size, { shift, stride, dropRemainder })));
        t.deepEqual(got, reference(xs, size, shift, stride, dropRemainder));
      },
    ),
    { seed: 15, numRuns: 300 },
  );
});

test('rejects bad sizes; errors and unsubscribe pass through', async (t) => {
  t.throws(() => window(0), { message: /size must be an integer >= 1/ });
  t.throws(() => window(2, { shift: 0 }), { message: /shift must be an integer >= 1/ });
  t.throws(() => window(2, { stride: 1.5 }), { message: /stride must be an integer >= 1/ });
  const failing = new Observable<number>((s) => {
    s.next(1);
    s.error(new Error('boom'));
  });
  await t.throwsAsync(all(failing.pipe(window(2))), { message: 'boom' });
  let released = false;
  const endless = new Observable<number>((s) => {
    let i = 0;
    const id = setInterval(() => s.next(i++), 1);
    return () => {
      released = true;
      clearInterval(id);
    };
  });
  t.deepEqual(await lastValueFrom(endless.pipe(window(2), take(2), toArray())), [[0, 1], [2, 3]]);
  t.true(released);
});

test('holds only what an open window needs: skipped and emitted elements are released', async (t) => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return t.pass('needs --expose-gc (set in ava nodeArguments)');
  let push: (x: object) => void = () => undefined;
  const source = new Observable<object>((s) => {
    push = (x) => s.next(x);
  });
  const refs: WeakRef<object>[] = [];
  const sub = source.pipe(window(2, { shift: 10 })).subscribe();
  const feed = (n: number) => {
    for (let i = 0; i < n; i++) {
      const x = { i, payload: new Float64Array(16) };
      refs.push(new WeakRef(x));
      push(x);
    }
  };
  feed(11); // window [0, 1] emitted and dropped; 2..9 between windows; 10 opens the next window
  await new Promise((r) => setTimeout(r, 0)); // WeakRefs hold their targets until the job ends
  gc();
  const alive = refs.map((r, i) => (r.deref() ? i : -1)).filter((i) => i >= 0);
  t.deepEqual(alive, [10]);
  sub.unsubscribe();
});
