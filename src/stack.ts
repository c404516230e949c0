/**
 * Stacking elements into batches of typed arrays (and back). One allocation per feature per
 * batch, one copy per element: a batch then becomes a tensor with one more copy.
 */
import { isNDArray, isTypedArray, type NDArray, type TypedArray } from './types.js';

type TypedArrayConstructor = { new (length: number): TypedArray; readonly name: string };

/** Where in an element a feature sits, for error messages (`xs`, `[1]`, `pixels.r`). */
const at = (path: string): string => (path ? ` at '${path}'` : '');

/** Shape of a nested numeric array, or undefined when it is not a rectangular array of numbers. */
function nestedShape(x: unknown): number[] | undefined {
  const shape: number[] = [];
  let level: unknown = x;
  while (Array.isArray(level)) {
    shape.push(level.length);
    if (level.length === 0) return shape;
    level = level[0];
  }
  return typeof level === 'number' ? shape : undefined;
}

/** Writes a nested numeric array of `shape` into `out` at `offset`; false when ragged. */
function flattenInto(x: unknown, shape: number[], depth: number, out: TypedArray, offset: number): number | false {
  if (depth === shape.length) {
    if (typeof x !== 'number') return false;
    out[offset] = x;
    return offset + 1;
  }
  if (!Array.isArray(x) || x.length !== shape[depth]) return false;
  let o: number | false = offset;
  for (const item of x) {
    o = flattenInto(item, shape, depth + 1, out, o);
    if (o === false) return false;
  }
  return o;
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

function mismatch(path: string, index: number, what: string, expected: string): Error {
  return new TypeError(`batch: element #${index}${at(path)} ${what}; the batch's first element has ${expected}`);
}

/**
 * Stacks equally-shaped elements along a new leading dimension.
 * numbers → float32 `[n]`; booleans → uint8 `[n]`; typed arrays → same type `[n, len]`;
 * NDArrays → same type `[n, ...shape]`; nested number arrays → float32 `[n, ...shape]`;
 * objects and tuples → stacked field by field; anything else → an array of the values.
 */
export function stack(elements: readonly unknown[], path = ''): unknown {
  const n = elements.length;
  const first = elements[0];
  if (typeof first === 'number' || typeof first === 'boolean') {
    const out = typeof first === 'number' ? new Float32Array(n) : new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const v = elements[i];
      if (typeof v !== typeof first) throw mismatch(path, i, `is ${typeof v}`, `a ${typeof first}`);
      out[i] = Number(v);
    }
    return { data: out, shape: [n] } satisfies NDArray;
  }
  if (isTypedArray(first)) return stackTyped(elements, first, path);
  if (isNDArray(first)) return stackNDArrays(elements, first, path);
  if (Array.isArray(first)) {
    const shape = nestedShape(first);
    if (shape) {
      const size = shape.reduce((a, b) => a * b, 1);
      const out = new Float32Array(n * size);
      for (let i = 0; i < n; i++) {
        if (flattenInto(elements[i], shape, 0, out, i * size) === false) {
          throw mismatch(path, i, 'is not a numeric array of the same shape', `shape [${shape.join(', ')}]`);
        }
      }
      return { data: out, shape: [n, ...shape] } satisfies NDArray;
    }
    return first.map((_, k) =>
      stack(
        elements.map((e, i) => {
          if (!Array.isArray(e) || e.length !== first.length) throw mismatch(path, i, 'is not a tuple of the same length', `${first.length} fields`);
          return e[k];
        }),
        `${path}[${k}]`,
      ),
    );
  }
  if (isPlainObject(first)) {
    const out: Record<string, unknown> = {};
    // Checked once per element here rather than once per field below (the hot path of batch).
    let allPlain = true;
    for (let i = 1; i < n && allPlain; i++) allPlain = isPlainObject(elements[i]);
    for (const name of Object.keys(first)) {
      if (allPlain && typeof first[name] === 'number') {
        const column = numberColumn(elements as readonly Record<string, unknown>[], name);
        if (column) {
          out[name] = column;
          continue;
        }
      }
      out[name] = stack(allPlain ? fieldOf(elements as readonly Record<string, unknown>[], name, path) : fieldChecked(elements, name, path), path ? `${path}.${name}` : name);
    }
    return out;
  }
  return [...elements];
}

