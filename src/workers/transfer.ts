/**
 * What moves to another thread without a copy: the buffers of the typed arrays in an element.
 */

/** An element made ready to post, and the buffers to move with it. */
export interface Prepared {
  readonly value: unknown;
  /** Buffers to list in `postMessage`'s transfer list (each at most once). */
  readonly transfer: ArrayBuffer[];
  /** Bytes moved without a copy. */
  readonly movedBytes: number;
  /** Bytes copied because their array was a view on a larger (pooled or shared) buffer. */
  readonly copiedBytes: number;
}

/** Containers nested deeper than this are left to the structured clone (copied, not walked). */
const MAX_DEPTH = 8;

/**
 * Walks `value` (typed arrays, `DataView`s, arrays and plain objects such as NDArrays, nested up
 * to 8 deep) and lists the buffers that can move: those a view covers whole. A view on part of a
 * larger buffer (a Node `Buffer` from the shared pool, a `subarray`) is replaced by a compact copy
 * that moves instead: posting the view would clone the whole buffer behind it, and moving that
 * buffer would detach memory other code still uses. `SharedArrayBuffer`s are shared, as postMessage
 * does. With `move` false nothing is listed (every buffer is copied by the structured clone), but
 * partial views are still compacted.
 *
 * Containers are copied only where something inside them was replaced.
 */
export function prepareTransfer(value: unknown, move = true): Prepared {
  const transfer = new Set<ArrayBuffer>();
  let movedBytes = 0;
  let copiedBytes = 0;
  const visit = (x: unknown, depth: number): unknown => {
    if (typeof x !== 'object' || x === null) return x;
    if (ArrayBuffer.isView(x)) {
      const buffer = x.buffer;
      if (!(buffer instanceof ArrayBuffer)) return x;
      if (buffer.byteLength === 0 && isDetached(buffer)) {
        throw new TypeError('an array in the element has moved to another thread already (its buffer is detached): emit fresh arrays, or set transfer: false');
      }
      if (x.byteOffset === 0 && x.byteLength === buffer.byteLength) {
        if (move && !transfer.has(buffer)) {
          transfer.add(buffer);
          movedBytes += buffer.byteLength;
        }
        return x;
      }
      copiedBytes += x.byteLength;
      const copy = compactCopy(x);
      if (move) {
        transfer.add(copy.buffer as ArrayBuffer);
        movedBytes += copy.byteLength;
      }
      return copy;
    }
    if (x instanceof ArrayBuffer) {
      if (move && !transfer.has(x)) {
        transfer.add(x);
        movedBytes += x.byteLength;
      }
      return x;
    }
    if (depth >= MAX_DEPTH) return x;
    if (Array.isArray(x)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < x.length; i++) {
        const item: unknown = x[i];
        if (typeof item !== 'object' || item === null) continue;
        const next = visit(item, depth + 1);
        if (next !== item) (out ??= x.slice())[i] = next;
      }
      return out ?? x;
    }
    const proto: unknown = Object.getPrototypeOf(x);
    if (proto !== Object.prototype && proto !== null) return x;
    let out: Record<string, unknown> | undefined;
    const record = x as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const item = record[key];
      if (typeof item !== 'object' || item === null) continue;
      const next = visit(item, depth + 1);
      if (next !== item) (out ??= { ...record })[key] = next;
    }
    return out ?? x;
  };
  const prepared = visit(value, 0);
  return { value: prepared, transfer: [...transfer], movedBytes, copiedBytes };
}

/** A copy of a view that owns its own buffer, of the same type (a Node `Buffer` becomes a `Uint8Array`, as a clone would). */
function compactCopy(view: ArrayBufferView): ArrayBufferView {
  if (view instanceof DataView) return new DataView(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
  if (Buffer.isBuffer(view)) return new Uint8Array(view);
  // Every other view here is a typed array, whose slice() copies into a fresh buffer.
  return (view as unknown as { slice(): ArrayBufferView }).slice();
}

/** Whether `buffer` was moved away (a view on it cannot be made then). Only asked of empty buffers. */
function isDetached(buffer: ArrayBuffer): boolean {
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}
