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

/**
 * What `batch` makes of an element type: numbers and numeric arrays become float32 NDArrays with a
 * leading batch dimension, typed arrays and NDArrays keep their type, objects and tuples are
 * batched field by field, anything else (strings) is collected into an array.
 */
export type Batched<T> = T extends number
  ? NDArray<Float32Array>
  : T extends boolean
    ? NDArray<Uint8Array>
    : T extends TypedArray
      ? NDArray<T>
      : T extends NDArray<infer D>
        ? NDArray<D>
        : T extends readonly NestedNumbers[]
          ? NDArray<Float32Array>
          : T extends readonly unknown[]
            ? { -readonly [K in keyof T]: Batched<T[K]> }
            : T extends Record<string, unknown>
              ? { -readonly [K in keyof T]: Batched<T[K]> }
              : T[];

/** What `unbatch` gives back for one element of a batch. */
export type Unbatched<B> = B extends NDArray<infer D>
  ? NDArray<D> | number
  : B extends readonly (infer E)[]
    ? E
    : B extends Record<string, unknown>
      ? { [K in keyof B]: Unbatched<B[K]> }
      : unknown;
