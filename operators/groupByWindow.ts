import { Observable, type OperatorFunction } from 'rxjs';
import { ElementError, LimitError } from '../src/errors.js';
import { subscribeTied } from '../src/flow.js';

export interface GroupByWindowOptions {
  /** Most keys with an open window at once; one more is a `LimitError`. Default 1024. */
  maxKeys?: number;
}

/** The key of a group: what `keyFn` returns. */
export type GroupKey = string | number;

/**
 * Groups elements by key into windows of up to `windowSize` elements and hands each full window
 * to `reduceFn`, whose results go downstream (tf.data's `group_by_window`).
 *
 * ```
 * source:                                   -a1-b1-a2-a3-b2-|        (letter: key)
 * groupByWindow(k, (key, w) => [w], 2):     -------[a1 a2]---[b1 b2]-[a3]|
 * ```
 *
 * When a key's window reaches `windowSize` (a number, or a function of the key as tf.data's
 * `window_size_func`) it is handed to `reduceFn(key, elements)`, which returns an iterable
 * (an array, a generator) whose values are emitted at once, in order. At the source's end the
 * partial windows are reduced too, in the order they were opened. `reduceFn` is
 * synchronous so that the stage stays bounded: it holds at most `windowSize - 1` elements per
 * open key, and at most `maxKeys` keys (default 1024; one more is a `LimitError` naming it), so
 * `maxKeys × (windowSize - 1)` elements. An error thrown by `keyFn` or `reduceFn` is an
 * `ElementError` naming the element.
 *
 * @example
 * ```ts
 * // Batches of 32 sentences of similar length, each batch padded to its longest.
 * sentences$.pipe(groupByWindow((s) => Math.floor(s.tokens.length / 10), (_, w) => [padStack(w)], 32));
 * ```
 */
export function groupByWindow<T, R>(
  keyFn: (element: T) => GroupKey,
  reduceFn: (key: GroupKey, elements: T[]) => Iterable<R>,
  windowSize: number | ((key: GroupKey) => number),
  options: GroupByWindowOptions = {},
): OperatorFunction<T, R> {
  const { maxKeys = 1024 } = options;
  if (typeof windowSize === 'number' && !(Number.isInteger(windowSize) && windowSize >= 1)) {
    throw new RangeError(`groupByWindow: windowSize must be an integer >= 1, got ${windowSize}`);
  }
  if (!(Number.isInteger(maxKeys) && maxKeys >= 1)) throw new RangeError(`groupByWindow: maxKeys must be an integer >= 1, got ${maxKeys}`);
  const sizeOf = (key: GroupKey): number => {
    const size = typeof windowSize === 'number' ? windowSize : windowSize(key);
    if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`groupByWindow: the window size for key ${String(key)} must be an integer >= 1, got ${size}`);
    return size;
  };
  return (source) =>
    new Observable<R>((subscriber) => {
      /** Open windows by key, in the order keys first appeared; each shorter than its size. */
      let windows = new Map<GroupKey, { size: number; elements: T[] }>();
      /** Index of the next element, for error messages. */
      let index = 0;
      /** Reduces one window and emits its results; false after an error went downstream. */
      const reduce = (key: GroupKey, elements: T[], at: number): boolean => {
        try {
          for (const out of reduceFn(key, elements)) {
            if (subscriber.closed) return false;
            subscriber.next(out);
          }
          return true;
        } catch (error) {
          subscriber.error(new ElementError('groupByWindow reduceFn', at, error));
          return false;
        }
      };
      const upstream = subscribeTied(subscriber, source, {
        next(value) {
          const at = index++;
          let key: GroupKey;
          let window: { size: number; elements: T[] } | undefined;
          try {
            key = keyFn(value);
            window = windows.get(key);
            if (!window) {
              if (windows.size >= maxKeys) {
                throw new LimitError(`groupByWindow: key ${JSON.stringify(key)} would be the ${maxKeys + 1}th with an open window (maxKeys ${maxKeys})`);
              }
              window = { size: sizeOf(key), elements: [] };
              windows.set(key, window);
            }
          } catch (error) {
            subscriber.error(error instanceof LimitError || error instanceof RangeError ? error : new ElementError('groupByWindow keyFn', at, error));
            return;
          }
          window.elements.push(value);
          if (window.elements.length < window.size) return;
          windows.delete(key);
          reduce(key, window.elements, at);
        },
        error: (error) => subscriber.error(error),
        complete() {
          const rest = windows;
          windows = new Map();
          for (const [key, window] of rest) if (!reduce(key, window.elements, index - 1)) return;
          subscriber.complete();
        },
      });
      return () => {
        upstream.unsubscribe();
        windows = new Map();
      };
    });
}
