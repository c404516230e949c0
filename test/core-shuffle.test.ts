import test from 'ava';
import { lastValueFrom, toArray, repeat, bufferCount } from 'rxjs';
import { fromIterable, shuffle } from '../src/index.js';
import { range } from './helpers.js';

const run = (source: number[], op: ReturnType<typeof shuffle<number>>) => lastValueFrom(fromIterable(source).pipe(op, toArray()));

test('same seed, same order; every element exactly once', async (t) => {
  const a = await run(range(500), shuffle(64, { seed: 42 }));
  const b = await run(range(500), shuffle(64, { seed: 42 }));
  t.deepEqual(a, b);
  t.notDeepEqual(a, range(500));
  t.deepEqual([...a].sort((x, y) => x - y), range(500));
});

test('different seeds, different orders', async (t) => {
  t.notDeepEqual(await run(range(200), shuffle(50, { seed: 1 })), await run(range(200), shuffle(50, { seed: 2 })));
});

test('each epoch (subscription) gets a new permutation, reproducibly', async (t) => {
  const epochs = (seed: number) =>
    lastValueFrom(fromIterable(range(100)).pipe(shuffle(100, { seed }), toArray(), repeat(3), bufferCount(3)));
  const [e1, e2, e3] = await epochs(9);
  t.notDeepEqual(e1, e2);
  t.notDeepEqual(e2, e3);
  for (const e of [e1, e2, e3]) t.deepEqual([...e].sort((x, y) => x - y), range(100));
  t.deepEqual(await epochs(9), [e1, e2, e3], 'the same seed replays the same epoch sequence');
});

test('reshuffleEachEpoch: false repeats the same order every epoch', async (t) => {
  const [e1, e2] = await lastValueFrom(
    fromIterable(range(100)).pipe(shuffle(10, { seed: 5, reshuffleEachEpoch: false }), toArray(), repeat(2), bufferCount(2)),
  );
  t.deepEqual(e1, e2);
});

test('the window bounds how far an element can move early', async (t) => {
  // With window W, the first output is one of the first W + 1 inputs.
  for (let seed = 0; seed < 30; seed++) {
    const out = await run(range(1000), shuffle(10, { seed }));
    t.true(out[0] <= 10);
  }
});

test('window ≥ dataset size: positions close to uniform (chi-square)', async (t) => {
  const n = 10;
  const trials = 4000;
  const shuffled = await lastValueFrom(
    fromIterable(range(n)).pipe(shuffle(n, { seed: 123 }), toArray(), repeat(trials), toArray()),
  );
  // Where does element 0 land? Each position should get trials / n.
  const counts = new Array<number>(n).fill(0);
  for (const perm of shuffled) counts[perm.indexOf(0)]++;
  const expected = trials / n;
  const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
  // 9 degrees of freedom: p = 0.001 at 27.9.
  t.true(chi2 < 27.9, `chi2 ${chi2.toFixed(1)} counts ${counts.join(',')}`);
  // And every element appears at position 0 about equally often.
  const first = new Array<number>(n).fill(0);
  for (const perm of shuffled) first[perm[0]]++;
  const chi2first = first.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
  t.true(chi2first < 27.9, `chi2 ${chi2first.toFixed(1)}`);
});

test('a small window spreads positions locally, not globally', async (t) => {
  const out = await run(range(1000), shuffle(20, { seed: 3 }));
  const displacement = out.map((v, i) => Math.abs(v - i));
  const mean = displacement.reduce((a, b) => a + b, 0) / displacement.length;
  t.true(mean > 3 && mean < 60, `mean displacement ${mean}`);
});

test('rejects a bad window', (t) => {
  t.throws(() => shuffle(0), { instanceOf: RangeError });
});
