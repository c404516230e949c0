import { Observable, concat, from, isObservable, mergeMap, of, tap, type ObservableInput, type OperatorFunction } from 'rxjs';
import { availableParallelism } from 'node:os';
import { ElementError, type OnError } from '../src/errors.js';
import { Outbox, Valve, scoped, subscribeBehind } from '../src/flow.js';
import { stageFor } from '../src/stats.js';
import { registerStage } from '../src/state/registry.js';
import { AUTO_MAX_CONCURRENCY } from '../src/autotune/options.js';
import { tunedScope } from '../src/autotune/tuner.js';
import { duringCall } from '../src/autotune/calls.js';

export interface ParallelMapOptions {
  /**
   * Calls of `fn` in flight at once. Default: the machine's available parallelism. `'auto'`: the
   * pipeline's tuner chooses while it runs, from 1 up to `maxConcurrency` (docs/autotune.md).
   */
  concurrency?: number | 'auto';
  /** The ceiling of `concurrency: 'auto'` (the bound in flight). Default {@link AUTO_MAX_CONCURRENCY} (16). */
  maxConcurrency?: number;
  /** Keep input order (a reorder buffer bounded by `concurrency`). Default true. */
  ordered?: boolean;
  /** `'fail'` (default) errors with the element's index; `'skip'` drops the element and counts it. */
  onError?: OnError;
  /** Called with each skipped element's error, for logging. */
  onSkip?: (error: ElementError) => void;
  /** The stage's name in pipeline statistics. */
  name?: string;
}

/** What `parallelMap` saves in a pipeline checkpoint: the inputs taken and not yet fully emitted (their calls rerun on restore), in order. */
interface ParallelMapState<T> {
  /** `skip`: values of that input's call already emitted (an Observable `fn` may give several). */
  readonly items: { readonly value: T; readonly index: number; readonly skip: number }[];
  /** The index the next new input gets. */
  readonly next: number;
}

/** An input inside the stage, for a checkpoint: `left` values of its call wait in the outbox once delivered. */
interface Held<T> {
  readonly value: T;
  skip: number;
  left: number;
}

/** What one element's call produced: all its values once the call has finished. */
interface Slot<R> {
  readonly index: number;
  readonly values: R[];
}

/**
 * Maps every element through `fn` with up to `concurrency` calls in flight (tf.data's
 * `map(num_parallel_calls, deterministic)`), in input order unless `ordered: false`.
 *
 * ```
 * source:   -a-b-c-d-e-f-|
 * fn:        [a   ] [c ]
 *              [b ]   [d    ]
 * ordered:  -------A-B--C-----D-…
 * unordered:-----B-A--C-----D-…   (no waiting for stragglers)
 * ```
 *
 * `fn` may return a value, a Promise or an Observable (whose values all belong to that element);
 * it receives an `AbortSignal` that fires on teardown. Built on `mergeMap(…, concurrency)`, but
 * gated: never more than `concurrency` elements are taken from upstream and not yet emitted
 * (running, waiting for their turn, or held while the stages below are full), so nothing
 * piles up in mergeMap's unbounded buffer. With `concurrency: 'auto'` the tuner moves the limit
 * between 1 and `maxConcurrency`, which is then the bound (docs/autotune.md).
 *
 * @example
 * ```ts
 * paths$.pipe(parallelMap((p, _i, signal) => readFile(p, { signal }), { concurrency: 8 }));
 * paths$.pipe(parallelMap(fetchImage, { concurrency: 'auto', maxConcurrency: 32 })); // tuned at run time
 * ```
 */