/** The standard typed-array class behind `x`'s (a Node `Buffer` stacks into a `Uint8Array`). */
function baseCtor(x: TypedArray): TypedArrayConstructor {
  // The tag is the array's own kind whatever its class (a Buffer says Uint8Array).
  return CTOR_BY_TAG[x[Symbol.toStringTag]];
}
const CTOR_BY_TAG: Readonly<Record<string, TypedArrayConstructor>> = {
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array,
};

/** Typed arrays of one length → `[n, length]`. The hot path of `batch`: one check and one copy per element. */
function stackTyped(elements: readonly unknown[], first: TypedArray, path: string): NDArray {
  const n = elements.length;
  const size = first.length;
  const kind = first.constructor;
  const Ctor = baseCtor(first);
  const out = new Ctor(n * size);
  for (let i = 0; i < n; i++) {
    const e = elements[i] as TypedArray;
    // Same class and length covers the common case; anything else gets the checks that name the fault.
    if (e === null || typeof e !== 'object' || e.constructor !== kind || e.length !== size) {
      if (!isTypedArray(e)) throw mismatch(path, i, 'is not a typed array', `a ${Ctor.name}`);
      if (baseCtor(e) !== Ctor) throw mismatch(path, i, `is a ${e.constructor.name}`, `a ${Ctor.name}`);
      if (e.length !== size) throw mismatch(path, i, `has shape [${e.length}]`, `shape [${size}] (use paddedBatch for variable lengths)`);
    }
    out.set(e, i * size);
  }
  return { data: out, shape: [n, size] };
}

/** NDArrays of one shape and type → `[n, ...shape]`. */
function stackNDArrays(elements: readonly unknown[], first: NDArray, path: string): NDArray {
  const n = elements.length;
  const shape0 = first.shape;
  const size = first.data.length;
  const Ctor = baseCtor(first.data);
  const out = new Ctor(n * size);
  for (let i = 0; i < n; i++) {
    const e = elements[i];
    if (!isNDArray(e)) throw mismatch(path, i, 'is not an NDArray', `a ${Ctor.name}`);
    if (!sameShape(e.shape, shape0)) {
      throw mismatch(path, i, `has shape [${e.shape.join(', ')}]`, `shape [${shape0.join(', ')}] (use paddedBatch for variable lengths)`);
    }
    if (baseCtor(e.data) !== Ctor) throw mismatch(path, i, `is a ${e.data.constructor.name}`, `a ${Ctor.name}`);
    out.set(e.data, i * size);
  }
  return { data: out, shape: [n, ...shape0] };
}

/** Field `name` of every element, each checked to be an object that has it. */
function fieldChecked(elements: readonly unknown[], name: string, path: string): unknown[] {
  return elements.map((e, i) => {
    if (!isPlainObject(e) || !(name in e)) throw mismatch(path, i, `has no field '${name}'`, `field '${name}'`);
    return e[name];
  });
}

/** Field `name` of every element (plain objects all): a generated reader, as for number columns. */
function fieldOf(elements: readonly Record<string, unknown>[], name: string, path: string): unknown[] {
  const values = new Array<unknown>(elements.length);
  const missing = fieldReader(name)(elements, values);
  if (missing >= 0) throw mismatch(path, missing, `has no field '${name}'`, `field '${name}'`);
  return values;
}

/**
 * A numeric field of plain objects straight into a float32 column, without the intermediate
 * array; undefined when some element's field is not a number (the general path then reports it).
 */
