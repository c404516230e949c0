import type { Observable, OperatorFunction } from 'rxjs';
import {
  MAX_OVERSHOOT, Outbox, Valve, overshootError, produce, produceComplete, runInScope, scoped,
  sliceSpent, stageFor, subscribeBehind, trampoline, withSignal, yieldTurn,
} from '../../src/kit.js';

/**
 * A source: the numbers 0 … n−1, each made only when the stages below ask for it (a stand-in for
 * a reader with a cursor: a database, a device). Holds nothing: bound 0.
 */
export function countTo(n: number, options: { signal?: AbortSignal } = {}): Observable<number> {
  /** One statistics row per source, however often it is subscribed. */
  const key = {};
  const source = scoped<number>((subscriber, scope) => {
    const stage = stageFor(scope.stats, key, 'countTo', 'source');
    /** The next number (per subscription: cold). */
    let i = 0;
    /** Cancels the wait for demand or for the next turn of the event loop. */
    let cancel: (() => void) | undefined;
    const pull = (): void => {
      cancel = undefined;
      while (!subscriber.closed) {
        if (i === n) return produceComplete(scope, subscriber);
        // The stage below is full: wait for it, do not emit.
        if (!scope.demand.ready) {
          cancel = scope.demand.whenReady(resume);
          return;
        }
        // This turn of the event loop has run pipeline work long enough: let timers and I/O in.
        if (sliceSpent()) {
          cancel = yieldTurn(resume);
          return;
        }
        stage.out++;
        produce(scope, stage.name, subscriber, i++);
      }
    };
    /** Resumes inside the scope captured at subscription, whoever opened the gate. */
    const resume = (): void => runInScope(scope, pull);
    trampoline(resume);
    return () => cancel?.();
  });
  return withSignal(source, options.signal, 'countTo');
}

/**
 * A gated operator: `fn` on one element at a time (an async lookup, a decode), results in order.
 * Bound: 1 element (in `fn`, or its result waiting for the stage below); a producer that ignores
 * demand may push up to `MAX_OVERSHOOT` more meanwhile, then the stage fails with a `LimitError`.
 */
export function mapSerial<T, R>(fn: (value: T) => Promise<R>): OperatorFunction<T, R> {
  const key = {};
  return (source) =>
    scoped<R>((subscriber, scope) => {
      const stage = stageFor(scope.stats, key, 'mapSerial', 'operator');
      /** Open while nothing runs and no result waits: only then may the producer above emit. */
      const valve = new Valve(stage.name);
      /** Elements a producer that ignores demand pushed while the stage was busy. */
      const waiting: T[] = [];
      /** `fn` is running. */
      let busy = false;
      /** Upstream completed: complete once the last result is handed on. */
      let ended = false;
      /** Results wait here for the stage below; after each one it hands on, `advance` runs. */
      const outbox = new Outbox<R>(subscriber, scope, () => advance(), stage);
      const start = (value: T): void => {
        busy = true;
        valve.set(false);
        fn(value).then(
          (result) => {
            busy = false;
            outbox.push(result);
            advance();
          },
          (error: unknown) => outbox.error(error),
        );
      };
      /** When idle: the next waiting element, else completion, else open the valve. */
      const advance = (): void => {
        if (busy || outbox.size > 0) return;
        if (waiting.length > 0) start(waiting.shift() as T);
        else if (ended) outbox.complete();
        else valve.set(true);
      };
      const upstream = subscribeBehind(scope, valve, source, {
        next(value) {
          stage.in++;
          if (!busy && outbox.size === 0) start(value);
          else if (waiting.length < MAX_OVERSHOOT) waiting.push(value);
          else outbox.error(overshootError(stage.name));
        },
        error: (error) => outbox.error(error),
        complete() {
          ended = true;
          advance();
        },
      }, subscriber);
      return () => {
        upstream.unsubscribe();
        outbox.dispose();
        waiting.length = 0;
      };
    });
}
