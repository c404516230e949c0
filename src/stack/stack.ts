/**
 * `stack`: equally-structured elements → one batch (what `batch` does), by the rule in
 * `src/stack.ts`'s header and docs/batching.md. Also the structure cases `padStack` and
 * `raggedStack` share: tuples, objects, and values collected as they are.
 */
import { isNDArray, isTypedArray, type DType, type DTypeSpec, type NDArray, type TypedArray } from '../types.js';
import { CTOR_BY_DTYPE, baseCtor, checkStored, leafDType, subSpec } from './dtype.js';
import { READER_FIELDS, readFields, transposeInto } from './fields.js';
import { flattenInto, isTensorLike, nestedInfo, type NestedInfo } from './nested.js';
import { at, describe, fieldPath, isPlainObject, itemPath, mismatch, raggedError, sameShape, setOwn, type Walk } from './walk.js';

export interface StackOptions {
  /** The dtype for plain JS numbers (typed arrays and NDArrays keep theirs). Default float32. */
  dtype?: DTypeSpec;
}

/**
 * Stacks equally-structured elements along a new leading dimension (the rule is in this file's
 * header and in docs/batching.md): tensors become NDArrays `[n, ...shape]` of their dtype,
 * tuples and objects are stacked component by component, anything else is collected in an array.
 */
export function stack(elements: readonly unknown[], options: StackOptions = {}): unknown {
  if (elements.length === 0) throw new RangeError('stack: no elements');
  return stackAt({ op: 'batch' }, elements, '', options.dtype);
}

export function stackAt(walk: Walk, elements: readonly unknown[], path: string, dtype: DTypeSpec | undefined): unknown {
  const first = elements[0];
  if (typeof first === 'number') return stackNumbers(walk, elements, path, leafDType(walk, dtype, path));
  if (typeof first === 'bigint' || first instanceof BigInt64Array || first instanceof BigUint64Array) {
    throw new TypeError(`${walk.op}: element #0${at(path)} is a 64-bit integer (${describe(first)}), which tfjs cannot hold; convert it to a number, an Int32Array or a Float64Array`);
  }
  if (typeof first === 'boolean') return stackBooleans(walk, elements, path);
  if (isTypedArray(first)) return stackTyped(walk, elements, first, path);
  if (Array.isArray(first)) {
    const info = nestedInfo(first);
    if (info?.ragged) throw raggedError(walk, path, 0);
    if (info) return stackNested(walk, elements, info, path, dtype);
    return stackTuple(walk, elements, first.length, path, dtype, (column, _k, p, d) => stackAt(walk, column, p, d));
  }
  if (isNDArray(first)) return stackNDArrays(walk, elements, first, path);
  if (isPlainObject(first)) return stackObjects(walk, elements, first, path, dtype, (column, _k, p, d) => stackAt(walk, column, p, d));
  return collect(walk, elements, first, path);
}

/** Anything that is not a tensor, tuple or struct: the values as they are, checked to be of one kind. */
export function collect(walk: Walk, elements: readonly unknown[], first: unknown, path: string): unknown[] {
  const kind = typeof first;
  for (let i = 1; i < elements.length; i++) {
    const e = elements[i];
    if (typeof e !== kind || (kind === 'object' && e !== null && (isTensorLike(e) || Array.isArray(e) || isPlainObject(e)))) {
      throw mismatch(walk, path, i, `is ${describe(e)}`, describe(first));
    }
  }
  return [...elements];
}

function stackNumbers(walk: Walk, elements: readonly unknown[], path: string, dtype: DType): NDArray {
  const n = elements.length;
  const out = new CTOR_BY_DTYPE[dtype](n);
  for (let i = 0; i < n; i++) {
    const v = elements[i];
    if (typeof v !== 'number') throw mismatch(walk, path, i, `is ${describe(v)}`, 'a number');
    out[i] = v;
    // One compare per value; the check runs only when storing changed the value.
    if (out[i] !== v) checkStored(walk, v, dtype, path, i);
  }
  return { data: out, shape: [n] };
}

function stackBooleans(walk: Walk, elements: readonly unknown[], path: string): NDArray {
  const n = elements.length;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = elements[i];
    if (typeof v !== 'boolean') throw mismatch(walk, path, i, `is ${describe(v)}`, 'a boolean');
    out[i] = v ? 1 : 0;
  }
  return { data: out, shape: [n] };
}

function stackNested(walk: Walk, elements: readonly unknown[], info: NestedInfo, path: string, spec: DTypeSpec | undefined): NDArray {
  const n = elements.length;
  const { shape, bool } = info;
  const dtype = bool ? 'uint8' : leafDType(walk, spec, path);
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new CTOR_BY_DTYPE[dtype](n * size);
  // Rank 1, numbers: the common case (a row of features) in a flat loop.
  if (shape.length === 1 && !bool) {
    const exact = dtype !== 'float32';
    let i = 0;
    for (; i < n; i++) {
      const e = elements[i];
      if (!Array.isArray(e) || e.length !== size) break;
      const base = i * size;
      let k = 0;
      for (; k < size; k++) {
        const v: unknown = e[k];
        if (typeof v !== 'number') break;
        out[base + k] = v;
        if (out[base + k] !== v && (exact || Number.isInteger(v))) break;
      }
      if (k < size) break;
    }
    if (i === n) return { data: out, shape: [n, ...shape] };
  }
  for (let i = 0; i < n; i++) {
    if (flattenInto(walk, elements[i], shape, 0, bool, out, i * size, dtype, path, i) < 0) {
      const e = elements[i];
      const got = Array.isArray(e) ? nestedInfo(e) : undefined;
      if (got?.ragged) throw raggedError(walk, path, i);
      const what = got ? `has shape [${got.shape.join(', ')}]` : `is not a ${bool ? 'boolean' : 'numeric'} array`;
      throw mismatch(walk, path, i, what, `shape [${shape.join(', ')}]${got ? ' (use paddedBatch for variable lengths)' : ''}`);
    }
  }
  return { data: out, shape: [n, ...shape] };
}

