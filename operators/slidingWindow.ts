import type { OperatorFunction } from 'rxjs';
import { ElementError } from '../src/errors.js';
import { Outbox, Valve, scoped, subscribeBehind } from '../src/flow.js';
import { stageFor } from '../src/stats.js';
import { Mirror, registerStage } from '../src/state/registry.js';
import type { NDArray } from '../src/types.js';

export interface SlidingWindowOptions<T> {
  /** Steps between the starts of consecutive windows (1: every step starts one). Default 1. */
  stride?: number;
  /** A record's feature vector (fixed length per key). Default: the record itself, a number or numeric array. */
  features?: (record: T) => ArrayLike<number> | number;
  /** One window per key (a sensor id, a topic): records of different keys never share a window. Default: one window for all. */
  key?: (record: T) => string;
  /**
   * Windows by event time instead of by count: each window spans `timeMs` of the records' own
   * timestamps, resampled to `size` steps of `timeMs / size` ms (aligned to time 0 so keys line
   * up). A step's value aggregates the records in it; an empty step repeats the previous one; a
   * gap of a whole window or more starts the window afresh.
   */
  timeMs?: number;
  /** A record's event time in ms (a number, a `Date` or a date string), or the name of the field holding it. Needed with `timeMs`. */
  timestamp?: ((record: T) => number | Date | string) | string;
  /** How the records in one time step become its value: `'mean'` (default) or `'last'`. */
  aggregate?: 'mean' | 'last';
  /** The stage's name in pipeline statistics. */
  name?: string;
}

/** A fixed-length sequence: `[size, features]` float32, and where it came from. */
export interface Sequence<T> extends NDArray<Float32Array> {
  readonly shape: readonly [number, number];
  /** The window's key (`''` without a `key` option). */
  readonly key: string;
  /** The newest record in the window (where a label usually comes from). */
  readonly last: T;
  /** Event time at which the window's first step starts (time windows only). */
  readonly start?: number;
}

/** Per-key state: the last `size` completed steps and, for time windows, the open step. */
interface KeyState<T> {
  readonly rows: Float32Array[];
  /** Steps completed since the window last started afresh. */
  completed: number;
  width: number;
  last: T;
  /** Time windows: the open step's index, running sum and count. */
  step: number;
  sum: Float64Array;
  n: number;
}

/**
 * Turns a stream of records into overlapping fixed-length sequences for 1-D convolutional or
 * recurrent models, by count or by event time, optionally one window per key.
 *
 * ```
 * records:                 -a-b-c-d-e-f-|
 * slidingWindow(3):        -----[abc][bcd][cde][def]|      each an NDArray [3, features]
 * slidingWindow(3, {stride: 2}): -----[abc]---[cde]---|
 * with key (sensor):       -a1-b2-c1-d1-e2-f2-  → [a1 c1 d1] … [b2 e2 f2]   (never mixed)
 * ```
 *
 * Every window is a fresh `Float32Array` of `size × features` (row `i` is step `i`, oldest
 * first), with `key`, `last` (the newest record) and, by time, `start`. A record can complete
 * several windows (a time gap): they are handed out only as fast as the stages below take them,
 * while upstream waits. Late records (older than the open time step of their key) are dropped
 * and counted in `extra.late`. Memory: `size` rows per key. In a resumable pipeline
 * (docs/resume.md) every key's rows and open step, and the windows not yet handed on, are saved
 * (the windows and each key's newest record reported as held).
 *
 * @example
 * ```ts
 * readings$.pipe(
 *   slidingWindow(32, { key: (r) => r.sensor, features: (r) => [r.temp, r.co2], timeMs: 32_000, timestamp: 'time' }),
 *   map((w) => ({ xs: w, ys: w.last.occupied })),
 *   batch(16), // xs: [16, 32, 2]
 * );
 * ```
 */
