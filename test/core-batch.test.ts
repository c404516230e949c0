import test from 'ava';
import { lastValueFrom, toArray, of } from 'rxjs';
import { fromIterable, batch, paddedBatch, unbatch, type NDArray } from '../src/index.js';
import { range } from './helpers.js';

test('stacks objects of numbers, arrays and typed arrays into typed arrays with shapes', async (t) => {
  const rows = range(5).map((i) => ({ xs: new Float32Array([i, i + 0.5]), grid: [[i, 0], [0, i]], ys: i % 2, id: `row${i}`, u8: new Uint8Array([i]) }));
  const [b1, b2] = await lastValueFrom(fromIterable(rows).pipe(batch(4), toArray()));
  t.deepEqual(b1.xs.shape, [4, 2]);
  t.true(b1.xs.data instanceof Float32Array);
  t.deepEqual(Array.from(b1.xs.data), [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5]);
  t.deepEqual(b1.grid.shape, [4, 2, 2]);
  t.deepEqual(Array.from(b1.grid.data.subarray(4, 8)), [1, 0, 0, 1]);
  t.deepEqual(b1.ys.shape, [4]);
  t.deepEqual(Array.from(b1.ys.data), [0, 1, 0, 1]);
  t.deepEqual(b1.id, ['row0', 'row1', 'row2', 'row3']);
  t.true(b1.u8.data instanceof Uint8Array, 'typed arrays keep their type');
  t.deepEqual(b2.xs.shape, [1, 2], 'the last batch is smaller');
});

test('tuples and NDArrays are stacked field by field', async (t) => {
  const img = (v: number): NDArray<Uint8Array> => ({ data: new Uint8Array(6).fill(v), shape: [1, 2, 3] });
  const [b] = await lastValueFrom(fromIterable([[img(1), 3], [img(2), 4]] as [NDArray<Uint8Array>, number][]).pipe(batch(2), toArray()));
  t.deepEqual(b[0].shape, [2, 1, 2, 3]);
  t.is(b[0].data[6], 2);
  t.deepEqual(Array.from(b[1].data), [3, 4]);
});

test('dropRemainder drops the short last batch', async (t) => {
  const out = await lastValueFrom(fromIterable(range(10)).pipe(batch(4, { dropRemainder: true }), toArray()));
  t.deepEqual(out.map((b) => b.shape[0]), [4, 4]);
});

test('shape mismatches name the element and field', async (t) => {
  await t.throwsAsync(
    lastValueFrom(fromIterable([{ xs: [1, 2] }, { xs: [1, 2, 3] }]).pipe(batch(2))),
    { message: /element #1 at 'xs'.*shape \[2\]/ },
  );
  await t.throwsAsync(lastValueFrom(fromIterable<unknown>([{ a: 1 }, { b: 2 }]).pipe(batch(2))), { message: /element #1 has no field 'a'/ });
  await t.throwsAsync(lastValueFrom(fromIterable<unknown>([1, 'x']).pipe(batch(2))), { message: /element #1 is string/ });
});


test('typed-array features: every element checked, Buffers stack into a Uint8Array', async (t) => {
  const stackOf = (xs: unknown[]) => lastValueFrom(fromIterable(xs.map((v) => ({ v }))).pipe(batch(xs.length)));
  await t.throwsAsync(stackOf([new Float32Array(2), new Float32Array(3)]), { message: /element #1 at 'v' has shape \[3\]; .*shape \[2\]/ });
  await t.throwsAsync(stackOf([new Float32Array(2), new Int32Array(2)]), { message: /element #1 at 'v' is a Int32Array; .*Float32Array/ });
  await t.throwsAsync(stackOf([new Float32Array(2), [1, 2]]), { message: /element #1 at 'v' is not a typed array/ });
  await t.throwsAsync(stackOf([{ data: new Float32Array(2), shape: [2] }, { data: new Float32Array(2), shape: [1, 2] }]), {
    message: /element #1 at 'v' has shape \[1, 2\]/,
  });
  await t.throwsAsync(lastValueFrom(fromIterable<unknown>([{ v: new Float32Array(1) }, { w: new Float32Array(1) }]).pipe(batch(2))), {
    message: /element #1 has no field 'v'/,
  });
  const bytes = (await stackOf([Buffer.from([1, 2]), new Uint8Array([3, 4])])) as unknown as { v: NDArray };
  t.is(bytes.v.data.constructor, Uint8Array, 'a Node Buffer is a Uint8Array underneath; the batch is a plain one');
  t.deepEqual([...bytes.v.data], [1, 2, 3, 4]);
  t.deepEqual(bytes.v.shape, [2, 2]);
});
test('rejects a bad size', (t) => {
  t.throws(() => batch(0), { instanceOf: RangeError });
  t.throws(() => paddedBatch(1.5), { instanceOf: RangeError });
});

test('paddedBatch pads every dimension to the longest in the batch', async (t) => {
  const seqs = [{ tokens: [1, 2], label: 0 }, { tokens: [3], label: 1 }, { tokens: [4, 5, 6], label: 0 }];
  const [b] = await lastValueFrom(fromIterable(seqs).pipe(paddedBatch(3), toArray()));
  const tokens = b.tokens as NDArray;
  t.deepEqual(tokens.shape, [3, 3]);
  t.deepEqual(Array.from(tokens.data), [1, 2, 0, 3, 0, 0, 4, 5, 6]);
  t.deepEqual(Array.from((b.label as NDArray).data), [0, 1, 0]);
});

test('paddedBatch: 2-D features, a pad value and fixed shapes', async (t) => {
  const a: NDArray<Int32Array> = { data: Int32Array.from([1, 2, 3, 4]), shape: [2, 2] };
  const c: NDArray<Int32Array> = { data: Int32Array.from([5, 6, 7]), shape: [1, 3] };
  const [b] = await lastValueFrom(fromIterable([a, c]).pipe(paddedBatch(2, { padValue: -1 }), toArray()));
  t.deepEqual(b.shape, [2, 2, 3]);
  t.true(b.data instanceof Int32Array);
  t.deepEqual(Array.from(b.data), [1, 2, -1, 3, 4, -1, 5, 6, 7, -1, -1, -1]);
  const [fixed] = await lastValueFrom(of([1, 2]).pipe(paddedBatch(1, { shapes: [5] }), toArray()));
  t.deepEqual(fixed.shape, [1, 5]);
  await t.throwsAsync(lastValueFrom(of([1, 2, 3]).pipe(paddedBatch(1, { shapes: [2] }))), { message: /over the padded shape/ });
});

test('unbatch inverts batch, with views and numbers', async (t) => {
  const rows = range(7).map((i) => ({ xs: new Float32Array([i, -i]), ys: i, name: `n${i}` }));
  const out = await lastValueFrom(fromIterable(rows).pipe(batch(3), unbatch(), toArray()));
  t.is(out.length, 7);
  t.deepEqual(out.map((r) => r.ys), range(7));
  t.deepEqual(out.map((r) => r.name), rows.map((r) => r.name));
  t.deepEqual(out[3].xs, new Float32Array([3, -3]), 'a rank-1 row is a typed array (a view into the batch)');
});

test('unbatch then batch re-batches to another size', async (t) => {
  const out = await lastValueFrom(fromIterable(range(10)).pipe(batch(4), unbatch(), batch(5), toArray()));
  t.deepEqual(out.map((b) => Array.from((b as NDArray).data)), [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]);
});

test('unbatch rejects what is not a batch', async (t) => {
  await t.throwsAsync(lastValueFrom(of(42).pipe(unbatch())), { message: /not a batch/ });
});