export function parallelMap<T, R>(
  fn: (value: T, index: number, signal: AbortSignal) => R | PromiseLike<R> | Observable<R>,
  options: ParallelMapOptions = {},
): OperatorFunction<T, R> {
  const { ordered = true, onError = 'fail', onSkip, maxConcurrency = AUTO_MAX_CONCURRENCY } = options;
  const auto = options.concurrency === 'auto';
  const fixed = options.concurrency === 'auto' ? maxConcurrency : options.concurrency ?? availableParallelism();
  if (!(Number.isInteger(fixed) && fixed >= 1)) {
    throw new RangeError(`parallelMap: ${auto ? 'maxConcurrency' : 'concurrency'} must be an integer >= 1${auto ? '' : " or 'auto'"}, got ${fixed}`);
  }
  const name = options.name ?? 'parallelMap';
  const key = {};
  return (source) =>
    scoped<R>((subscriber, below) => {
      // 'auto': the pipeline's tuner sets `concurrency` (a pipeline without statistics gets its own).
      const tuning = auto ? tunedScope(below, key) : undefined;
      const scope = tuning?.scope ?? below;
      const stage = stageFor(scope.stats, key, name, 'operator');
      // Starts at the cores the tuner assumes: a map on a worker pool or on I/O wants at least
      // that many calls at once; one on the main thread is lowered by the CPU model at once.
      const knob = tuning?.tuner.attach(key, stage, { kind: 'parallelism', label: 'concurrency', min: 1, max: fixed, initial: tuning.tuner.cores });
      let concurrency = knob ? knob.value : fixed;
      /** A worker pool `fn` calls says how many threads serve it (the tuner's pool model). */
      const onPool = knob ? (threads: number): void => knob.onPool(threads) : undefined;
      const abort = new AbortController();
      /** Open while fewer than `concurrency` elements are inside this stage. */
      const gate = new Valve(stage.name);
      /** Elements taken from upstream and not yet delivered: running, or queued inside mergeMap. */
      let inside = 0;
      /** Finished slots waiting for an earlier index (ordered mode only). */
      const parked = new Map<number, Slot<R>>();
      /** The index whose values go out next (ordered mode only). */
      let nextIndex = 0;
      const update = (): void => {
        knob?.observe(inside, inside + parked.size, outbox.size);
        gate.set(inside + parked.size + outbox.size < concurrency);
      };
      // In a resumable pipeline: the inputs taken and not yet emitted are saved, and their calls
      // rerun on restore before new inputs (see src/state/). `held` is keyed by arrival index.
      const held = new Map<number, Held<T>>();
      /** Owners (arrival indices) of the values in the outbox, oldest first. */
      const owners: number[] = [];
      let arrivals = 0;
      const state = registerStage({
        kind: 'parallelMap',
        name,
        role: 'operator',
        save: (): ParallelMapState<T> => ({
          items: [...held.entries()].sort((a, b) => a[0] - b[0]).map(([i, h]) => ({ value: h.value, index: external(i), skip: h.skip })),
          next: external(arrivals),
        }),
        held: () => held.size,
      });
      const restored = state?.restored as ParallelMapState<T> | undefined;
      const resumed = restored?.items ?? [];
      /** The index `fn` saw for this arrival in the run that saved the state. */
      const external = (i: number): number => (!restored ? i : i < resumed.length ? resumed[i].index : restored.next + i - resumed.length);
      if (state) {
        subscriber = state.emitter(subscriber, () => {
          const owner = owners.shift()!;
          const h = held.get(owner)!;
          h.skip++;
          if (--h.left === 0) held.delete(owner);
        });
      }
      const outbox = new Outbox<R>(subscriber, below, update, stage);
      const offKnob = knob?.onChange((value) => {
        concurrency = value;
        update();
      });

      const call = (value: T, index: number): ObservableInput<Slot<R>> => {
        const settle = (error: unknown): Observable<Slot<R>> => {
          const failure = new ElementError(name, external(index), error);
          if (onError === 'fail') throw failure;
          stage.skip(failure);
          onSkip?.(failure);
          return of({ index, values: [] });
        };
        let result: R | PromiseLike<R> | Observable<R>;
        // 'auto': the call's synchronous part is main-thread time no other call can overlap.
        const enteredAt = knob ? knob.clock() : 0;
        try {
          result = knob ? duringCall(onPool!, () => fn(value, external(index), abort.signal)) : fn(value, external(index), abort.signal);
        } catch (error) {
          return settle(error);
        } finally {
          knob?.onMain(knob.clock() - enteredAt);
        }
        const isPromise = result !== null && typeof result === 'object' && typeof (result as PromiseLike<R>).then === 'function';
        if (!isObservable(result) && !isPromise) return of({ index, values: [result as R] });
        const pending = isObservable(result) ? result : from(result as PromiseLike<R>);
        return new Observable<Slot<R>>((inner) => {
          const values: R[] = [];
          return pending.subscribe({
            next: (v) => values.push(v),
            error: (error) => {
              try {
                settle(error).subscribe(inner);
              } catch (failure) {
                inner.error(failure);
              }
            },
            complete: () => {
              inner.next({ index, values });
              inner.complete();
            },
          });
        });
      };

      const deliver = (slot: Slot<R>): void => {
        if (knob && slot.values.length > 0) knob.sample(slot.values[0]);
        if (!state) {
          for (const v of slot.values) outbox.push(v);
          return;
        }
        const h = held.get(slot.index)!;
        const values = h.skip > 0 ? slot.values.slice(h.skip) : slot.values;
        h.left = values.length;
        if (values.length === 0) held.delete(slot.index);
        for (const v of values) {
          owners.push(slot.index);
          outbox.push(v);
        }
      };
      const input = restored ? concat(from(resumed.map((r) => r.value)), source) : source;
      const upstream = subscribeBehind(scope, gate, input.pipe(
          tap((value) => {
            if (state) {
              const i = arrivals++;
              if (i >= resumed.length) state.received();
              held.set(i, { value, skip: i < resumed.length ? resumed[i].skip : 0, left: 0 });
            }
            inside++;
            stage.in++;
            update();
          }),
          mergeMap(call, fixed),
        ), {
        next(slot) {
          inside--;
          knob?.complete();
          if (!ordered) {
            deliver(slot);
          } else if (slot.index !== nextIndex) {
            parked.set(slot.index, slot);
          } else {
            deliver(slot);
            nextIndex++;
            for (let head = parked.get(nextIndex); head; head = parked.get(nextIndex)) {
              parked.delete(nextIndex);
              deliver(head);
              nextIndex++;
            }
          }
          stage.buffered(parked.size + outbox.size);
          update();
        },
        error: (error) => outbox.error(error),
        complete: () => outbox.complete(),
      }, subscriber);
      return () => {
        abort.abort();
        upstream.unsubscribe();
        outbox.dispose();
        parked.clear();
        offKnob?.();
        if (knob) tuning!.tuner.detach(knob);
      };
    });
}
