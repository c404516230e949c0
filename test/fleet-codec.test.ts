import test from 'ava';
import fc from 'fast-check';
import { lastValueFrom, toArray } from 'rxjs';
import { RecordError, batch, fromIterable, isMarkedTuple, tuple } from '../src/index.js';
import { BATCH_CODEC_VERSION, decodeBatch, encodeBatch, isEncodedBatch } from '../src/fleet/codec.js';

test('a batch made by batch() round-trips with dtypes, shapes and structure', async (t) => {
  const elements = Array.from({ length: 10 }, (_, i) => ({ xs: new Float32Array([i, i + 0.5, -i]), ids: new Int32Array([i * 1000]), label: i % 3, tag: tuple(i, 'x') }));
  const [b] = await lastValueFrom(fromIterable(elements).pipe(batch(10), toArray()));
  const bytes = encodeBatch(b);
  t.true(isEncodedBatch(bytes));
  t.is(bytes[4], BATCH_CODEC_VERSION);
  const back = decodeBatch<typeof b>(bytes);
  t.deepEqual(back, b);
  const xs = (back as unknown as { xs: { data: Float32Array; shape: number[] } }).xs;
  t.true(xs.data instanceof Float32Array);
  t.deepEqual(xs.shape, [10, 3]);
  // Fresh buffers, never views on the message.
  t.is(xs.data.byteOffset, 0);
  t.not(xs.data.buffer, bytes.buffer);
});

test('every dtype, tuples, nested arrays and scalars keep their kind', (t) => {
  const value = {
    f32: new Float32Array([1.5, NaN]), f64: new Float64Array([Math.PI]), i8: new Int8Array([-1]), i16: new Int16Array([-300]),
    i32: new Int32Array([-70000]), u8: new Uint8Array([255]), u8c: new Uint8ClampedArray([7]), u16: new Uint16Array([65535]), u32: new Uint32Array([2 ** 32 - 1]),
    nd: { data: new Uint8Array(6), shape: [2, 3] }, scalar: { data: new Float32Array([2]), shape: [] },
    t: tuple(1, [2, 3], 'four'), nested: [[{ a: null, b: undefined, c: true, d: false }]], n: -0, big: 2 ** 40, frac: 0.1, s: 'héllo ✓', empty: {},
  };
  const back = decodeBatch<typeof value>(encodeBatch(value));
  t.deepEqual(back, value);
  t.true(back.u8c instanceof Uint8ClampedArray);
  t.true(Object.is(back.n, -0));
  t.true(isMarkedTuple(back.t));
  t.false(isMarkedTuple(back.nested));
  // A Node Buffer (a Uint8Array) travels as uint8; a view on part of a buffer takes only its bytes.
  const pooled = Buffer.from('abcdef').subarray(2, 4);
  t.deepEqual(decodeBatch(encodeBatch({ b: pooled })), { b: new Uint8Array([99, 100]) });
});

test('random nested values round-trip (property)', (t) => {
  const leaf = fc.oneof(fc.double(), fc.integer(), fc.string(), fc.boolean(), fc.constant(null), fc.float32Array(), fc.int32Array(), fc.uint8Array());
  const tree = fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(fc.string().filter((k) => k !== '__proto__'), tie('node'), { maxKeys: 4 })),
  })).node;
  let runs = 0;
  fc.assert(
    fc.property(tree, (value) => {
      runs++;
      t.deepEqual(decodeBatch(encodeBatch(value)), value);
    }),
    { numRuns: 200, seed: 20 },
  );
  t.is(runs, 200);
});

test('unsupported values are refused with their path', (t) => {
  t.throws(() => encodeBatch({ a: [1, new Map()] }), { instanceOf: TypeError, message: /Map at the batch\.a\[1\]/ });
  t.throws(() => encodeBatch({ f: () => 1 }), { message: /function at the batch\.f/ });
  t.throws(() => encodeBatch(new BigInt64Array(1)), { message: /BigInt64Array/ });
  t.throws(() => encodeBatch({ data: new Float32Array(5), shape: [2, 3] }), { message: /shape \[2, 3\] \(6 values\) but 5 values/ });
  t.throws(() => encodeBatch(new Float32Array(1000), { maxBytes: 100 }), { instanceOf: RangeError, message: /over maxBytes 100/ });
});

test('corrupt messages fail with a RecordError naming the byte and the origin', (t) => {
  const good = encodeBatch({ xs: { data: new Float32Array([1, 2, 3, 4]), shape: [2, 2] }, y: 'label' });
  const origin = 'topic batches partition 2 offset 17';
  const bad = (bytes: Uint8Array, re: RegExp): void => {
    const error = t.throws(() => decodeBatch(bytes, { origin }), { instanceOf: RecordError });
    t.regex(error.message, re);
    t.regex(error.message, /\(at topic batches partition 2 offset 17\)$/);
  };
  bad(Buffer.from('{"xs":[1,2]}'), /not an rxdata batch/);
  bad(good.subarray(0, 5), /too short/);
  bad(good.subarray(0, good.length - 3), /header says \d+ body bytes but \d+ follow/);
  const version = Buffer.from(good);
  version[4] = 9;
  bad(version, /version 9, this rxdata reads version 1/);
  // A shape that claims more values than the message holds: refused before allocating.
  const huge = Buffer.from(good);
  const ndAt = huge.indexOf(8, 12 + 1 + 1 + 1 + 2); // the NDArray tag after the object header and key "xs"
  huge[ndAt + 3] = 0x7f; // first dimension 2 → 127
  bad(huge, /needs \d+ bytes, \d+ left/);
  const tag = Buffer.from(good);
  tag[12] = 99;
  bad(tag, /unknown value tag 99 \(byte 12/);
  // Without an origin, still a RecordError with the byte position.
  t.throws(() => decodeBatch(Buffer.concat([good.subarray(0, 8), Buffer.from([0, 0, 0, 0])])), { instanceOf: RecordError, message: /a value tag needs 1 bytes, 0 left \(byte 12 of 12\)$/ });
});

test('the encoding is compact: a float32 batch costs its bytes plus a small header', (t) => {
  const b = { xs: { data: new Float32Array(256 * 64).map((_, i) => i / 7), shape: [256, 64] }, ys: { data: new Int32Array(256), shape: [256] } };
  const bytes = encodeBatch(b);
  t.true(bytes.length < 256 * 64 * 4 + 256 * 4 + 40, `${bytes.length} bytes`);
  t.true(bytes.length * 4 < Buffer.byteLength(JSON.stringify({ xs: Array.from(b.xs.data), ys: Array.from(b.ys.data) })));
});
