import { isObservable, type Observable, type OperatorFunction } from 'rxjs';
import { Outbox, Valve, scoped, subscribeBehind, pumpLoop } from '../src/flow.js';
import { fromIterable, type IterableInput } from '../src/fromIterable.js';
import { stageFor } from '../src/stats.js';
import { LimitError } from '../src/errors.js';
import { registerStage, withoutRegistry } from '../src/state/registry.js';

/** What `flatMap` saves in a resumable pipeline: outer elements, not inner ones. */
interface FlatMapState<T> {
  /** The index the next outer element gets. */
  readonly index: number;
  /** Outer elements received and not opened yet. */
  readonly inputs: T[];
  /** The outer element being expanded, its index, and how many of its values went downstream. */
  readonly current?: { value: T; index: number; emitted: number };
}

/** What `flatMap`'s function may return for one element. */
export type FlatMapInner<R> = Observable<R> | Iterable<R> | AsyncIterable<R>;

export interface FlatMapOptions {
  /**
   * Elements held for a source that ignores demand (RxJS's \`from\`, a hot Subject) before the
   * stream fails with a \`LimitError\`. Default 10 000. Sources of ours never come near it.
   */
  maxBuffered?: number;
  /** The stage's name in pipeline statistics. */
  name?: string;
}

/**
 * Maps each element to a sequence and emits the sequences' elements in order, one inner source at
 * a time (tf.data's `flat_map`).
 *
 * ```
 * source:                -a-------b-----|
 * flatMap(x → [x1 x2]):  -a1-a2---b1-b2-|
 * ```
 *
 * Demand flows through: the outer source is read one element at a time, only once the previous
 * inner sequence has ended, and the inner one (an Observable of ours, an array, a generator or an
 * async iterable, read through `fromIterable`) is pulled one element per downstream request. In
 * flight: one inner source open and at most one element held (a foreign inner Observable that
 * ignores demand is buffered as it pushes, and so is a foreign outer one). Unlike RxJS's `mergeMap`/`concatMap`, nothing is
 * parked in an unbounded buffer. In a resumable pipeline (docs/resume.md) the outer element being
 * expanded and how many of its values were emitted are saved: a restore calls `fn` on it again
 * and skips those (so `fn` and its sequence must be deterministic).
 *
 * @example
 * ```ts
 * fromIterable(paths).pipe(flatMap((path) => fromFiles(path, { format: 'lines' })));
 * rows$.pipe(flatMap((row) => row.tokens)); // one element per token
 * ```
 */
export function flatMap<T, R>(fn: (value: T, index: number) => FlatMapInner<R>, options: FlatMapOptions = {}): OperatorFunction<T, R> {
  const name = options.name ?? 'flatMap';
  const maxBuffered = options.maxBuffered ?? 10_000;
  const key = {};
  return (source) =>
    scoped<R>((subscriber, scope) => {
      const stage = stageFor(scope.stats, key, name, 'operator');
      /** Open while the operator wants the next outer element (no inner source open). */
      const outerGate = new Valve();
      outerGate.set(false);
      /** Open while the open inner source may emit one element. */
      const innerGate = new Valve();
      innerGate.set(false);
      /** Values an inner source delivered and not yet passed on (one for our sources). */
      const held: R[] = [];
      let inner: { subscription: { unsubscribe(): void } | undefined; done: boolean } | undefined;
      /** Outer elements received and not opened yet (one for our sources; foreign ones may push more). */
      const inputs: T[] = [];
      let index = 0;
      let outerDone = false;
      /** The outer element being expanded (for a checkpoint): its values emitted so far are counted. */
      let expanding: { value: T; index: number; emitted: number } | undefined;
      const state = registerStage({
        kind: 'flatMap',
        name,
        role: 'operator',
        save: (): FlatMapState<T> => ({ index, inputs: inputs.slice(), ...(expanding ? { current: { ...expanding } } : {}) }),
        held: () => inputs.length + (expanding ? 1 : 0),
      });
      if (state) {
        subscriber = state.emitter(subscriber, () => {
          if (expanding) expanding.emitted++;
        });
      }
      const outbox = new Outbox<R>(subscriber, scope, () => pump(), stage);

      const open = (value: T, skip = 0): void => {
        let seq: FlatMapInner<R>;
        const at = index++;
        try {
          seq = fn(value, at);
        } catch (error) {
          outbox.error(error);
          return;
        }
        if (state) expanding = { value, index: at, emitted: skip };
        const inner$ = isObservable(seq) ? seq : fromIterable(seq as IterableInput<R>);
        const current = { subscription: undefined as { unsubscribe(): void } | undefined, done: false };
        inner = current;
        /** Values of a restored element that were emitted before the checkpoint. */
        let skipping = skip;
        // The inner source's position is this stage's (the element and the values emitted): its stages do not register.
        const subscribeInner = (): { unsubscribe(): void } => subscribeBehind(scope, innerGate, inner$, {
          next(v) {
            if (skipping > 0) {
              skipping--;
              return;
            }
            if (held.length >= maxBuffered) return outbox.error(new LimitError(`${name}: an inner source pushed more than ${maxBuffered} elements ahead of demand (it ignores demand: put a bounded stage such as prefetch, or pushSource with an overflow policy, in front)`));
            held.push(v);
            innerGate.set(false);
            pump();
          },
          error: (error) => outbox.error(error),
          complete() {
            current.done = true;
            innerGate.set(false);
            pump();
          },
        }, subscriber);
        current.subscription = state ? withoutRegistry(subscribeInner) : subscribeInner();
      };
      const step = (): void => {
        while (!subscriber.closed && outbox.size === 0) {
          if (held.length > 0) {
            stage.in++;
            outbox.push(held.shift()!);
            continue;
          }
          if (inner) {
            if (!inner.done) {
              innerGate.set(true);
              return;
            }
            inner = undefined;
            expanding = undefined;
            continue;
          }
          if (inputs.length > 0) {
            open(inputs.shift()!);
            continue;
          }
          if (outerDone) {
            outbox.complete();
            return;
          }
          outerGate.set(true);
          return;
        }
      };
      const pump = pumpLoop(() => step(), () => subscriber.closed);
      const restored = state?.restored as FlatMapState<T> | undefined;
      if (restored) {
        inputs.push(...restored.inputs);
        index = restored.current?.index ?? restored.index;
        if (restored.current) open(restored.current.value, restored.current.emitted);
        index = restored.index;
      }
      const outer = subscribeBehind(scope, outerGate, source, {
        next(value) {
          state?.received();
          if (inputs.length >= maxBuffered) return outbox.error(new LimitError(`${name}: the outer source pushed more than ${maxBuffered} elements ahead of demand (it ignores demand: put a bounded stage such as prefetch, or pushSource with an overflow policy, in front)`));
          inputs.push(value);
          outerGate.set(false);
          pump();
        },
        error: (error) => outbox.error(error),
        complete() {
          outerDone = true;
          pump();
        },
      }, subscriber);
      pump();
      return () => {
        outer.unsubscribe();
        inner?.subscription?.unsubscribe();
        held.length = 0;
        outbox.dispose();
      };
    });
}
