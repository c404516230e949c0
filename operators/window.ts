import { Observable, type OperatorFunction } from 'rxjs';
import { subscribeTied } from '../src/flow.js';
import { registerStage } from '../src/state/registry.js';

export interface WindowOptions {
  /** Elements between the starts of consecutive windows. Default `size` (windows side by side). */
  shift?: number;
  /** Elements between the items of one window (2: every other element). Default 1. */
  stride?: number;
  /** Drop the windows the end of the source leaves short of `size`. Default false (tf.data keeps them). */
  dropRemainder?: boolean;
}

/**
 * Groups elements into windows with tf.data's `window(size, shift, stride, drop_remainder)`
 * semantics: window `k` starts at element `k * shift` and takes `size` elements `stride` apart.
 * Each window is an array of the elements themselves (tuples and objects kept whole, where
 * tf.data gives a dataset per component); `map((w) => stack(w))` makes a batch of it, as
 * tf.data's `.flat_map(lambda w: w.batch(size))` does.
 *
 * ```
 * source:                          -0-1-2-3-4-5-6-|
 * window(3):                       -----[012]---[345]-[6]|
 * window(3, { shift: 1 }):         -----[012][123][234][345][456][56][6]|
 * window(3, { shift: 1, stride: 2 }): ---------[024][135][246][35][46][5][6]|
 * window(3, { dropRemainder: true }): -----[012]---[345]-|
 * ```
 *
 * Unlike `slidingWindow` (fixed-length float sequences of numeric records, by count or time, per
 * key), the windows keep any element type and the last, partial windows are emitted at the end
 * unless `dropRemainder`. Holds at most `(size - 1) * stride + 1` elements (one window's span);
 * elements between windows (`shift` larger than the span) are never held. Each element completes
 * at most one window, handed on at once like `batch`; the source's end flushes the partial
 * windows (at most ⌈span / shift⌉). In a resumable pipeline (docs/resume.md) the element count
 * and the elements the open windows hold are saved.
 *
 * @example
 * ```ts
 * readings$.pipe(window(10, { shift: 5 }), map((w) => stack(w))); // { temp: [≤10], time: [≤10] } every 5 readings
 * ```
 */
export function window<T>(size: number, options: WindowOptions = {}): OperatorFunction<T, T[]> {
  const { shift = size, stride = 1, dropRemainder = false } = options;
  for (const [name, v] of [['size', size], ['shift', shift], ['stride', stride]] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new RangeError(`window: ${name} must be an integer >= 1, got ${v}`);
  }
  /** Elements from a window's first to its last. */
  const span = (size - 1) * stride + 1;
  return (source) =>
    new Observable<T[]>((subscriber) => {
      /** Element `j` (absolute index) sits at `ring[j % span]` while some open window needs it. */
      let ring = new Array<T>(span);
      /** Absolute index of the next element. */
      let count = 0;
      /** Start of the oldest window not yet emitted. */
      let start = 0;
      const state = registerStage({
        kind: 'window',
        name: 'window',
        role: 'operator',
        save: () => {
          const elements: T[] = [];
          for (let j = start; j < count; j++) elements.push(ring[j % span]);
          return { count, start, elements };
        },
        held: () => Math.max(0, count - start),
      });
      if (state) {
        const restored = state.restored as { count: number; start: number; elements: T[] } | undefined;
        if (restored) {
          ({ count, start } = restored);
          restored.elements.forEach((value, d) => (ring[(start + d) % span] = value));
        }
        subscriber = state.emitter(subscriber);
      }
      const windowAt = (from: number, end: number): T[] => {
        const out: T[] = [];
        for (let j = from; j < end && out.length < size; j += stride) out.push(ring[j % span]);
        return out;
      };
      const upstream = subscribeTied(subscriber, source, {
        next(value) {
          state?.received();
          const j = count++;
          if (j < start) return; // between windows: no window needs it
          ring[j % span] = value;
          if (j !== start + span - 1) return;
          const out = windowAt(start, j + 1);
          // Let go of the elements no later window needs, so they are not held past their time.
          for (let d = start; d < Math.min(start + shift, j + 1); d++) ring[d % span] = undefined as T;
          start += shift;
          subscriber.next(out);
        },
        error: (error) => subscriber.error(error),
        complete() {
          if (!dropRemainder) {
            for (; start < count; start += shift) {
              if (subscriber.closed) return;
              subscriber.next(windowAt(start, count));
            }
          }
          ring = [];
          subscriber.complete();
        },
      });
      return () => {
        upstream.unsubscribe();
        ring = [];
      };
    });
}
