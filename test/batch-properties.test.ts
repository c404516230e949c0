/**
 * Property tests (fast-check, fixed seeds): for generated element structures, unbatch(batch(xs))
 * gives xs back in the form docs/batching.md states (dtype kept), batch shapes are right, and
 * paddedBatch / raggedBatch then unbatch give the padded / same elements.
 */
import test from 'ava';
import fc from 'fast-check';
import { lastValueFrom, Observable, toArray } from 'rxjs';
import { batch, batchSize, fromIterable, isNDArray, paddedBatch, raggedBatch, tuple, unbatch, type NDArray, type TypedArray } from '../src/index.js';

const all = <T>(o: Observable<T>): Promise<T[]> => lastValueFrom(o.pipe(toArray()));

type Ctor = { new (n: number): TypedArray; from(xs: ArrayLike<number>): TypedArray; readonly name: string };
const CTORS: Record<string, Ctor> = { Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array };
const RANGES: Record<string, [number, number]> = {
  Int8Array: [-128, 127], Uint8Array: [0, 255], Uint8ClampedArray: [0, 255], Int16Array: [-32768, 32767], Uint16Array: [0, 65535],
  Int32Array: [-(2 ** 31), 2 ** 31 - 1], Uint32Array: [0, 2 ** 32 - 1],
};

type Schema =
  | { k: 'num' }
  | { k: 'bool' }
  | { k: 'str' }
  | { k: 'typed'; ctor: string; len: number }
  | { k: 'nd'; ctor: string; shape: number[] }
  | { k: 'nested'; shape: number[] }
  | { k: 'tuple'; items: Schema[]; marked: boolean }
  | { k: 'obj'; keys: string[]; fields: Schema[] };

const dim = fc.integer({ min: 0, max: 3 });
const ctorName = fc.constantFrom(...Object.keys(CTORS));
const KEYS = ['xs', 'ys', '__proto__', 'constructor', 'a b', '0', 'toString'];

const { schema } = fc.letrec<{ schema: Schema; leaf: Schema }>((tie) => ({
  leaf: fc.oneof(
    fc.constant<Schema>({ k: 'num' }),
    fc.constant<Schema>({ k: 'bool' }),
    fc.constant<Schema>({ k: 'str' }),
    fc.record({ k: fc.constant('typed' as const), ctor: ctorName, len: dim }),
    fc.record({ k: fc.constant('nd' as const), ctor: ctorName, shape: fc.array(dim, { maxLength: 3 }) }),
    // A JS array's shape is only known down to its first empty level: only the last dim may be 0.
    fc.record({ k: fc.constant('nested' as const), shape: fc.tuple(fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }), dim).map(([outer, last]) => [...outer, last]) }),
  ),
  schema: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tie('leaf'),
    fc.record({ k: fc.constant('tuple' as const), items: fc.array(tie('schema'), { minLength: 1, maxLength: 3 }), marked: fc.boolean() }),
    fc.uniqueArray(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 4 }).chain((keys) =>
      fc.record({ k: fc.constant('obj' as const), keys: fc.constant(keys), fields: fc.tuple(...keys.map(() => tie('schema'))) }),
    ),
  ),
}));

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function numbersFor(ctor: string, n: number): fc.Arbitrary<TypedArray> {
  const C = CTORS[ctor];
  const range = RANGES[ctor];
  const item = range ? fc.integer({ min: range[0], max: range[1] }) : ctor === 'Float32Array' ? fc.float() : fc.double();
  return fc.array(item, { minLength: n, maxLength: n }).map((xs) => C.from(xs));
}

function nestedOf(shape: readonly number[], flat: readonly number[], offset = 0): unknown {
  if (shape.length === 0) return flat[offset];
  const inner = size(shape.slice(1));
  return Array.from({ length: shape[0] }, (_, i) => nestedOf(shape.slice(1), flat, offset + i * inner));
}

/** A plain object with `entries` as own fields (`__proto__` too, as JSON.parse makes it). */
function objectOf(entries: [string, unknown][]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}

/** True when an array of these items could read as one tensor: such tuples are marked. */
const numericItem = (s: Schema): boolean => s.k === 'num' || s.k === 'bool' || s.k === 'nested';

