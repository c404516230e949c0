import type { Observable, ObservableInput, ObservedValueOf, OperatorFunction } from 'rxjs';
import { MAX_OVERSHOOT, Outbox, Valve, overshootError, scoped, subscribeBehind } from './flow.js';
import { innerFrom } from './innerFrom.js';
import { stageFor } from './stats.js';

/** What a merging stage does with an element that arrives while all its slots are busy. */
export type BusyPolicy = 'queue' | 'drop';

/**
 * The engine of the flow-aware `mergeMap`, `concatMap`, `exhaustMap`, `merge` and `concat`.
 *
 * ```
 * upstream ──▶ [ gate: active < concurrency and nothing waiting ] ──▶ project ──▶ inners
 * inners   ──▶ [ inner gate: outbox empty ] ──▶ outbox ──▶ downstream (under its demand)
 * ```
 *
 * At most `concurrency` elements are taken from upstream and not yet finished; the values the
 * inners produce wait in an outbox for the stage below, and inners of ours pause while it is not
 * empty. An element that a producer which cannot wait pushes while every slot is busy is queued
 * (`'queue'`, like RxJS, but only what such a producer overshoots) or dropped and counted
 * (`'drop'`, exhaustMap's semantics).
 */
export function flowMerge<T, O extends ObservableInput<unknown>>(
  name: string,
  project: (value: T, index: number) => O,
  concurrency: number,
  busy: BusyPolicy,
): OperatorFunction<T, ObservedValueOf<O>> {
  if (!(concurrency >= 1)) throw new RangeError(`${name}: concurrency must be >= 1, got ${concurrency}`);
  const key = {};
  return (source) =>
    scoped<ObservedValueOf<O>>((subscriber, scope) => {
      const stage = stageFor(scope.stats, key, name, 'operator');
      /** Open while a slot is free and nothing waits: the producer above may emit. */
      const gate = new Valve(stage.name);
      /** Open while the outbox is empty: inners of ours may emit. */
      const innerGate = new Valve(stage.name);
      /** Inners subscribed and not yet complete. */
      let active = 0;
      /** Elements pushed while every slot was busy (only producers that cannot wait do that). */
      const queued: T[] = [];
      let index = 0;
      let upstreamDone = false;
      const update = (): void => {
        gate.set(active < concurrency && queued.length === 0 && outbox.size === 0);
        innerGate.set(outbox.size === 0);
        stage.buffered(outbox.size + queued.length);
        if (upstreamDone && active === 0 && queued.length === 0) outbox.complete();
      };
      const outbox = new Outbox<ObservedValueOf<O>>(subscriber, scope, update, stage);

      const start = (value: T): void => {
        let inner: Observable<ObservedValueOf<O>>;
        try {
          inner = innerFrom(project(value, index++)) as Observable<ObservedValueOf<O>>;
        } catch (error) {
          outbox.error(error);
          return;
        }
        active++;
        subscribeBehind(scope, innerGate, inner, {
          next(v) {
            outbox.push(v);
            update();
          },
          error: (error) => outbox.error(error),
          complete() {
            active--;
            if (queued.length > 0) start(queued.shift() as T);
            update();
          },
        }, subscriber);
      };

      const upstream = subscribeBehind(scope, gate, source, {
        next(value) {
          stage.in++;
          if (active < concurrency) start(value);
          else if (busy === 'drop') stage.dropped++;
          else if (queued.length >= MAX_OVERSHOOT) return outbox.error(overshootError(stage.name));
          else queued.push(value);
          update();
        },
        error: (error) => outbox.error(error),
        complete() {
          upstreamDone = true;
          update();
        },
      }, subscriber);
      return () => {
        upstream.unsubscribe();
        outbox.dispose();
        queued.length = 0;
      };
    });
}