/** Typed arrays of one length → `[n, length]`. The hot path of `batch`: one check and one copy per element. */
function stackTyped(walk: Walk, elements: readonly unknown[], first: TypedArray, path: string): NDArray {
  const n = elements.length;
  const size = first.length;
  const kind = first.constructor;
  const Ctor = baseCtor(first);
  const out = new Ctor(n * size);
  for (let i = 0; i < n; i++) {
    const e = elements[i] as TypedArray;
    // Same class and length covers the common case; anything else gets the checks that name the fault.
    if (e === null || typeof e !== 'object' || e.constructor !== kind || e.length !== size) {
      if (!isTypedArray(e)) throw mismatch(walk, path, i, 'is not a typed array', `a ${Ctor.name}`);
      if (baseCtor(e) !== Ctor) throw mismatch(walk, path, i, `is a ${e.constructor.name}`, `a ${Ctor.name}`);
      if (e.length !== size) throw mismatch(walk, path, i, `has shape [${e.length}]`, `shape [${size}] (use paddedBatch for variable lengths)`);
    }
    out.set(e, i * size);
  }
  return { data: out, shape: [n, size] };
}

/** NDArrays of one shape and type → `[n, ...shape]`. */
function stackNDArrays(walk: Walk, elements: readonly unknown[], first: NDArray, path: string): NDArray {
  const n = elements.length;
  const shape0 = first.shape;
  const size = first.data.length;
  const Ctor = baseCtor(first.data);
  const out = new Ctor(n * size);
  for (let i = 0; i < n; i++) {
    const e = elements[i];
    if (!isNDArray(e)) throw mismatch(walk, path, i, 'is not an NDArray', `a ${Ctor.name}`);
    if (!sameShape(e.shape, shape0)) {
      throw mismatch(walk, path, i, `has shape [${e.shape.join(', ')}]`, `shape [${shape0.join(', ')}] (use paddedBatch for variable lengths)`);
    }
    if (baseCtor(e.data) !== Ctor) throw mismatch(walk, path, i, `is a ${e.data.constructor.name}`, `a ${Ctor.name}`);
    out.set(e.data, i * size);
  }
  return { data: out, shape: [n, ...shape0] };
}

/** Stacks one component's column; `key` is its field name or item index, `path` where it sits. */
export type Recurse = (column: unknown[], key: string | number, path: string, dtype: DTypeSpec | undefined) => unknown;

/** Tuples of `length` items → a tuple of their stacked columns. */
export function stackTuple(walk: Walk, elements: readonly unknown[], length: number, path: string, dtype: DTypeSpec | undefined, recurse: Recurse): unknown[] {
  const n = elements.length;
  const columns: unknown[][] = Array.from({ length }, () => new Array<unknown>(n));
  for (let i = 0; i < n; i++) {
    const e = elements[i];
    if (!Array.isArray(e) || e.length !== length) {
      throw mismatch(walk, path, i, Array.isArray(e) ? `is a tuple of ${e.length} items` : `is ${describe(e)}`, `a tuple of ${length} items`);
    }
    for (let k = 0; k < length; k++) columns[k][i] = e[k];
  }
  return columns.map((column, k) => recurse(column, k, itemPath(path, k), subSpec(dtype, k)));
}

/**
 * Objects with the first one's keys → an object of stacked fields. Own keys only, and `__proto__`
 * is an ordinary field: data cannot reach a batch's prototype. The first element's fields decide
 * the batch's: an element lacking one is an error, fields only later elements have are ignored.
 */
export function stackObjects(walk: Walk, elements: readonly unknown[], first: Record<string, unknown>, path: string, dtype: DTypeSpec | undefined, recurse: Recurse): Record<string, unknown> {
  const n = elements.length;
  for (let i = 1; i < n; i++) if (!isPlainObject(elements[i])) throw mismatch(walk, path, i, `is ${describe(elements[i])}`, 'an object');
  const els = elements as readonly Record<string, unknown>[];
  const keys = Object.keys(first);
  const m = keys.length;
  // Numbers go straight into their typed array, without a column of boxed values in between.
  const numeric = new Array<DType | undefined>(m);
  const columns = new Array<unknown[] | TypedArray>(m);
  for (let j = 0; j < m; j++) {
    const key = keys[j];
    const type = typeof first[key] !== 'number' ? undefined : dtype === undefined ? 'float32' : leafDType(walk, subSpec(dtype, key), fieldPath(path, key));
    numeric[j] = type;
    columns[j] = type ? new CTOR_BY_DTYPE[type](n) : new Array<unknown>(n);
  }
  if (m > READER_FIELDS || !readFields(els, keys, numeric, columns)) transposeInto(walk, path, els, keys, numeric, columns);
  const out: Record<string, unknown> = {};
  for (let j = 0; j < m; j++) {
    const key = keys[j];
    const column = columns[j];
    setOwn(out, key, Array.isArray(column) ? recurse(column, key, fieldPath(path, key), subSpec(dtype, key)) : ({ data: column, shape: [n] } satisfies NDArray));
  }
  return out;
}