function valueOf(s: Schema): fc.Arbitrary<unknown> {
  switch (s.k) {
    case 'num':
      return fc.float();
    case 'bool':
      return fc.boolean();
    case 'str':
      return fc.string({ maxLength: 4 });
    case 'typed':
      return numbersFor(s.ctor, s.len);
    case 'nd':
      return numbersFor(s.ctor, size(s.shape)).map((data): NDArray => ({ data, shape: [...s.shape] }));
    case 'nested':
      return fc.array(fc.float(), { minLength: size(s.shape), maxLength: size(s.shape) }).map((flat) => nestedOf(s.shape, flat));
    case 'tuple': {
      const mark = s.marked || s.items.every(numericItem);
      return fc.tuple(...s.items.map(valueOf)).map((items) => (mark ? tuple(...items) : items));
    }
    case 'obj':
      return fc.tuple(...s.fields.map(valueOf)).map((values) => objectOf(s.keys.map((k, i) => [k, values[i]])));
  }
}

/** What unbatch gives back for element `v` (docs/batching.md). */
function canonical(s: Schema, v: unknown): unknown {
  switch (s.k) {
    case 'num':
    case 'str':
      return v;
    case 'bool':
      return { data: Uint8Array.of(v ? 1 : 0), shape: [] };
    case 'typed':
      return v;
    case 'nd': {
      const { data, shape } = v as NDArray;
      if (shape.length === 0) return data instanceof Float32Array ? data[0] : { data, shape: [] };
      return shape.length === 1 ? data : v;
    }
    case 'nested': {
      const data = Float32Array.from((v as unknown[]).flat(Infinity) as number[]);
      return s.shape.length === 1 ? data : { data, shape: s.shape };
    }
    case 'tuple':
      return s.items.map((item, i) => canonical(item, (v as unknown[])[i]));
    case 'obj':
      return objectOf(s.keys.map((k, i) => [k, canonical(s.fields[i], Object.getOwnPropertyDescriptor(v, k)?.value)]));
  }
}

/** Checks a batch of `n` elements against the schema: every tensor `[n, ...shape]` of the right dtype. */
function checkShapes(s: Schema, b: unknown, n: number): string | undefined {
  const nd = (ctor: string, shape: number[]): string | undefined => {
    if (!isNDArray(b)) return 'not an NDArray';
    if (b.data.constructor.name !== ctor) return `dtype ${b.data.constructor.name}, expected ${ctor}`;
    return JSON.stringify(b.shape) === JSON.stringify([n, ...shape]) ? undefined : `shape ${JSON.stringify(b.shape)}, expected ${JSON.stringify([n, ...shape])}`;
  };
  switch (s.k) {
    case 'num':
      return nd('Float32Array', []);
    case 'bool':
      return nd('Uint8Array', []);
    case 'str':
      return Array.isArray(b) && b.length === n ? undefined : 'not a column';
    case 'typed':
      return nd(s.ctor, [s.len]);
    case 'nd':
      return nd(s.ctor, s.shape);
    case 'nested':
      return nd('Float32Array', s.shape);
    case 'tuple':
      return s.items.map((item, i) => checkShapes(item, (b as unknown[])[i], n)).find((x) => x !== undefined);
    case 'obj':
      return s.keys.map((k, i) => checkShapes(s.fields[i], Object.getOwnPropertyDescriptor(b, k)?.value, n)).find((x) => x !== undefined);
  }
}

const elementsOf = (s: Schema) => fc.array(valueOf(s), { minLength: 1, maxLength: 12 });

test('unbatch(batch(xs)) gives xs back (dtype kept) and every batch has the right shapes', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      schema.chain((s) => fc.tuple(fc.constant(s), elementsOf(s), fc.integer({ min: 1, max: 5 }))),
      async ([s, xs, k]) => {
        const batches = await all(fromIterable(xs).pipe(batch(k)));
        for (const [i, b] of batches.entries()) {
          const n = Math.min(k, xs.length - i * k);
          const fault = checkShapes(s, b, n);
          if (fault) t.fail(`batch ${i}: ${fault}`);
          // Schemas holding only empty tuples / objects of columns still have a size.
          t.is(batchSize(b), n);
        }
        const back = await all(fromIterable(batches).pipe(unbatch()));
        t.deepEqual(back, xs.map((x) => canonical(s, x)));
      },
    ),
    { seed: 1515, numRuns: 250 },
  );
});

