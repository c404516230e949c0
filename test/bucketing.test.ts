/** raggedBatch, bucketBySequenceLength and groupByWindow, with tf.data's semantics. */
import test from 'ava';
import { lastValueFrom, Observable, take, toArray } from 'rxjs';
import { bucketBySequenceLength, ElementError, fromIterable, groupByWindow, LimitError, raggedBatch, unbatch, type NDArray, type RaggedArray } from '../src/index.js';
import { range } from './helpers.js';

const all = <T>(o: Observable<T>): Promise<T[]> => lastValueFrom(o.pipe(toArray()));

test('raggedBatch: rows end to end with row splits; scalars and strings as batch; unbatch gives the rows back', async (t) => {
  const rows = [
    { tokens: [1, 2], tags: Int32Array.from([7, 8]), label: 0, id: 'a' },
    { tokens: [3], tags: Int32Array.from([9]), label: 1, id: 'b' },
    { tokens: [], tags: new Int32Array(0), label: 0, id: 'c' },
    { tokens: [4, 5, 6], tags: Int32Array.from([1, 2, 3]), label: 1, id: 'd' },
  ];
  const [b] = await all(fromIterable(rows).pipe(raggedBatch(4)));
  const tokens = b.tokens as RaggedArray;
  t.deepEqual(tokens.values, { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [6] });
  t.deepEqual(tokens.rowSplits, Int32Array.from([0, 2, 3, 3, 6]));
  t.true((b.tags as RaggedArray).values.data instanceof Int32Array, 'dtype kept');
  t.deepEqual(b.label, { data: new Float32Array([0, 1, 0, 1]), shape: [4] });
  t.deepEqual(b.id, ['a', 'b', 'c', 'd']);
  const back = await all(fromIterable(rows).pipe(raggedBatch(3), unbatch()));
  t.deepEqual(back.map((r) => [...(r.tokens as Float32Array)]), rows.map((r) => r.tokens));
  t.deepEqual(back.map((r) => r.tags), rows.map((r) => r.tags));
});

test('raggedBatch: rank-2 rows vary in their first dimension only', async (t) => {
  const a: NDArray = { data: new Float32Array([1, 2, 3, 4]), shape: [2, 2] };
  const c: NDArray = { data: new Float32Array([5, 6]), shape: [1, 2] };
  const [b] = await all(fromIterable([a, c]).pipe(raggedBatch(2)));
  t.deepEqual(b, { values: { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [3, 2] }, rowSplits: Int32Array.from([0, 2, 3]) });
  t.deepEqual(await all(fromIterable([b]).pipe(unbatch())), [a, c]);
  const wrong: NDArray = { data: new Float32Array(3), shape: [1, 3] };
  await t.throwsAsync(all(fromIterable([a, wrong]).pipe(raggedBatch(2))), { message: /element #1 has shape \[1, 3\].*only the first dimension may vary/ });
});

test('bucketBySequenceLength: buckets by length, pads within the bucket, flushes partial buckets at the end', async (t) => {
  const seqs = [[1, 1], [2, 2, 2, 2], [3], [4, 4, 4, 4, 4, 4], [5, 5, 5], [6, 6]].map((tokens) => ({ tokens }));
  const out = await all(fromIterable(seqs).pipe(bucketBySequenceLength((s) => s.tokens.length, [3, 5], [2, 2, 2], { padValue: -1 })));
  const view = out.map((b) => ({ shape: (b.tokens as NDArray).shape, data: [...(b.tokens as NDArray).data] }));
  t.deepEqual(view, [
    { shape: [2, 2], data: [1, 1, 3, -1] }, // bucket 0 (length < 3) fills at the 3rd element
    { shape: [2, 4], data: [2, 2, 2, 2, 5, 5, 5, -1] }, // bucket 1 (3 ≤ length < 5)
    { shape: [1, 6], data: [4, 4, 4, 4, 4, 4] }, // the rest at the end, in the order they were opened
    { shape: [1, 2], data: [6, 6] },
  ]);
  const dropped = await all(fromIterable(seqs).pipe(bucketBySequenceLength((s) => s.tokens.length, [3, 5], [2, 2, 2], { dropRemainder: true })));
  t.is(dropped.length, 2);
});

test('bucketBySequenceLength: argument checks and a bad lengthFn', async (t) => {
  t.throws(() => bucketBySequenceLength(() => 1, [3, 2], [1, 1, 1]), { message: /boundaries must be increasing/ });
  t.throws(() => bucketBySequenceLength(() => 1, [3], [1]), { message: /batchSizes needs 2 entries/ });
  await t.throwsAsync(all(fromIterable([1, 2]).pipe(bucketBySequenceLength(() => Number.NaN, [3], [1, 1]))), { instanceOf: ElementError, message: /element #0.*not a number/ });
});

test('groupByWindow: windows per key, reduced as they fill and at the end', async (t) => {
  const xs = range(10);
  const out = await all(fromIterable(xs).pipe(groupByWindow((x) => x % 3, (key, w) => [`${key}:${w.join(',')}`], 2)));
  t.deepEqual(out, ['0:0,3', '1:1,4', '2:2,5', '0:6,9', '1:7', '2:8']);
  const bySize = await all(fromIterable(xs).pipe(groupByWindow((x) => (x < 5 ? 'small' : 'big'), (_, w) => w, (key) => (key === 'small' ? 5 : 2))));
  t.deepEqual(bySize, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('groupByWindow: maxKeys bounds the open windows; errors name the element', async (t) => {
  await t.throwsAsync(all(fromIterable(range(10)).pipe(groupByWindow((x) => x, (_, w) => w, 2, { maxKeys: 4 }))), {
    instanceOf: LimitError,
    message: /key 4 would be the 5th with an open window \(maxKeys 4\)/,
  });
  await t.throwsAsync(all(fromIterable(range(3)).pipe(groupByWindow((x) => { if (x === 2) throw new Error('bad key'); return 0; }, (_, w) => w, 5))), {
    instanceOf: ElementError,
    message: /groupByWindow keyFn failed on element #2: bad key/,
  });
  await t.throwsAsync(all(fromIterable(range(3)).pipe(groupByWindow(() => 0, () => { throw new Error('bad reduce'); }, 2))), {
    instanceOf: ElementError,
    message: /reduceFn failed on element #1: bad reduce/,
  });
  let released = false;
  const endless = new Observable<number>((s) => {
    let i = 0;
    const id = setInterval(() => s.next(i++), 1);
    return () => {
      released = true;
      clearInterval(id);
    };
  });
  t.deepEqual(await lastValueFrom(endless.pipe(groupByWindow((x) => x % 2, (_, w) => [w], 2), take(2), toArray())), [[0, 2], [1, 3]]);
  t.true(released);
});