function numberColumn(elements: readonly Record<string, unknown>[], name: string): NDArray | undefined {
  const data = new Float32Array(elements.length);
  return columnReader(name)(elements, data) ? { data, shape: [elements.length] } : undefined;
}

type ColumnReader = (elements: readonly Record<string, unknown>[], out: Float32Array) => boolean;
const columnReaders = new Map<string, ColumnReader>();
/**
 * A loop that reads field `name` of every element. Generated once per field name so that the
 * read is a named load V8 caches for the elements' shape: a shared `e[name]` with varying names
 * goes megamorphic and cost a fifth of a cheap pipeline. A plain loop where codegen is disabled.
 */
function columnReader(name: string): ColumnReader {
  let reader = columnReaders.get(name);
  if (reader) return reader;
  try {
    reader = new Function(
      'els',
      'out',
      `for (let i = 0; i < els.length; i++) { const v = els[i][${JSON.stringify(name)}]; if (typeof v !== 'number') return false; out[i] = v; } return true;`,
    ) as ColumnReader;
  } catch {
    reader = (els, out) => {
      for (let i = 0; i < els.length; i++) {
        const v = els[i][name];
        if (typeof v !== 'number') return false;
        out[i] = v;
      }
      return true;
    };
  }
  // Bounded: data with ever-new field names (keys from the data) must not grow this forever.
  if (columnReaders.size < 256) columnReaders.set(name, reader);
  return reader;
}

type FieldReader = (elements: readonly Record<string, unknown>[], out: unknown[]) => number;
const fieldReaders = new Map<string, FieldReader>();
/** Reads field `name` of every element into `out`; returns the first element lacking it, or -1. */
function fieldReader(name: string): FieldReader {
  let reader = fieldReaders.get(name);
  if (reader) return reader;
  const key = JSON.stringify(name);
  try {
    reader = new Function(
      'els',
      'out',
      `for (let i = 0; i < els.length; i++) { const e = els[i]; const v = e[${key}]; if (v === undefined && !(${key} in e)) return i; out[i] = v; } return -1;`,
    ) as FieldReader;
  } catch {
    reader = (els, out) => {
      for (let i = 0; i < els.length; i++) {
        const v = els[i][name];
        if (v === undefined && !(name in els[i])) return i;
        out[i] = v;
      }
      return -1;
    };
  }
  if (fieldReaders.size < 256) fieldReaders.set(name, reader);
  return reader;
}

export function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/** Shape and data of a variable-length feature: a typed array, an NDArray or a nested number array. */
function asNDArray(x: unknown, path: string, index: number): NDArray {
  if (isTypedArray(x)) return { data: x, shape: [x.length] };
  if (isNDArray(x)) return x;
  const shape = nestedShape(x);
  if (shape) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (flattenInto(x, shape, 0, data, 0) !== false) return { data, shape };
  }
  throw new TypeError(`paddedBatch: element #${index}${at(path)} is not numeric (a typed array, NDArray or nested number array)`);
}

/** Per-feature padded shapes for {@link padStack}: `null` or -1 in a dimension means "the longest in the batch". */
export type PaddedShapes = readonly (number | null)[] | { readonly [field: string]: PaddedShapes };

/**
 * Stacks variable-shaped numeric features, padding each dimension to the longest in the batch
 * (or to a fixed size from `shapes`) with `padValue`. Scalars are stacked as by {@link stack}.
 */
