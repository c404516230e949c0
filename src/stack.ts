/**
 * Stacking elements into batches of typed arrays, and back: the one structure walker behind
 * `batch`, `paddedBatch`, `raggedBatch` and `unbatch`, so all four read an element the same way.
 * One allocation per feature per batch, one copy per element: a batch then becomes a tensor with
 * one more copy. The rule (docs/batching.md):
 *
 * - a number is a scalar (float32 unless a `dtype` says otherwise), a boolean a uint8 scalar;
 * - a typed array is a rank-1 tensor of its own type, an NDArray (`{ data, shape }`) a tensor;
 * - a JS array whose items are all numbers (or all booleans), or all such arrays of one shape,
 *   is a tensor; any other array (`[1, 'foo']`, `[i, Float32Array]`) is a tuple, batched item
 *   by item, as is any array marked with `tuple(...)`;
 * - a plain object is a struct, batched field by field (own enumerable keys only);
 * - anything else (strings, null, Dates) is collected into a plain array.
 */
import {
  isMarkedTuple, isNDArray, isRaggedArray, isTypedArray, markTuple,
  type DType, type DTypeSpec, type NDArray, type RaggedArray, type TypedArray,
} from './types.js';

type TypedArrayConstructor = { new (length: number): TypedArray; readonly name: string };

const CTOR_BY_TAG: Readonly<Record<string, TypedArrayConstructor>> = {
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array,
};
const CTOR_BY_DTYPE: Readonly<Record<DType, TypedArrayConstructor>> = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, int16: Int16Array, int32: Int32Array, uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array,
};

/** The standard typed-array class behind `x`'s (a Node `Buffer` stacks into a `Uint8Array`). */
function baseCtor(x: TypedArray): TypedArrayConstructor {
  // The tag is the array's own kind whatever its class (a Buffer says Uint8Array).
  return CTOR_BY_TAG[x[Symbol.toStringTag]];
}

/** Where in an element a feature sits, for error messages (`xs`, `[1]`, `pixels.r`). */
const at = (path: string): string => (path ? ` at '${path}'` : '');
const fieldPath = (path: string, name: string): string => (path ? `${path}.${name}` : name);
const itemPath = (path: string, k: number): string => `${path}[${k}]`;

/** What a walk needs besides the elements: the operator's name for errors and the dtype choice. */
interface Walk {
  readonly op: string;
}

