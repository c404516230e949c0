/**
 * dtypes: the typed array for plain numbers (float32 unless a `dtype` spec says otherwise), the
 * standard class behind any typed array, and the check that nothing is lost on the way in.
 */
import type { DType, DTypeSpec, TypedArray } from '../types.js';
import { at, type Walk } from './walk.js';

export type TypedArrayConstructor = { new (length: number): TypedArray; readonly name: string };

const CTOR_BY_TAG: Readonly<Record<string, TypedArrayConstructor>> = {
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array,
};

export const CTOR_BY_DTYPE: Readonly<Record<DType, TypedArrayConstructor>> = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, int16: Int16Array, int32: Int32Array, uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array,
};

/** The standard typed-array class behind `x`'s (a Node `Buffer` stacks into a `Uint8Array`). */
export function baseCtor(x: TypedArray): TypedArrayConstructor {
  // The tag is the array's own kind whatever its class (a Buffer says Uint8Array).
  return CTOR_BY_TAG[x[Symbol.toStringTag]];
}

/** The part of a dtype spec for field `name` / item `k`: a single dtype applies to everything below it. */
export function subSpec(spec: DTypeSpec | undefined, key: string | number): DTypeSpec | undefined {
  if (spec === undefined || typeof spec === 'string') return spec;
  if (Array.isArray(spec)) return typeof key === 'number' ? (spec as readonly DTypeSpec[])[key] : undefined;
  return typeof key === 'string' && Object.hasOwn(spec, key) ? (spec as Record<string, DTypeSpec>)[key] : undefined;
}

export function leafDType(walk: Walk, spec: DTypeSpec | undefined, path: string): DType {
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
export function checkStored(walk: Walk, v: number, dtype: DType, path: string, index: number): void {
  if (dtype === 'float32') {
    if (!Number.isInteger(v)) return;
    throw new RangeError(
      `${walk.op}: element #${index}${at(path)} is the integer ${v}, which float32 cannot hold exactly; ` +
        `pass { dtype: 'int32' } (or 'float64') for this feature, e.g. { dtype: { ${path || 'value'}: 'int32' } }`,
    );
  }
  throw new RangeError(`${walk.op}: element #${index}${at(path)} holds ${v}, which ${dtype} cannot hold; choose another dtype`);
}
