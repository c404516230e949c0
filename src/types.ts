/**
 * Data types that flow through pipelines. Batches hold typed arrays with a shape, so a batch
 * becomes a tensor with one copy (`tf.tensor(data, shape)`), and nothing here holds a tensor.
 */

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint8Array
  | Uint8ClampedArray
  | Uint16Array
  | Uint32Array;

/** A dense n-dimensional array: row-major `data` and its `shape`. */
export interface NDArray<D extends TypedArray = TypedArray> {
  readonly data: D;
  readonly shape: readonly number[];
}

export function ndarray<D extends TypedArray>(data: D, shape: readonly number[]): NDArray<D> {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== data.length) {
    throw new RangeError(`ndarray: shape [${shape.join(', ')}] holds ${size} values but data has ${data.length}`);
  }
  return { data, shape };
}

export function isTypedArray(x: unknown): x is TypedArray {
  return ArrayBuffer.isView(x) && !(x instanceof DataView) && !(x instanceof BigInt64Array) && !(x instanceof BigUint64Array);
}

export function isNDArray(x: unknown): x is NDArray {
  return typeof x === 'object' && x !== null && isTypedArray((x as NDArray).data) && Array.isArray((x as NDArray).shape);
}

/** A number, or arrays of numbers nested to any depth. */
export type NestedNumbers = number | readonly NestedNumbers[];

/** A boolean, or arrays of booleans nested to any depth (batched as uint8, as tfjs stores `bool`). */
export type NestedBooleans = boolean | readonly NestedBooleans[];

/** The element types a batch can store plain JS numbers as (tfjs tensors take float32 and int32). */
export type DType = 'float32' | 'float64' | 'int8' | 'int16' | 'int32' | 'uint8' | 'uint16' | 'uint32';

/** The typed array behind each {@link DType}. */
export interface DTypeArrays {
  float32: Float32Array;
  float64: Float64Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  uint8: Uint8Array;
  uint16: Uint16Array;
  uint32: Uint32Array;
}

/**
 * A dtype for the plain JS numbers of an element: one for all of them, or one per component with
 * the element's structure (`{ ids: 'int32' }`, `['int32', 'float32']`); components not named keep
 * the default, float32.
 */
export type DTypeSpec = DType | readonly DTypeSpec[] | { readonly [field: string]: DTypeSpec };

const TUPLE: unique symbol = Symbol.for('rxdata.tuple');

/** An array marked as a tuple: batched component by component even when all its items are numbers. */
export type Tuple<T extends readonly unknown[]> = T & { readonly [TUPLE]: true };

/**
 * Marks an array as a tuple, so `batch` stacks each item on its own instead of reading the array
 * as one numeric tensor: `tuple(i, label)` batches into `[NDArray [n], NDArray [n]]`, where
 * `[i, label]` (all numbers) would batch into one `[n, 2]` array. Arrays that mix kinds
 * (`[1, 'foo']`, `[index, Float32Array]`) are tuples without it. The mark is a non-enumerable
 * symbol: a structured clone (a worker hop, a disk cache) drops it.
 */
export function tuple<T extends readonly unknown[]>(...items: T): Tuple<T> {
  return markTuple([...items] as unknown as T);
}

/** Marks `array` itself as a tuple (see {@link tuple}) and returns it. */
export function markTuple<T extends readonly unknown[]>(array: T): Tuple<T> {
  Object.defineProperty(array, TUPLE, { value: true });
  return array as Tuple<T>;
}

/** True when `x` was marked with {@link tuple}. */
export function isMarkedTuple(x: readonly unknown[]): boolean {
  return (x as { [TUPLE]?: true })[TUPLE] === true;
}

/**
 * A batch of variable-length values (`raggedBatch`): the rows laid end to end in `values`
 * (shape `[total, ...inner]`) and row `i` at `values[rowSplits[i] .. rowSplits[i + 1])`, as
 * tf.RaggedTensor's `values` and `row_splits`.
 */
export interface RaggedArray<D extends TypedArray = TypedArray> {
  readonly values: NDArray<D>;
  readonly rowSplits: Int32Array;
}

export function isRaggedArray(x: unknown): x is RaggedArray {
  return typeof x === 'object' && x !== null && (x as RaggedArray).rowSplits instanceof Int32Array && isNDArray((x as RaggedArray).values);
}

/**
 * What `batch` makes of an element type (see docs/batching.md): plain numbers become NDArrays of
 * `N` (float32 unless a `dtype` says otherwise) with a leading batch dimension, booleans uint8,
 * typed arrays and NDArrays keep their type, arrays of numbers are tensors, other arrays tuples,
 * objects and tuples are batched field by field, anything else (strings) is collected into an array.
 */
export type Batched<T, N extends TypedArray = Float32Array> = T extends number
  ? NDArray<N>
  : T extends boolean
    ? NDArray<Uint8Array>
    : T extends TypedArray
      ? NDArray<T>
      : T extends NDArray<infer D>
        ? NDArray<D>
        : T extends Tuple<infer U>
          ? { -readonly [K in keyof U]: Batched<U[K], N> }
          : T extends readonly NestedNumbers[]
            ? NDArray<N>
            : T extends readonly NestedBooleans[]
              ? NDArray<Uint8Array>
              : T extends readonly unknown[]
                ? { -readonly [K in keyof T]: Batched<T[K], N> }
                : T extends Record<string, unknown>
                  ? { -readonly [K in keyof T]: Batched<T[K], N> }
                  : T[];

/** What `raggedBatch` makes of an element type: as {@link Batched}, with every tensor of rank ≥ 1 a {@link RaggedArray}. */
export type RaggedBatched<T, N extends TypedArray = Float32Array> = T extends number
  ? NDArray<N>
  : T extends boolean
    ? NDArray<Uint8Array>
    : T extends TypedArray
      ? RaggedArray<T>
      : T extends NDArray<infer D>
        ? NDArray<D> | RaggedArray<D>
        : T extends Tuple<infer U>
          ? { -readonly [K in keyof U]: RaggedBatched<U[K], N> }
          : T extends readonly NestedNumbers[]
            ? RaggedArray<N>
            : T extends readonly NestedBooleans[]
              ? RaggedArray<Uint8Array>
              : T extends readonly unknown[]
                ? { -readonly [K in keyof T]: RaggedBatched<T[K], N> }
                : T extends Record<string, unknown>
                  ? { -readonly [K in keyof T]: RaggedBatched<T[K], N> }
                  : T[];

/**
 * What `unbatch` gives back for one element of a batch: a row of an NDArray is a number (float32
 * data), a rank-0 NDArray (other dtypes, so re-batching keeps the dtype), a typed array (rank 1)
 * or an NDArray (rank 2 and up).
 */
export type Unbatched<B> = B extends NDArray<infer D>
  ? NDArray<D> | D | number
  : B extends RaggedArray<infer D>
    ? NDArray<D> | D
    : B extends readonly [unknown, ...unknown[]]
      ? { -readonly [K in keyof B]: Unbatched<B[K]> }
      : B extends readonly (infer E)[]
        ? E
        : B extends Record<string, unknown>
          ? { [K in keyof B]: Unbatched<B[K]> }
          : unknown;
