/** Type tests: the typechecker (`npm run typecheck`) fails if a public type drifts. */
import test from 'ava';
import { lastValueFrom, of, toArray } from 'rxjs';
import { batch, fromIterable, parallelMap, consume, shuffle, type NDArray, type Batched } from '../src/index.js';

/** Compiles only if `value` has exactly type `T`. */
type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;
const expectType = <T>(_value: T, _exact: true): void => undefined;

test('Batched<T> maps element types to batch types', async (t) => {
  type Row = { xs: Float32Array; ys: number; grid: number[][]; name: string; img: NDArray<Uint8Array> };
  const b: Batched<Row> = await lastValueFrom(
    of<Row>({ xs: new Float32Array(2), ys: 1, grid: [[1]], name: 'a', img: { data: new Uint8Array(1), shape: [1] } }).pipe(batch(1)),
  );
  expectType<NDArray<Float32Array>>(b.xs, true as Equal<typeof b.xs, NDArray<Float32Array>>);
  expectType<NDArray<Float32Array>>(b.ys, true as Equal<typeof b.ys, NDArray<Float32Array>>);
  expectType<NDArray<Float32Array>>(b.grid, true as Equal<typeof b.grid, NDArray<Float32Array>>);
  expectType<string[]>(b.name, true as Equal<typeof b.name, string[]>);
  expectType<NDArray<Uint8Array>>(b.img, true as Equal<typeof b.img, NDArray<Uint8Array>>);
  t.deepEqual(b.xs.shape, [1, 2]);
});

test('operators keep element types through a pipeline', async (t) => {
  const out = await lastValueFrom(
    fromIterable([1, 2, 3]).pipe(
      parallelMap(async (x) => String(x)),
      shuffle(2, { seed: 1 }),
      consume((s) => s.length),
      toArray(),
    ),
  );
  expectType<number[]>(out, true as Equal<typeof out, number[]>);
  t.deepEqual(out, [1, 1, 1]);
});
