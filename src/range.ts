import type { Observable } from 'rxjs';
import { withSignal } from './abort.js';
import { declareCardinality } from './cardinality.js';
import { fromIterable } from './fromIterable.js';

export interface RangeOptions {
  /** Stops the count: the stream fails with an `AbortError` naming `range` once it aborts. */
  signal?: AbortSignal;
}

/**
 * The numbers from `start` up to (not including) `stop` by `step`, pulled on demand (tf.data's
 * `range`). `range(5)` is 0…4; `range(2, 5)` is 2, 3, 4; `range(5, 0, -2)` is 5, 3, 1;
 * `range(0, Infinity)` never ends. Cold: each subscription counts again. Declares its cardinality.
 * Options (`{ signal }`) go last: `range(10, { signal })`, `range(0, Infinity, 2, { signal })`.
 *
 * ```
 * range(1, 7, 2):  -1-3-5-|          (cardinality 3)
 * ```
 *
 * @example
 * ```ts
 * range(1000).pipe(map((i) => sample(i)), batch(32));
 * ```
 */
export function range(stop: number, options?: RangeOptions): Observable<number>;
export function range(start: number, stop: number | undefined, options?: RangeOptions): Observable<number>;
export function range(start: number, stop?: number, step?: number, options?: RangeOptions): Observable<number>;
export function range(start: number, ...rest: (number | RangeOptions | undefined)[]): Observable<number> {
  // Options are the trailing object, wherever the numbers stop.
  const last = rest.length > 0 ? rest[rest.length - 1] : undefined;
  const options = typeof last === 'object' ? last : {};
  const numbers = (typeof last === 'object' ? rest.slice(0, -1) : rest) as (number | undefined)[];
  const [stop, step = 1] = numbers;
  const [from, to] = stop === undefined ? [0, start] : [start, stop];
  if (!Number.isFinite(from)) throw new RangeError(`range: start must be a finite number, got ${from}`);
  if (Number.isNaN(to)) throw new RangeError('range: stop must be a number, got NaN');
  if (!Number.isFinite(step) || step === 0) throw new RangeError(`range: step must be a finite non-zero number, got ${step}`);
  const count = Number.isFinite(to) ? Math.max(0, Math.ceil((to - from) / step)) : (to - from) / step > 0 ? Infinity : 0;
  const source = fromIterable(
    function* () {
      // Multiplying rather than adding keeps fractional steps from drifting.
      for (let i = 0; i < count; i++) yield from + i * step;
    },
    { name: 'range' },
  );
  declareCardinality(source, count === Infinity ? 'infinite' : count);
  return withSignal(source, options.signal, 'range');
}