test('batch with dtype int32: integers come back exact, as int32', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.record({ id: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), name: fc.string() }), { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 6 }), async (xs, k) => {
      const back = await all(fromIterable(xs).pipe(batch(k, { dtype: { id: 'int32' } }), unbatch()));
      t.deepEqual(back, xs.map((x) => ({ id: { data: Int32Array.of(x.id), shape: [] }, name: x.name })));
    }),
    { seed: 1516, numRuns: 100 },
  );
});

/** Variable-length sequences: typed arrays of one dtype per run, or nested number arrays of rank 1-2. */
const sequences = fc.oneof(
  ctorName.chain((ctor) => fc.array(fc.integer({ min: 0, max: 6 }).chain((n) => numbersFor(ctor, n)), { minLength: 1, maxLength: 12 }).map((xs) => ({ xs: xs as unknown[], rank: 1 }))),
  fc.integer({ min: 0, max: 3 }).chain((inner) =>
    fc.array(fc.integer({ min: 1, max: 4 }).chain((n) => fc.array(fc.float({ noNaN: true }), { minLength: n * inner, maxLength: n * inner }).map((flat) => nestedOf([n, inner], flat))), { minLength: 1, maxLength: 12 }),
  ).map((xs) => ({ xs: xs as unknown[], rank: 2 })),
);

/** An element's values and shape, as a typed array of its dtype (nested arrays: float32). */
function asND(x: unknown): NDArray {
  if (ArrayBuffer.isView(x)) return { data: x as TypedArray, shape: [(x as TypedArray).length] };
  const rows = x as number[][];
  return { data: Float32Array.from(rows.flat()), shape: rows.length === 0 ? [0, 0] : [rows.length, rows[0].length] };
}

test('paddedBatch then unbatch gives each element padded to its batch\'s longest', async (t) => {
  await fc.assert(
    fc.asyncProperty(sequences, fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 3 }), async ({ xs }, k, pad) => {
      const rows = await all(fromIterable(xs.map((seq, i) => ({ seq, i }))).pipe(paddedBatch(k, { padValue: { seq: pad } }), unbatch()));
      t.is(rows.length, xs.length);
      for (let g = 0; g < xs.length; g += k) {
        const group = xs.slice(g, g + k).map(asND);
        const rank = group[0].shape.length;
        const target = Array.from({ length: rank }, (_, d) => Math.max(...group.map((a) => a.shape[d])));
        // Nested 2-D rows with 0 rows carry no inner width: the batch's is the widest seen.
        for (const [j, a] of group.entries()) {
          const want = new (a.data.constructor as Ctor)(size(target)).fill(pad);
          const width = rank === 2 ? a.shape[1] : a.shape[0];
          const height = rank === 2 ? a.shape[0] : 1;
          for (let r = 0; r < height; r++) for (let c = 0; c < width; c++) want[r * (rank === 2 ? target[1] : target[0]) + c] = a.data[r * width + c];
          const got = (rows[g + j] as { seq: unknown }).seq;
          t.deepEqual(got, rank === 1 ? want : { data: want, shape: target });
          t.is((rows[g + j] as { i: number }).i, g + j);
        }
      }
    }),
    { seed: 1517, numRuns: 150 },
  );
});

test('raggedBatch then unbatch gives the elements back', async (t) => {
  await fc.assert(
    fc.asyncProperty(sequences, fc.integer({ min: 1, max: 5 }), async ({ xs, rank }, k) => {
      if (rank === 2 && new Set(xs.map((x) => asND(x).shape[1])).size > 1) return; // inner dims must agree
      const rows = await all(fromIterable(xs.map((seq) => ({ seq }))).pipe(raggedBatch(k), unbatch()));
      t.deepEqual(rows.map((r) => (r as { seq: unknown }).seq), xs.map((x) => (rank === 1 ? x : asND(x))));
    }),
    { seed: 1518, numRuns: 150 },
  );
});
