/** batch / paddedBatch / unbatch over every element structure tf.data batches (issue 15). */
import test from 'ava';
import { lastValueFrom, toArray, zip, type Observable } from 'rxjs';
import { selectBackend } from '../src/train/backend.js';
import { batch, fromIterable, paddedBatch, parseExample, serializeExample, toTensor, tuple, unbatch, type NDArray } from '../src/index.js';

const all = <T>(o: Observable<T>): Promise<T[]> => lastValueFrom(o.pipe(toArray()));

test('tuples whose first item is a number: [1, "foo"] batches into a number column and a string column', async (t) => {
  const [b] = await all(fromIterable([[1, 'foo'], [2, 'bar'], [3, 'baz']] as [number, string][]).pipe(batch(3)));
  t.deepEqual(b[0], { data: new Float32Array([1, 2, 3]), shape: [3] });
  t.deepEqual(b[1], ['foo', 'bar', 'baz']);
});

test('(index, vector) pairs, as enumerate makes them, are tuples', async (t) => {
  const pairs = [0, 1, 2].map((i) => [i, new Float32Array([i, i * 10])] as [number, Float32Array]);
  const [b] = await all(fromIterable(pairs).pipe(batch(3)));
  t.deepEqual(b[0], { data: new Float32Array([0, 1, 2]), shape: [3] });
  t.deepEqual(b[1], { data: new Float32Array([0, 0, 1, 10, 2, 20]), shape: [3, 2] });
});

test('an array of numbers is a tensor; tuple() forces a tuple', async (t) => {
  const [dense] = await all(fromIterable([[1, 2], [3, 4]]).pipe(batch(2)));
  t.deepEqual(dense, { data: new Float32Array([1, 2, 3, 4]), shape: [2, 2] });
  const [split] = await all(fromIterable([tuple(1, 2), tuple(3, 4)]).pipe(batch(2)));
  t.deepEqual(split[0], { data: new Float32Array([1, 3]), shape: [2] });
  t.deepEqual(split[1], { data: new Float32Array([2, 4]), shape: [2] });
  const back = await all(fromIterable([tuple(1, 2), tuple(3, 4)]).pipe(batch(2), unbatch(), batch(2)));
  t.true(Array.isArray(back[0]) && back[0].length === 2, 'unbatch marks tuples, so batching again keeps them tuples');
});

test('booleans are uint8; nested objects and tuples nest', async (t) => {
  const rows = [0, 1, 2].map((i) => ({ flag: i % 2 === 0, meta: { pos: [i, 'p' + i] as [number, string], mask: [true, false] } }));
  const [b] = await all(fromIterable(rows).pipe(batch(3)));
  t.deepEqual(b.flag, { data: new Uint8Array([1, 0, 1]), shape: [3] });
  t.deepEqual(b.meta.pos[1], ['p0', 'p1', 'p2']);
  t.deepEqual(b.meta.mask, { data: new Uint8Array([1, 0, 1, 0, 1, 0]), shape: [3, 2] });
});

test('paddedBatch takes tuple elements: zip(a$, a$) of Int32Arrays, per-component pad values', async (t) => {
  const a = [Int32Array.from([1]), Int32Array.from([2, 3]), Int32Array.from([4, 5, 6])];
  const [b] = await all(zip(fromIterable(a), fromIterable(a)).pipe(paddedBatch(3, { padValue: [0, -1] })));
  t.deepEqual(b[0], { data: Int32Array.from([1, 0, 0, 2, 3, 0, 4, 5, 6]), shape: [3, 3] });
  t.deepEqual(b[1], { data: Int32Array.from([1, -1, -1, 2, 3, -1, 4, 5, 6]), shape: [3, 3] });
});

test('paddedBatch: per-field pad values and shapes; a pad value the dtype cannot hold is an error', async (t) => {
  const rows = [{ tokens: [1, 2], tags: Int32Array.from([7]), id: 'a' }, { tokens: [3], tags: Int32Array.from([8, 9]), id: 'b' }];
  const [b] = await all(fromIterable(rows).pipe(paddedBatch(2, { padValue: { tags: -1 }, shapes: { tokens: [4] } })));
  t.deepEqual(b.tokens, { data: new Float32Array([1, 2, 0, 0, 3, 0, 0, 0]), shape: [2, 4] });
  t.deepEqual(b.tags, { data: Int32Array.from([7, -1, 8, 9]), shape: [2, 2] });
  t.deepEqual(b.id, ['a', 'b']);
  await t.throwsAsync(all(fromIterable([Uint8Array.from([1]), Uint8Array.from([1, 2])]).pipe(paddedBatch(2, { padValue: -1 }))), {
    message: /padValue -1 does not fit the values' Uint8Array/,
  });
  await t.throwsAsync(all(fromIterable(rows).pipe(paddedBatch(2, { padValue: { tokens: [0] } }))), { message: /padValue at 'tokens' should be a number/ });
});