export function padStack(elements: readonly unknown[], padValue: number, shapes?: PaddedShapes, path = ''): unknown {
  const first = elements[0];
  if (typeof first === 'number' || typeof first === 'boolean') return stack(elements, path);
  if (isPlainObject(first) && !isNDArray(first)) {
    const out: Record<string, unknown> = {};
    for (const name of Object.keys(first)) {
      const sub = shapes && !Array.isArray(shapes) ? (shapes as Record<string, PaddedShapes>)[name] : undefined;
      out[name] = padStack(
        elements.map((e) => (e as Record<string, unknown>)[name]),
        padValue,
        sub,
        path ? `${path}.${name}` : name,
      );
    }
    return out;
  }
  if (typeof first !== 'object' || first === null) return stack(elements, path);
  const arrays = elements.map((e, i) => asNDArray(e, path, i));
  const rank = arrays[0].shape.length;
  const fixed = Array.isArray(shapes) ? (shapes as readonly (number | null)[]) : undefined;
  const target = new Array<number>(rank).fill(0);
  for (const [i, a] of arrays.entries()) {
    if (a.shape.length !== rank) throw new TypeError(`paddedBatch: element #${i}${at(path)} has rank ${a.shape.length}, the first has ${rank}`);
    for (let d = 0; d < rank; d++) target[d] = Math.max(target[d], a.shape[d]);
  }
  if (fixed) {
    for (let d = 0; d < rank; d++) {
      const want = fixed[d];
      if (want === null || want === undefined || want < 0) continue;
      if (target[d] > want) throw new RangeError(`paddedBatch: a value${at(path)} has length ${target[d]} in dimension ${d}, over the padded shape's ${want}`);
      target[d] = want;
    }
  }
  const Ctor = baseCtor(arrays[0].data);
  const size = target.reduce((a, b) => a * b, 1);
  const out = new Ctor(arrays.length * size);
  if (padValue !== 0) out.fill(padValue);
  // Row-major strides of the padded target; copy each element's innermost runs into place.
  const strides = target.map((_, d) => target.slice(d + 1).reduce((a, b) => a * b, 1));
  for (const [i, a] of arrays.entries()) {
    copyPadded(a, out, i * size, strides);
  }
  return { data: out, shape: [arrays.length, ...target] } satisfies NDArray;
}

function copyPadded(src: NDArray, out: TypedArray, base: number, strides: number[]): void {
  const { shape, data } = src;
  const rank = shape.length;
  if (rank === 0) {
    out[base] = data[0];
    return;
  }
  const inner = shape[rank - 1];
  const rows = data.length / Math.max(inner, 1);
  const index = new Array<number>(rank - 1).fill(0);
  for (let r = 0; r < rows; r++) {
    let offset = base;
    for (let d = 0; d < rank - 1; d++) offset += index[d] * strides[d];
    out.set(data.subarray(r * inner, (r + 1) * inner), offset);
    for (let d = rank - 2; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
}

/** The leading (batch) dimension of a batch made by {@link stack}; undefined if it holds no array. */
export function batchSize(batch: unknown): number | undefined {
  if (isNDArray(batch)) return batch.shape[0];
  if (Array.isArray(batch)) {
    if (batch.length > 0 && (isNDArray(batch[0]) || isPlainObject(batch[0]) || Array.isArray(batch[0]))) {
      for (const item of batch) {
        const n = batchSize(item);
        if (n !== undefined) return n;
      }
    }
    return batch.length;
  }
  if (isPlainObject(batch)) {
    for (const v of Object.values(batch)) {
      const n = batchSize(v);
      if (n !== undefined) return n;
    }
  }
  return undefined;
}

/** Element `i` of a batch made by {@link stack}: views into the batch's arrays, no copies. */
export function unstack(batch: unknown, i: number): unknown {
  if (isNDArray(batch)) {
    const rest = batch.shape.slice(1);
    if (rest.length === 0) return batch.data[i];
    const size = rest.reduce((a, b) => a * b, 1);
    return { data: batch.data.subarray(i * size, (i + 1) * size), shape: rest } satisfies NDArray;
  }
  if (Array.isArray(batch)) {
    // A tuple of batched fields, or a plain array of values (strings).
    if (batch.length > 0 && (isNDArray(batch[0]) || isPlainObject(batch[0]))) return batch.map((b) => unstack(b, i));
    return batch[i];
  }
  if (isPlainObject(batch)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(batch)) out[k] = unstack(v, i);
    return out;
  }
  throw new TypeError('unbatch: not a batch (expected an NDArray, an array, or an object of them)');
}