function mismatch(walk: Walk, path: string, index: number, what: string, expected: string): TypeError {
  return new TypeError(`${walk.op}: element #${index}${at(path)} ${what}; the batch's first element has ${expected}`);
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Sets `out[key]` as an own data property, also for `__proto__` (which `=` would treat as the prototype). */
function setOwn(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

export function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

// ---------------------------------------------------------------------------------------------
// Reading the structure of one value
// ---------------------------------------------------------------------------------------------

/** A JS array read as a tensor: its shape, and whether its leaves are booleans. `ragged`: rows differ in length. */
interface NestedInfo {
  readonly shape: number[];
  readonly bool: boolean;
  readonly ragged: boolean;
}

/**
 * `x` as a nested numeric (or boolean) array, or undefined when it is not one (a tuple): every
 * item a number, or every item a boolean, or every item such an array of the same rank. Items of
 * different lengths at one depth make it ragged. An empty array is a float tensor of shape [0].
 */
export function nestedInfo(x: readonly unknown[]): NestedInfo | undefined {
  if (isMarkedTuple(x)) return undefined;
  const n = x.length;
  if (n === 0) return { shape: [0], bool: false, ragged: false };
  const first = x[0];
  if (typeof first === 'number' || typeof first === 'boolean') {
    const kind = typeof first;
    for (let i = 1; i < n; i++) if (typeof x[i] !== kind) return undefined;
    return { shape: [n], bool: kind === 'boolean', ragged: false };
  }
  if (!Array.isArray(first)) return undefined;
  const inner = nestedInfo(first);
  if (!inner) return undefined;
  let ragged = inner.ragged;
  // Empty rows say nothing about the leaf kind; the first non-empty row decides it.
  let bool = inner.shape.includes(0) ? undefined : inner.bool;
  for (let i = 1; i < n; i++) {
    const item = x[i];
    if (!Array.isArray(item)) return undefined;
    const info = nestedInfo(item);
    if (!info || info.shape.length !== inner.shape.length) return undefined;
    if (!info.shape.includes(0)) {
      if (bool === undefined) bool = info.bool;
      else if (bool !== info.bool) return undefined;
    }
    if (info.ragged || !sameShape(info.shape, inner.shape)) ragged = true;
  }
  return { shape: [n, ...inner.shape], bool: bool ?? false, ragged };
}

/** True for a value `batch` reads as a tensor (or a tensor's scalar). */
function isTensorLike(x: unknown): boolean {
  if (typeof x === 'number' || typeof x === 'boolean' || isTypedArray(x) || isNDArray(x)) return true;
  return Array.isArray(x) && nestedInfo(x) !== undefined;
}

// ---------------------------------------------------------------------------------------------
// dtypes: the typed array for plain numbers, and the check that nothing is lost on the way in
// ---------------------------------------------------------------------------------------------

/** The part of a dtype spec for field `name` / item `k`: a single dtype applies to everything below it. */
function subSpec(spec: DTypeSpec | undefined, key: string | number): DTypeSpec | undefined {
  if (spec === undefined || typeof spec === 'string') return spec;
  if (Array.isArray(spec)) return typeof key === 'number' ? (spec as readonly DTypeSpec[])[key] : undefined;
  return typeof key === 'string' && Object.hasOwn(spec, key) ? (spec as Record<string, DTypeSpec>)[key] : undefined;
}

function leafDType(walk: Walk, spec: DTypeSpec | undefined, path: string): DType {
  if (spec === undefined) return 'float32';
  if (typeof spec === 'string') {
    if (!(spec in CTOR_BY_DTYPE)) throw new TypeError(`${walk.op}: unknown dtype '${spec}'${at(path)} (one of ${Object.keys(CTOR_BY_DTYPE).join(', ')})`);
    return spec;
  }
  throw new TypeError(`${walk.op}: the dtype${at(path)} is a structure, but the element holds numbers there`);
}

/**
 * Called when storing `v` changed it: fine for a non-integer into float32 (that is what float32
 * means), an error for an integer float32 cannot hold exactly (above 2^24) and for any change in
 * an integer dtype (a fraction, out of range, NaN): precision is never lost silently.
 */
function checkStored(walk: Walk, v: number, dtype: DType, path: string, index: number): void {
  if (dtype === 'float32') {
    if (!Number.isInteger(v)) return;
    throw new RangeError(
      `${walk.op}: element #${index}${at(path)} is the integer ${v}, which float32 cannot hold exactly; ` +
        `pass { dtype: 'int32' } (or 'float64') for this feature, e.g. { dtype: { ${path || 'value'}: 'int32' } }`,
    );
  }
  throw new RangeError(`${walk.op}: element #${index}${at(path)} holds ${v}, which ${dtype} cannot hold; choose another dtype`);
}

// ---------------------------------------------------------------------------------------------
// batch
// ---------------------------------------------------------------------------------------------

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

function stackAt(walk: Walk, elements: readonly unknown[], path: string, dtype: DTypeSpec | undefined): unknown {
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

function raggedError(walk: Walk, path: string, index: number): TypeError {
  return new TypeError(`${walk.op}: element #${index}${at(path)} is a ragged nested array (rows of different lengths); use paddedBatch or raggedBatch`);
}

/** Anything that is not a tensor, tuple or struct: the values as they are, checked to be of one kind. */
function collect(walk: Walk, elements: readonly unknown[], first: unknown, path: string): unknown[] {
  const kind = typeof first;
  for (let i = 1; i < elements.length; i++) {
    const e = elements[i];
    if (typeof e !== kind || (kind === 'object' && e !== null && (isTensorLike(e) || Array.isArray(e) || isPlainObject(e)))) {
      throw mismatch(walk, path, i, `is ${describe(e)}`, describe(first));
    }
  }
  return [...elements];
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (isTypedArray(x)) return `a ${x.constructor.name}`;
  if (isNDArray(x)) return 'an NDArray';
  if (typeof x === 'object') return isPlainObject(x) ? 'an object' : `a ${x.constructor?.name ?? 'object'}`;
  // "a number", "a string"; the old messages said "is string", kept as the type's name.
  return typeof x;
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

/** Writes a nested array of `shape` into `out` at `offset`; returns the next offset, or -1 when it is not of that shape and kind. */
function flattenInto(walk: Walk, x: unknown, shape: readonly number[], depth: number, bool: boolean, out: TypedArray, offset: number, dtype: DType, path: string, index: number): number {
  if (depth === shape.length) {
    if (bool) {
      if (typeof x !== 'boolean') return -1;
      out[offset] = x ? 1 : 0;
      return offset + 1;
    }
    if (typeof x !== 'number') return -1;
    out[offset] = x;
    if (out[offset] !== x) checkStored(walk, x, dtype, path, index);
    return offset + 1;
  }
  if (!Array.isArray(x) || x.length !== shape[depth]) return -1;
  let o = offset;
  for (let k = 0; k < x.length; k++) {
    o = flattenInto(walk, x[k], shape, depth + 1, bool, out, o, dtype, path, index);
    if (o < 0) return -1;
  }
  return o;
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
type Recurse = (column: unknown[], key: string | number, path: string, dtype: DTypeSpec | undefined) => unknown;

/** Tuples of `length` items → a tuple of their stacked columns. */
function stackTuple(walk: Walk, elements: readonly unknown[], length: number, path: string, dtype: DTypeSpec | undefined, recurse: Recurse): unknown[] {
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
function stackObjects(walk: Walk, elements: readonly unknown[], first: Record<string, unknown>, path: string, dtype: DTypeSpec | undefined, recurse: Recurse): Record<string, unknown> {
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

/** Objects with at most this many fields are read field by field with the pooled readers below. */
const READER_FIELDS = 8;

/**
 * Reads field `name` of every element into `out`: a number field into its typed array (returns
 * false at a value that is not a number or not stored exactly, or, in float32, an integer that was
 * not), any other into an array (false at an element lacking the field). The caller re-reads and
 * names the fault.
 */
type NumberReader = (els: readonly Record<string, unknown>[], out: TypedArray, name: string, exact: boolean) => boolean;
type ValueReader = (els: readonly Record<string, unknown>[], out: unknown[], name: string) => boolean;

// Identical readers, one per field name: a keyed load `e[name]` is fast (a monomorphic inline
// cache) only while its site sees one name, and every closure of one function literal shares its
// sites. So each field name gets a literal of its own, first come first served, instead of the
// code generated with `new Function` this replaced (which CSP-restricted deployments reject).
// Names beyond the pool take the row-by-row path (transposeInto), still without megamorphic loads.
const NUMBER_READERS: readonly NumberReader[] = [
  (els, out, name, exact) => { for (let i = 0; i < els.length; i++) { const v = els[i][name]; if (typeof v !== 'number') return false; out[i] = v; if (out[i] !== v && (exact || Number.isInteger(v))) return false; } return true; },
  (els, out, name, exact) => { for (let i = 0; i < els.length; i++) { const v = els[i][name]; if (typeof v !== 'number') return false; out[i] = v; if (out[i] !== v && (exact || Number.isInteger(v))) return false; } return true; },
  (els, out, name, exact) => { for (let i = 0; i < els.length; i++) { const v = els[i][name]; if (typeof v !== 'number') return false; out[i] = v; if (out[i] !== v && (exact || Number.isInteger(v))) return false; } return true; },
  (els, out, name, exact) => { for (let i = 0; i < els.length; i++) { const v = els[i][name]; if (typeof v !== 'number') return false; out[i] = v; if (out[i] !== v && (exact || Number.isInteger(v))) return false; } return true; },
  (els, out, name, exact) => { for (let i = 0; i < els.length; i++) { const v = els[i][name]; if (typeof v !== 'number') return false; out[i] = v; if (out[i] !== v && (exact || Number.isInteger(v))) return false; } return true; },
  (els, out, name, exact) => { for (let i = 0; i < els.length; i++) { const v = els[i][name]; if (typeof v !== 'number') return false; out[i] = v; if (out[i] !== v && (exact || Number.isInteger(v))) return false; } return true; },
  (els, out, name, exact) => { for (let i = 0; i < els.length; i++) { const v = els[i][name]; if (typeof v !== 'number') return false; out[i] = v; if (out[i] !== v && (exact || Number.isInteger(v))) return false; } return true; },
  (els, out, name, exact) => { for (let i = 0; i < els.length; i++) { const v = els[i][name]; if (typeof v !== 'number') return false; out[i] = v; if (out[i] !== v && (exact || Number.isInteger(v))) return false; } return true; },
];
const VALUE_READERS: readonly ValueReader[] = [
  (els, out, name) => { for (let i = 0; i < els.length; i++) { const v = els[i][name]; if (v === undefined && !Object.hasOwn(els[i], name)) return false; out[i] = v; } return true; },
  (els, out, name) => { for (let i = 0; i < els.length; i++) { const v = els[i][name]; if (v === undefined && !Object.hasOwn(els[i], name)) return false; out[i] = v; } return true; },
  (els, out, name) => { for (let i = 0; i < els.length; i++) { const v = els[i][name]; if (v === undefined && !Object.hasOwn(els[i], name)) return false; out[i] = v; } return true; },
  (els, out, name) => { for (let i = 0; i < els.length; i++) { const v = els[i][name]; if (v === undefined && !Object.hasOwn(els[i], name)) return false; out[i] = v; } return true; },
  (els, out, name) => { for (let i = 0; i < els.length; i++) { const v = els[i][name]; if (v === undefined && !Object.hasOwn(els[i], name)) return false; out[i] = v; } return true; },
  (els, out, name) => { for (let i = 0; i < els.length; i++) { const v = els[i][name]; if (v === undefined && !Object.hasOwn(els[i], name)) return false; out[i] = v; } return true; },
  (els, out, name) => { for (let i = 0; i < els.length; i++) { const v = els[i][name]; if (v === undefined && !Object.hasOwn(els[i], name)) return false; out[i] = v; } return true; },
  (els, out, name) => { for (let i = 0; i < els.length; i++) { const v = els[i][name]; if (v === undefined && !Object.hasOwn(els[i], name)) return false; out[i] = v; } return true; },
];
/** Which pooled reader each field name has (bounded by the pools: data with ever-new keys cannot grow it). */
const numberReaderOf = new Map<string, NumberReader>();
const valueReaderOf = new Map<string, ValueReader>();

function readerFor<R>(name: string, pool: readonly R[], assigned: Map<string, R>): R | undefined {
  let reader = assigned.get(name);
  if (reader === undefined && assigned.size < pool.length) {
    reader = pool[assigned.size];
    assigned.set(name, reader);
  }
  return reader;
}

/** Reads every field with its pooled reader; false when a name has none or a reader found a fault. */
function readFields(els: readonly Record<string, unknown>[], keys: readonly string[], numeric: readonly (DType | undefined)[], columns: (unknown[] | TypedArray)[]): boolean {
  for (let j = 0; j < keys.length; j++) {
    const key = keys[j];
    // `e.__proto__` reads the prototype when the own field is missing: the checked path handles it.
    if (key === '__proto__') return false;
    const type = numeric[j];
    if (type) {
      const reader = readerFor(key, NUMBER_READERS, numberReaderOf);
      if (!reader || !reader(els, columns[j] as TypedArray, key, type !== 'float32')) return false;
    } else {
      const reader = readerFor(key, VALUE_READERS, valueReaderOf);
      if (!reader || !reader(els, columns[j] as unknown[], key)) return false;
    }
  }
  return true;
}

/**
 * Reads the fields row by row with `for…in`, whose keyed loads V8 serves from the object's enum
 * cache (field by index, whatever the name): the path for wide rows (CSV) and for names beyond the
 * reader pools, and the checked path that names any fault the readers found. An element whose
 * keys differ in order or content is read key by key (own keys only).
 */
function transposeInto(
  walk: Walk,
  path: string,
  els: readonly Record<string, unknown>[],
  keys: readonly string[],
  numeric: readonly (DType | undefined)[],
  columns: (unknown[] | TypedArray)[],
): void {
  const m = keys.length;
  const put = (i: number, j: number, v: unknown): void => {
    const type = numeric[j];
    if (type === undefined) {
      (columns[j] as unknown[])[i] = v;
      return;
    }
    if (typeof v !== 'number') throw mismatch(walk, fieldPath(path, keys[j]), i, `is ${describe(v)}`, 'a number');
    const column = columns[j] as TypedArray;
    column[i] = v;
    if (column[i] !== v) checkStored(walk, v, type, fieldPath(path, keys[j]), i);
  };
  for (let i = 0; i < els.length; i++) {
    const e = els[i];
    let j = 0;
    for (const k in e) {
      if (j >= m || k !== keys[j]) {
        j = -1;
        break;
      }
      // The common cases inline (the for-in keyed load stays by index); `put` checks and names faults.
      const v = e[k];
      const column = columns[j];
      if (numeric[j] === undefined) {
        (column as unknown[])[i] = v;
      } else if (typeof v === 'number') {
        (column as TypedArray)[i] = v;
        if ((column as TypedArray)[i] !== v) put(i, j, v);
      } else {
        put(i, j, v);
      }
      j++;
    }
    if (j === m) continue;
    for (let j2 = 0; j2 < m; j2++) {
      const key = keys[j2];
      if (!Object.hasOwn(e, key)) throw mismatch(walk, path, i, `has no field '${key}'`, `field '${key}'`);
      put(i, j2, e[key]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// paddedBatch
// ---------------------------------------------------------------------------------------------

/**
 * Padded shapes with the element's structure: a shape (`[null, 5]`: `null` or -1 pads that
 * dimension to the longest in the batch) for a tensor, an array of them for a tuple, an object of
 * them for an object.
 */
export type PaddedShapes = readonly (number | null)[] | readonly PaddedShapes[] | { readonly [field: string]: PaddedShapes };

/** Pad values with the element's structure: one number for everything below, or one per component. */
export type PadValues = number | readonly PadValues[] | { readonly [field: string]: PadValues };

export interface PadOptions {
  /** The value padding is filled with: one number, or per component (tf.data's `padding_values`). Default 0. */
  padValue?: PadValues;
  /** Padded shapes per component (tf.data's `padded_shapes`). Default: the longest in the batch, every dimension. */
  shapes?: PaddedShapes;
  /** The dtype for plain JS numbers. Default float32. */
  dtype?: DTypeSpec;
}

/**
 * Stacks variable-shaped tensors, padding each dimension to the longest in the batch (or to a fixed
 * size from `shapes`) with `padValue`, over the same structures as {@link stack}. Scalars and
 * non-numeric values are stacked as by {@link stack}.
 */
export function padStack(elements: readonly unknown[], options: PadOptions = {}): unknown {
  if (elements.length === 0) throw new RangeError('padStack: no elements');
  return padAt({ op: 'paddedBatch' }, elements, '', options.padValue ?? 0, options.shapes, options.dtype);
}

const isShape = (s: unknown): s is readonly (number | null)[] => Array.isArray(s) && s.every((d) => d === null || typeof d === 'number');

function subShapes(walk: Walk, shapes: PaddedShapes | undefined, key: string | number, path: string): PaddedShapes | undefined {
  if (shapes === undefined) return undefined;
  if (typeof key === 'number') {
    if (!Array.isArray(shapes) || (isShape(shapes) && shapes.length > 0)) throw new TypeError(`${walk.op}: shapes${at(path)} should be a tuple of shapes, one per item`);
    return (shapes as readonly PaddedShapes[])[key];
  }
  if (Array.isArray(shapes)) throw new TypeError(`${walk.op}: shapes${at(path)} should be an object of shapes, one per field`);
  return Object.hasOwn(shapes, key) ? (shapes as Record<string, PaddedShapes>)[key] : undefined;
}

function subPad(walk: Walk, pad: PadValues, key: string | number, path: string): PadValues {
  if (typeof pad === 'number') return pad;
  if (typeof key === 'number') {
    if (!Array.isArray(pad)) throw new TypeError(`${walk.op}: padValue${at(path)} should be a number or an array, one per item`);
    return (pad as readonly PadValues[])[key] ?? 0;
  }
  if (Array.isArray(pad)) throw new TypeError(`${walk.op}: padValue${at(path)} should be a number or an object, one per field`);
  return Object.hasOwn(pad, key) ? (pad as Record<string, PadValues>)[key] : 0;
}

function padAt(walk: Walk, elements: readonly unknown[], path: string, pad: PadValues, shapes: PaddedShapes | undefined, dtype: DTypeSpec | undefined): unknown {
  const first = elements[0];
  if (typeof first === 'number' || typeof first === 'boolean') return stackAt(walk, elements, path, dtype);
  if (isTypedArray(first) || isNDArray(first)) return padTensors(walk, elements, path, pad, shapes, dtype);
  const recurse: Recurse = (column, key, p, d) => padAt(walk, column, p, subPad(walk, pad, key, path), subShapes(walk, shapes, key, path), d);
  if (Array.isArray(first)) {
    const info = nestedInfo(first);
    if (info?.ragged) throw raggedError(walk, path, 0);
    if (info) return padTensors(walk, elements, path, pad, shapes, dtype);
    return stackTuple(walk, elements, first.length, path, dtype, recurse);
  }
  if (isPlainObject(first)) {
    return stackObjects(walk, elements, first, path, dtype, recurse);
  }
  return collect(walk, elements, first, path);
}

/** A tensor element as an NDArray: a typed array, an NDArray or a dense nested array (in `dtype`). */
function asNDArray(walk: Walk, x: unknown, path: string, index: number, dtype: DTypeSpec | undefined): NDArray {
  if (isTypedArray(x)) return { data: x, shape: [x.length] };
  if (isNDArray(x)) return x;
  const info = Array.isArray(x) ? nestedInfo(x) : undefined;
  if (info?.ragged) throw raggedError(walk, path, index);
  if (info) {
    const type = info.bool ? 'uint8' : leafDType(walk, dtype, path);
    const data = new CTOR_BY_DTYPE[type](info.shape.reduce((a, b) => a * b, 1));
    flattenInto(walk, x, info.shape, 0, info.bool, data, 0, type, path, index);
    return { data, shape: info.shape };
  }
  throw new TypeError(`${walk.op}: element #${index}${at(path)} is ${describe(x)}, not a tensor (a typed array, NDArray or nested number array) like the first`);
}

function padTensors(walk: Walk, elements: readonly unknown[], path: string, pad: PadValues, shapes: PaddedShapes | undefined, dtype: DTypeSpec | undefined): NDArray {
  if (typeof pad !== 'number') throw new TypeError(`${walk.op}: padValue${at(path)} should be a number (the value there is a tensor)`);
  if (shapes !== undefined && !isShape(shapes)) throw new TypeError(`${walk.op}: shapes${at(path)} should be a shape like [null, 5] (the value there is a tensor)`);
  const arrays = elements.map((e, i) => asNDArray(walk, e, path, i, dtype));
  const rank = arrays[0].shape.length;
  const Ctor = baseCtor(arrays[0].data);
  const target = new Array<number>(rank).fill(0);
  for (const [i, a] of arrays.entries()) {
    if (a.shape.length !== rank) throw mismatch(walk, path, i, `has rank ${a.shape.length}`, `rank ${rank}`);
    if (baseCtor(a.data) !== Ctor) throw mismatch(walk, path, i, `is a ${a.data.constructor.name}`, `a ${Ctor.name}`);
    for (let d = 0; d < rank; d++) target[d] = Math.max(target[d], a.shape[d]);
  }
  if (shapes) {
    if (shapes.length !== rank) throw new RangeError(`${walk.op}: the padded shape${at(path)} [${shapes.join(', ')}] has rank ${shapes.length}, the values have rank ${rank}`);
    for (let d = 0; d < rank; d++) {
      const want = shapes[d];
      if (want === null || want < 0) continue;
      if (target[d] > want) throw new RangeError(`${walk.op}: a value${at(path)} has length ${target[d]} in dimension ${d}, over the padded shape's ${want}`);
      target[d] = want;
    }
  }
  const size = target.reduce((a, b) => a * b, 1);
  const out = new Ctor(arrays.length * size);
  if (pad !== 0) {
    out.fill(pad);
    if (out.length > 0 && out[0] !== pad) throw new RangeError(`${walk.op}: padValue ${pad}${at(path)} does not fit the values' ${Ctor.name}`);
  }
  // Row-major strides of the padded target; copy each element's innermost runs into place.
  const strides = target.map((_, d) => target.slice(d + 1).reduce((a, b) => a * b, 1));
  for (const [i, a] of arrays.entries()) copyPadded(a, out, i * size, strides);
  return { data: out, shape: [arrays.length, ...target] };
}

function copyPadded(src: NDArray, out: TypedArray, base: number, strides: number[]): void {
  const { shape, data } = src;
  const rank = shape.length;
  if (rank === 0) {
    out[base] = data[0];
    return;
  }
  const inner = shape[rank - 1];
  if (inner === 0) return;
  const rows = data.length / inner;
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

// ---------------------------------------------------------------------------------------------
// raggedBatch
// ---------------------------------------------------------------------------------------------

/**
 * Stacks elements whose tensors differ in their first dimension: every tensor of rank ≥ 1 becomes
 * a {@link RaggedArray} (rows end to end plus row splits; the other dimensions must agree),
 * scalars and non-numeric values are stacked as by {@link stack}.
 */
export function raggedStack(elements: readonly unknown[], options: StackOptions = {}): unknown {
  if (elements.length === 0) throw new RangeError('raggedStack: no elements');
  return raggedAt({ op: 'raggedBatch' }, elements, '', options.dtype);
}

function raggedAt(walk: Walk, elements: readonly unknown[], path: string, dtype: DTypeSpec | undefined): unknown {
  const first = elements[0];
  if (typeof first === 'number' || typeof first === 'boolean' || (isNDArray(first) && first.shape.length === 0)) return stackAt(walk, elements, path, dtype);
  const recurse: Recurse = (column, _k, p, d) => raggedAt(walk, column, p, d);
  if (isTypedArray(first) || isNDArray(first)) return raggedTensors(walk, elements, path, dtype);
  if (Array.isArray(first)) {
    if (nestedInfo(first)) return raggedTensors(walk, elements, path, dtype);
    return stackTuple(walk, elements, first.length, path, dtype, recurse);
  }
  if (isPlainObject(first)) return stackObjects(walk, elements, first, path, dtype, recurse);
  return collect(walk, elements, first, path);
}

function raggedTensors(walk: Walk, elements: readonly unknown[], path: string, dtype: DTypeSpec | undefined): RaggedArray {
  const arrays = elements.map((e, i) => asNDArray(walk, e, path, i, dtype));
  const first = arrays[0];
  const inner = first.shape.slice(1);
  const Ctor = baseCtor(first.data);
  const rowSplits = new Int32Array(arrays.length + 1);
  for (const [i, a] of arrays.entries()) {
    if (a.shape.length === 0 || !sameShape(a.shape.slice(1), inner)) {
      throw mismatch(walk, path, i, `has shape [${a.shape.join(', ')}]`, `shape [*, ${inner.join(', ')}] (only the first dimension may vary)`);
    }
    if (baseCtor(a.data) !== Ctor) throw mismatch(walk, path, i, `is a ${a.data.constructor.name}`, `a ${Ctor.name}`);
    rowSplits[i + 1] = rowSplits[i] + a.shape[0];
  }
  const rowSize = inner.reduce((a, b) => a * b, 1);
  const data = new Ctor(rowSplits[arrays.length] * rowSize);
  for (const [i, a] of arrays.entries()) data.set(a.data, rowSplits[i] * rowSize);
  return { values: { data, shape: [rowSplits[arrays.length], ...inner] }, rowSplits };
}

// ---------------------------------------------------------------------------------------------
// unbatch
// ---------------------------------------------------------------------------------------------

/** A value a batch can hold as a component (rather than as one of a column's values). */
const isComponent = (x: unknown): boolean => Array.isArray(x) || isNDArray(x) || isPlainObject(x) || isTypedArray(x);

/**
 * How `unbatch` reads an array: a numeric (possibly ragged) nested array is a tensor whose rows
 * are its items; an array whose items are all components (NDArrays, arrays, objects) is a tuple;
 * anything else is a column of values (what `batch` makes of strings).
 */
function arrayKind(x: readonly unknown[]): 'tensor' | 'tuple' | 'column' {
  if (isMarkedTuple(x)) return 'tuple';
  if (nestedInfo(x)) return 'tensor';
  return x.length > 0 && x.every(isComponent) ? 'tuple' : 'column';
}

/**
 * The leading (batch) dimension of a batch, checked to agree across its components; undefined when
 * it holds no array. Throws when two components disagree, naming them.
 */
export function batchSize(batch: unknown): number | undefined {
  return sizeAt(batch, '');
}

function sizeAt(batch: unknown, path: string): number | undefined {
  if (isNDArray(batch)) return batch.shape.length > 0 ? batch.shape[0] : undefined;
  if (isTypedArray(batch)) return batch.length;
  if (isRaggedArray(batch)) return batch.rowSplits.length - 1;
  let parts: [string, unknown][];
  if (Array.isArray(batch)) {
    if (arrayKind(batch) !== 'tuple') return batch.length;
    parts = batch.map((b, k) => [itemPath(path, k), b]);
  } else if (isPlainObject(batch)) {
    parts = Object.keys(batch).map((k) => [fieldPath(path, k), batch[k]]);
  } else {
    return undefined;
  }
  let n: number | undefined;
  let where = '';
  for (const [p, part] of parts) {
    const m = sizeAt(part, p);
    if (m === undefined) continue;
    if (n === undefined) [n, where] = [m, p];
    else if (m !== n) throw new RangeError(`unbatch: components disagree on the batch size: '${where}' has ${n} rows, '${p}' has ${m}`);
  }
  return n;
}

/** Row `i` of a tensor `[n, ...rest]`: a number (float32), a rank-0 NDArray (other dtypes), a typed array (rank 1) or an NDArray. */
function row(data: TypedArray, rest: readonly number[], i: number): unknown {
  if (rest.length === 0) return data instanceof Float32Array ? data[i] : ({ data: data.subarray(i, i + 1), shape: [] } satisfies NDArray);
  const size = rest.reduce((a, b) => a * b, 1);
  const view = data.subarray(i * size, (i + 1) * size);
  return rest.length === 1 ? view : ({ data: view, shape: [...rest] } satisfies NDArray);
}

/**
 * Element `i` of a batch: views into the batch's arrays, no copies. Float32 scalars come back as
 * numbers, scalars of other dtypes as rank-0 NDArrays (so `batch` again keeps their dtype), rank-1
 * rows as typed arrays, higher ranks as NDArrays; tuples come back marked with `tuple`.
 */
export function unstack(batch: unknown, i: number): unknown {
  if (isNDArray(batch)) {
    if (batch.shape.length === 0) throw new TypeError('unbatch: a rank-0 NDArray has no rows');
    return row(batch.data, batch.shape.slice(1), i);
  }
  if (isTypedArray(batch)) return row(batch, [], i);
  if (isRaggedArray(batch)) {
    const { values, rowSplits } = batch;
    const rest = values.shape.slice(1);
    const size = rest.reduce((a, b) => a * b, 1);
    const view = values.data.subarray(rowSplits[i] * size, rowSplits[i + 1] * size);
    return rest.length === 0 ? view : ({ data: view, shape: [rowSplits[i + 1] - rowSplits[i], ...rest] } satisfies NDArray);
  }
  if (Array.isArray(batch)) {
    if (arrayKind(batch) === 'tuple') return markTuple(batch.map((b) => unstack(b, i)));
    return batch[i];
  }
  if (isPlainObject(batch)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(batch)) setOwn(out, k, unstack(batch[k], i));
    return out;
  }
  throw new TypeError('unbatch: not a batch (expected an NDArray, an array, or an object of them)');
}