test('unbatch of [[[1, 3], [2, 1], [3, 3]]] gives three rows', async (t) => {
  const out = await all(fromIterable([[[1, 3], [2, 1], [3, 3]]]).pipe(unbatch()));
  t.deepEqual(out, [[1, 3], [2, 1], [3, 3]]);
});

test('a 2x3 batch gives 2 rows, not 3', async (t) => {
  const plain = await all(fromIterable([[[1, 2, 3], [4, 5, 6]]]).pipe(unbatch()));
  t.deepEqual(plain, [[1, 2, 3], [4, 5, 6]]);
  const nd: NDArray = { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] };
  const rows = await all(fromIterable([nd]).pipe(unbatch()));
  t.deepEqual(rows, [new Float32Array([1, 2, 3]), new Float32Array([4, 5, 6])]);
});

test('batch then unbatch of ["foo", 1] tuples gives the elements back', async (t) => {
  const xs: [string, number][] = [['foo', 1], ['bar', 2], ['baz', 3]];
  const out = await all(fromIterable(xs).pipe(batch(2), unbatch()));
  t.deepEqual(out.map((e) => [...(e as unknown[])]), xs);
});

test('unbatch: components that disagree on the row count are an error naming them', async (t) => {
  const bad = { xs: { data: new Float32Array(6), shape: [3, 2] }, ys: { data: new Float32Array(2), shape: [2] } };
  await t.throwsAsync(all(fromIterable([bad]).pipe(unbatch())), { message: /'xs' has 3 rows, 'ys' has 2/ });
});

