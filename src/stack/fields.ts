/**
 * Objects read field by field into columns, the hot path of batching records: pooled readers
 * (one function literal per field name, so each keyed load stays monomorphic, without generated
 * code) for narrow objects, a row-by-row `for…in` read for wide ones, and the checked path that
 * names a fault.
 */
import type { DType, TypedArray } from '../types.js';
import { checkStored } from './dtype.js';
import { describe, fieldPath, mismatch, type Walk } from './walk.js';

/** Objects with at most this many fields are read field by field with the pooled readers below. */
export const READER_FIELDS = 8;

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
export function readFields(els: readonly Record<string, unknown>[], keys: readonly string[], numeric: readonly (DType | undefined)[], columns: (unknown[] | TypedArray)[]): boolean {
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
export function transposeInto(
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
