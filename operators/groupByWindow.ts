import { Observable, type OperatorFunction } from 'rxjs';
import { ElementError, LimitError } from '../src/errors.js';
import { subscribeTied } from '../src/flow.js';
import { registerStage } from '../src/state/registry.js';

export interface GroupByWindowOptions {
  /** Most keys with an open window at once; one more is a `LimitError`. Default 1024. */
  maxKeys?: number;
  /** The stage's name in messages and in a checkpoint's report. Default `'groupByWindow'`. */
  name?: string;
}

/** What `groupByWindow` saves in a resumable pipeline. */
interface GroupByWindowState<T> {
  readonly index: number;
  /** The open windows, in the order their keys first appeared. */
  readonly windows: [GroupKey, T[]][];
  /** A window whose results were being emitted (a checkpoint from inside that emission): rerun, the first `emitted` skipped. */
  readonly reducing?: { key: GroupKey; elements: T[]; at: number; emitted: number };
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
 * `ElementError` naming the element. In a resumable pipeline (docs/resume.md) the open windows
 * are saved (reported as held).
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
  const { maxKeys = 1024, name = 'groupByWindow' } = options;
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
      /** The window whose results are being emitted, and how many were (for a checkpoint taken from inside that emission). */
      let reducing: { key: GroupKey; elements: T[]; at: number; emitted: number } | undefined;
      const state = registerStage({
        kind: 'groupByWindow',
        name,
        role: 'operator',
        save: (): GroupByWindowState<T> => ({
          index,
          windows: [...windows].map(([key, w]) => [key, w.elements.slice()]),
          ...(reducing ? { reducing: { ...reducing, elements: reducing.elements.slice() } } : {}),
        }),
        held: () => {
          let n = reducing?.elements.length ?? 0;
          for (const w of windows.values()) n += w.elements.length;
          return n;
        },
      });
      const restored = state?.restored as GroupByWindowState<T> | undefined;
      if (state) subscriber = state.emitter(subscriber);
      /** Reduces one window and emits its results, the first `skip` left out; false after an error went downstream. */
      const reduce = (key: GroupKey, elements: T[], at: number, skip = 0): boolean => {
        const current = { key, elements, at, emitted: 0 };
        if (state) reducing = current;
        try {
          for (const out of reduceFn(key, elements)) {
            if (subscriber.closed) return false;
            if (current.emitted++ < skip) continue;
            subscriber.next(out);
          }
          return true;
        } catch (error) {
          subscriber.error(new ElementError(`${name} reduceFn`, at, error));
          return false;
        } finally {
          reducing = undefined;
        }
      };
      if (restored) {
        index = restored.index;
        for (const [key, elements] of restored.windows) windows.set(key, { size: sizeOf(key), elements: elements.slice() });
        // The results the interrupted run had not handed on yet: the reduction again, what was emitted skipped.
        if (restored.reducing && !reduce(restored.reducing.key, restored.reducing.elements, restored.reducing.at, restored.reducing.emitted)) return;
      }
      const upstream = subscribeTied(subscriber, source, {
        next(value) {
          state?.received();
          const at = index++;
          let key: GroupKey;
          let window: { size: number; elements: T[] } | undefined;
          try {
            key = keyFn(value);
            window = windows.get(key);
            if (!window) {
              if (windows.size >= maxKeys) {
                throw new LimitError(`${name}: key ${JSON.stringify(key)} would be the ${maxKeys + 1}th with an open window (maxKeys ${maxKeys})`);
              }
              window = { size: sizeOf(key), elements: [] };
              windows.set(key, window);
            }
          } catch (error) {
            subscriber.error(error instanceof LimitError || error instanceof RangeError ? error : new ElementError(`${name} keyFn`, at, error));
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