test('dtype: integers stay exact, Int32Array stays Int32Array, float32 refuses integers it cannot hold', async (t) => {
  const [ints] = await all(fromIterable([{ v: Int32Array.from([2 ** 30]) }, { v: Int32Array.from([7]) }]).pipe(batch(2)));
  t.true(ints.v.data instanceof Int32Array);
  const big = 2 ** 24 + 1;
  await t.throwsAsync(all(fromIterable([{ id: 1 }, { id: big }]).pipe(batch(2))), {
    instanceOf: RangeError,
    message: /element #1 at 'id' is the integer 16777217, which float32 cannot hold exactly; pass \{ dtype: 'int32' \}/,
  });
  const [asInt] = await all(fromIterable([{ id: 1 }, { id: big }]).pipe(batch(2, { dtype: { id: 'int32' } })));
  t.deepEqual(asInt.id, { data: Int32Array.from([1, big]), shape: [2] });
  const [f64] = await all(fromIterable([[2 ** 40 + 1, 0.1]]).pipe(batch(1, { dtype: 'float64' })));
  t.deepEqual(f64, { data: Float64Array.from([2 ** 40 + 1, 0.1]), shape: [1, 2] });
  await t.throwsAsync(all(fromIterable([0.5]).pipe(batch(1, { dtype: 'int32' }))), { message: /element #0 holds 0.5, which int32 cannot hold/ });
  await t.throwsAsync(all(fromIterable([2 ** 31]).pipe(batch(1, { dtype: 'int32' }))), { message: /which int32 cannot hold/ });
  const [f32] = await all(fromIterable([0.1, 2 ** 30]).pipe(batch(2)));
  t.is(f32.data[0], Math.fround(0.1), 'fractions round to float32 as float32 means; 2^30 is exact in float32');
});

test('dtype survives batch → unbatch → batch: int32 scalars come back as rank-0 NDArrays', async (t) => {
  const out = await all(fromIterable([{ id: 3 }, { id: 4 }, { id: 5 }]).pipe(batch(2, { dtype: 'int32' }), unbatch(), batch(3)));
  t.deepEqual(out[0].id, { data: Int32Array.from([3, 4, 5]), shape: [3] });
});

test('security: a JSON __proto__ key is an ordinary field, never the batch prototype', async (t) => {
  const rows = ['{"__proto__": {"xs": [9, 9]}, "ys": 1}', '{"__proto__": {"xs": [8, 8]}, "ys": 2}'].map((l) => JSON.parse(l) as Record<string, unknown>);
  const [b] = await all(fromIterable(rows).pipe(batch(2)));
  t.is(Object.getPrototypeOf(b), Object.prototype);
  t.is((b as Record<string, unknown>).xs, undefined);
  t.deepEqual(Object.keys(b), ['__proto__', 'ys']);
  const own = Object.getOwnPropertyDescriptor(b, '__proto__')?.value as { xs: NDArray };
  t.deepEqual(own.xs, { data: new Float32Array([9, 9, 8, 8]), shape: [2, 2] });
  const back = await all(fromIterable([b]).pipe(unbatch()));
  t.is(Object.getPrototypeOf(back[0]), Object.prototype);
  t.true(Object.hasOwn(back[0] as object, '__proto__'));
  // An element lacking the field is an error, not the inherited Object.prototype.
  await t.throwsAsync(all(fromIterable([rows[0], { ys: 3 }]).pipe(batch(2))), { message: /element #1 has no field '__proto__'/ });
});

test('objects: fields in another order or beyond the reader pool batch the same; missing fields are named', async (t) => {
  const wide = (i: number) => Object.fromEntries(Array.from({ length: 12 }, (_, k) => [`f${k}`, i * 100 + k]));
  const rows = [wide(0), { ...wide(1) }, Object.fromEntries(Object.entries(wide(2)).reverse())];
  const [b] = await all(fromIterable(rows).pipe(batch(3)));
  t.deepEqual(b.f11, { data: new Float32Array([11, 111, 211]), shape: [3] });
  await t.throwsAsync(all(fromIterable([wide(0), { f0: 1 }]).pipe(batch(2))), { message: /element #1 has no field 'f1'/ });
  await t.throwsAsync(all(fromIterable([{ a: 1, b: 2 }, { a: 1, b: 'x' }]).pipe(batch(2))), { message: /element #1 at 'b' is string/ });
  await t.throwsAsync(all(fromIterable([wide(0), { ...wide(1), f5: 'x' }]).pipe(batch(2))), { message: /element #1 at 'f5' is string/ });
});

test('ragged nested arrays are refused by batch with a pointer to paddedBatch/raggedBatch', async (t) => {
  await t.throwsAsync(all(fromIterable([[[1, 2], [3]]]).pipe(batch(1))), { message: /ragged nested array.*paddedBatch or raggedBatch/ });
});

test('int64 scalars from parseExample: numbers that batch as float32 exactly, or int32 on request; never rounded', async (t) => {
  const parse = parseExample({ label: { type: 'int64', shape: [] }, x: { type: 'float', shape: [] } });
  const rows = (values: number[]) => fromIterable(values.map((v) => parse(serializeExample({ label: { int64: [v] }, x: v / 2 }))));
  const [f] = await all(rows([0, 1, 2 ** 24]).pipe(batch(3)));
  t.deepEqual(f.label, { data: Float32Array.from([0, 1, 2 ** 24]), shape: [3] }, 'float32, as tfjs losses want labels');
  await t.throwsAsync(all(rows([1, 2 ** 31 - 1]).pipe(batch(2))), { message: /element #1 at 'label' is the integer 2147483647, which float32 cannot hold exactly/ });
  const [i] = await all(rows([1, 2 ** 31 - 1]).pipe(batch(2, { dtype: { label: 'int32' } })));
  t.deepEqual(i.label, { data: Int32Array.from([1, 2 ** 31 - 1]), shape: [2] });
  t.true(i.x.data instanceof Float32Array);
  t.throws(() => parse(serializeExample({ label: { int64: [2n ** 40n] }, x: 0 }), 'f.tfrecord record 3'), { message: /int64 value 1099511627776 does not fit an int32.*f\.tfrecord record 3/ });
});

test('64-bit integers are refused with a clear error; toTensor refuses integers float32 cannot hold', async (t) => {
  await t.throwsAsync(all(fromIterable([{ id: 1n }]).pipe(batch(1))), { message: /element #0 at 'id' is a 64-bit integer.*convert it/ });
  await t.throwsAsync(all(fromIterable([{ id: BigInt64Array.of(1n) }]).pipe(batch(1))), { message: /element #0 at 'id' is a 64-bit integer \(a BigInt64Array\)/ });
  t.throws(() => toTensor({ data: Float64Array.of(2 ** 24 + 1), shape: [1] }), { message: /Float64Array holds the integer 16777217, which float32.*cannot hold exactly/ });
  await selectBackend('cpu', { log: false });
  const ok = toTensor({ data: Float64Array.of(0.1, 2 ** 30), shape: [2] });
  t.is(ok.dtype, 'float32');
  ok.dispose();
});
