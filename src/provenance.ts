/**
 * Provenance: where an element came from (a Kafka record's position, say), carried as a hidden
 * (non-enumerable, symbol-keyed) property, so that it survives the derivations that keep the
 * object: `map(r => r.value)` hands on the same value object, and `batch()` and its kin hand on
 * the list of their elements' provenances on the batch they build. Spreads, `structuredClone`
 * and JSON drop it, like any non-enumerable property; primitives cannot carry it.
 *
 * ```
 * source tags v1, v2, v3 ─▶ map(r => r.value) ─▶ batch(3) ─▶ [v1 v2 v3] tagged [p1, p2, p3] ─▶ acknowledge()
 * ```
 */

/** The property that carries an element's provenance. */
export const PROVENANCE: unique symbol = Symbol.for('rxdata.provenance') as never;

/** `x`'s provenance, if it carries one (a batch's is an array of its elements'). */
export function provenanceOf(x: unknown): unknown {
  return (typeof x === 'object' && x !== null) || typeof x === 'function' ? (x as { [PROVENANCE]?: unknown })[PROVENANCE] : undefined;
}

/**
 * Tags `x` with `provenance` (non-enumerable); returns whether it could (primitives and frozen
 * objects cannot carry one).
 */
export function tagProvenance(x: unknown, provenance: unknown): boolean {
  if (!((typeof x === 'object' && x !== null) || typeof x === 'function') || !Object.isExtensible(x)) return false;
  Object.defineProperty(x, PROVENANCE, { value: provenance, configurable: true, writable: true, enumerable: false });
  return true;
}

/**
 * Hands the provenances of `elements` on to `out`, the batch built of them: an array with one
 * entry per element (`undefined` where an element carries none, so a consumer can tell a batch
 * only partly traceable from a whole one). Checks the first element only when it carries none:
 * an untagged stream pays one property read per batch.
 */
export function carryProvenance(elements: readonly unknown[], out: unknown): void {
  if (elements.length === 0 || provenanceOf(elements[0]) === undefined) return;
  tagProvenance(out, elements.map(provenanceOf));
}