export function slidingWindow<T>(size: number, options: SlidingWindowOptions<T> = {}): OperatorFunction<T, Sequence<T>> {
  if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`slidingWindow: size must be an integer >= 1, got ${size}`);
  const { stride = 1, timeMs, aggregate = 'mean' } = options;
  if (!(Number.isInteger(stride) && stride >= 1)) throw new RangeError(`slidingWindow: stride must be an integer >= 1, got ${stride}`);
  if (timeMs !== undefined && !(timeMs > 0)) throw new RangeError(`slidingWindow: timeMs must be > 0, got ${timeMs}`);
  if (timeMs !== undefined && options.timestamp === undefined) throw new TypeError('slidingWindow: windows by time need options.timestamp');
  const name = options.name ?? 'slidingWindow';
  const stepMs = timeMs === undefined ? 0 : timeMs / size;
  const keyOf = options.key ?? (() => '');
  const featuresOf = options.features ?? ((r: T) => r as unknown as ArrayLike<number> | number);
  const ts = options.timestamp;
  const timeOf = typeof ts === 'string' ? (r: T) => (r as Record<string, unknown>)[ts] : ts;
  const key = {};

  return (source) =>
    scoped<Sequence<T>>((subscriber, scope) => {
      const stage = stageFor(scope.stats, key, name, 'operator');
      if (timeMs !== undefined) stage.extra.late ??= 0;
      /** Open while no windows wait to be handed out. */
      const gate = new Valve(stage.name);
      let states = new Map<string, KeyState<T>>();
      let index = 0;
      /** The windows in the outbox, mirrored for a checkpoint. */
      const pending = new Mirror<Sequence<T>>();
      const state = registerStage({
        kind: 'slidingWindow',
        name: stage.name,
        role: 'operator',
        save: () => ({ index, keys: [...states].map(([k, s]) => [k, { ...s, rows: s.rows.slice(), sum: s.sum.slice() }]), pending: pending.values() }),
        held: () => pending.size + states.size,
      });
      if (state) subscriber = state.emitter(subscriber, () => pending.shift());
      const outbox = new Outbox<Sequence<T>>(subscriber, scope, () => gate.set(outbox.size === 0), stage);
      const push = (window: Sequence<T>): void => {
        if (state) pending.push(window);
        outbox.push(window);
      };
      const restored = state?.restored as { index: number; keys: [string, KeyState<T>][]; pending: Sequence<T>[] } | undefined;
      if (restored) {
        index = restored.index;
        // Copied: the rows are appended to in place, and the checkpoint may be restored again.
        states = new Map(restored.keys.map(([k, s]) => [k, { ...s, rows: s.rows.slice(), sum: s.sum.slice() }]));
        for (const window of restored.pending) push(window);
        gate.set(outbox.size === 0);
      }

      /** Appends a completed step and emits a window when one is due. */
      const addRow = (k: string, s: KeyState<T>, row: Float32Array, stepIndex: number): void => {
        s.rows.push(row);
        if (s.rows.length > size) s.rows.shift();
        s.completed++;
        if (s.rows.length === size && (s.completed - size) % stride === 0) {
          const data = new Float32Array(size * s.width);
          for (let i = 0; i < size; i++) data.set(s.rows[i], i * s.width);
          const window: Sequence<T> =
            timeMs === undefined
              ? { data, shape: [size, s.width], key: k, last: s.last }
              : { data, shape: [size, s.width], key: k, last: s.last, start: (stepIndex - size + 1) * stepMs };
          push(window);
        }
      };
      /** Time windows: closes the open step of `s` into a row. */
      const closeStep = (k: string, s: KeyState<T>): void => {
        const row = new Float32Array(s.width);
        for (let j = 0; j < s.width; j++) row[j] = aggregate === 'mean' ? s.sum[j] / s.n : s.sum[j];
        addRow(k, s, row, s.step);
      };

      const toVector = (record: T): ArrayLike<number> => {
        const f = featuresOf(record);
        if (typeof f === 'number') return [f];
        if (f === null || typeof f !== 'object' || typeof f.length !== 'number') throw new TypeError('features must be a number or an array of numbers (give options.features)');
        return f;
      };
      const toTime = (record: T): number => {
        const t = timeOf!(record);
        const ms = typeof t === 'number' ? t : t instanceof Date ? t.getTime() : typeof t === 'string' ? Date.parse(t) : NaN;
        if (!Number.isFinite(ms)) throw new TypeError(`timestamp is not a time: ${String(t)}`);
        return ms;
      };

      const take = (record: T): void => {
        const k = keyOf(record);
        const f = toVector(record);
        let s = states.get(k);
        if (s && f.length !== s.width) throw new TypeError(`features have length ${f.length}, earlier records of key '${k}' had ${s.width}`);
        if (timeMs === undefined) {
          if (!s) {
            s = { rows: [], completed: 0, width: f.length, last: record, step: 0, sum: new Float64Array(0), n: 0 };
            states.set(k, s);
          }
          s.last = record;
          addRow(k, s, Float32Array.from(f), 0);
          return;
        }
        const step = Math.floor(toTime(record) / stepMs);
        if (!s) {
          s = { rows: [], completed: 0, width: f.length, last: record, step, sum: new Float64Array(f.length), n: 0 };
          states.set(k, s);
        } else if (step < s.step) {
          stage.extra.late++;
          return;
        } else if (step > s.step) {
          closeStep(k, s);
          const gap = step - s.step - 1;
          if (gap >= size) {
            // Filling a whole window with a repeated value would be invented data: start afresh.
            s.rows.length = 0;
            s.completed = 0;
          } else {
            for (let g = 1; g <= gap; g++) addRow(k, s, Float32Array.from(s.rows[s.rows.length - 1]), s.step + g);
          }
          s.step = step;
          s.sum.fill(0);
          s.n = 0;
        }
        s.last = record;
        if (aggregate === 'last') for (let j = 0; j < s.width; j++) s.sum[j] = f[j];
        else for (let j = 0; j < s.width; j++) s.sum[j] += f[j];
        s.n++;
      };

      const upstream = subscribeBehind(scope, gate, source, {
        next(record) {
          state?.received();
          stage.in++;
          const i = index++;
          try {
            take(record);
          } catch (error) {
            outbox.error(new ElementError(name, i, error));
            return;
          }
          gate.set(outbox.size === 0);
        },
        error: (error) => outbox.error(error),
        complete() {
          // The stream is over: the open time steps are final.
          if (timeMs !== undefined) for (const [k, s] of states) if (s.n > 0) closeStep(k, s);
          states.clear();
          outbox.complete();
        },
      }, subscriber);
      return () => {
        upstream.unsubscribe();
        outbox.dispose();
        states.clear();
      };
    });
}
