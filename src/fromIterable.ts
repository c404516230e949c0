import type { Observable } from 'rxjs';
import { withSignal } from './abort.js';
import { declareCardinality } from './cardinality.js';
import { produce, produceComplete, runInScope, scoped, trampoline } from './flow.js';
import { resumeIterable } from './state/sources.js';
import { stageFor } from './stats.js';
import { nextTurn, sliceSpent, yieldTurn } from './turn.js';

/**
 * Elements a synchronous source emits from `subscribe` before it starts watching the turn's
 * clock, so that a small array is emitted synchronously, like RxJS `from()`, even late in a turn.
 */
const SUBSCRIBE_GRACE = 1024;

/** What `fromIterable` reads: an iterable, an async iterable, or a factory called per subscription. */
export type IterableInput<T> = Iterable<T> | AsyncIterable<T> | (() => Iterable<T> | AsyncIterable<T>);

export interface FromIterableOptions {
  /** The stage's name in pipeline statistics (and in its `AbortError`). */
  name?: string;
  /**
   * Stops the source: once it aborts, the stream fails with an `AbortError` naming the source and
   * the iterator's `return()` runs (a generator's `finally` releases what it holds), as on
   * unsubscribe.
   */
  signal?: AbortSignal;
}

/**
 * Turns an iterable or async iterable into a cold Observable that pulls only on demand.
 *
 * ```
 * iterable:  1 2 3 4 5 6 …            (pulled, never pushed)
 * demand:    ▔▔▔▔▔▁▁▁▁▁▔▔▔▔
 * output:    -1-2-3------4-5-6-
 * ```
 *
 * Each subscription starts a fresh iteration (pass a factory, an array, or any re-iterable, so
 * that epochs replay), pulls an element only while the stages below have room, and calls the
 * iterator's `return()` on unsubscribe so a generator's `finally` blocks release its resources.
 * Sync or async, it yields to the event loop once the turn's slice is spent (`turn.ts`), so
 * timers and I/O keep running beside an endless generator. `signal` stops it with an `AbortError`.
 *
 * @example
 * ```ts
 * fromIterable(function* () { for (let i = 0; ; i++) yield i; })
 *   .pipe(batch(32), consume(trainStep));
 * ```
 */
export function fromIterable<T>(input: IterableInput<T>, options: FromIterableOptions = {}): Observable<T> {
  const key = {};
  const source = scoped<T>((subscriber, scope) => {
    const name = options.name ?? 'fromIterable';
    const stage = stageFor(scope.stats, key, name, 'source');
    let iterable: Iterable<T> | AsyncIterable<T>;
    try {
      iterable = typeof input === 'function' ? input() : input;
    } catch (error) {
      subscriber.error(error);
      return;
    }
    // In a resumable pipeline: counts what is emitted, and skips what a restored state had emitted.
    ({ subscriber, iterable } = resumeIterable('fromIterable', name, subscriber, iterable));
    const { demand } = scope;
    /** Cancels a wait for demand. */
    let cancelWait: (() => void) | undefined;
    /** Cancels the pending resumption of a synchronous source that gave way to the event loop. */
    let cancelYield: (() => void) | undefined;
    /** The iterator finished or failed by itself: no `return()` needed. */
    let finished = false;
    /** When the source started waiting for demand. */
    let blockedSince = 0;

    const block = (resume: () => void): void => {
      blockedSince = performance.now();
      cancelWait = demand.whenReady(resume);
    };
    const unblock = (): void => {
      cancelWait = undefined;
      if (blockedSince) stage.blockedMs += performance.now() - blockedSince;
      blockedSince = 0;
    };

    if (Symbol.asyncIterator in iterable) {
      const iterator = iterable[Symbol.asyncIterator]();
      const pull = async (): Promise<void> => {
        unblock();
        while (!subscriber.closed) {
          if (!demand.ready) return block(resumeAsync);
          // Awaited iterators resume from microtasks, which never let the event loop turn.
          if (sliceSpent()) {
            await nextTurn();
            continue;
          }
          let result: IteratorResult<T>;
          try {
            result = await iterator.next();
          } catch (error) {
            finished = true;
            subscriber.error(error);
            return;
          }
          if (subscriber.closed) return;
          if (result.done) {
            finished = true;
            produceComplete(scope, subscriber);
            return;
          }
          stage.in++;
          stage.out++;
          produce(scope, name, subscriber, result.value);
        }
      };
      // Resumed loops run in the scope captured at subscription, whoever opened the gate.
      const resumeAsync = (): void => runInScope(scope, () => void pull());
      trampoline(resumeAsync);
      return () => {
        cancelWait?.();
        if (!finished) void Promise.resolve(iterator.return?.()).catch(() => undefined);
      };
    }

    const iterator = iterable[Symbol.iterator]();
    /** Elements the first run, made from `subscribe`, emits before it watches the clock. */
    let grace = SUBSCRIBE_GRACE;
    const pullSync = (): void => {
      unblock();
      cancelYield = undefined;
      while (!subscriber.closed) {
        if (!demand.ready) return block(resumeSync);
        if (grace > 0) grace--;
        else if (sliceSpent()) {
          cancelYield = yieldTurn(resumeSync);
          return;
        }
        let result: IteratorResult<T>;
        try {
          result = iterator.next();
        } catch (error) {
          finished = true;
          subscriber.error(error);
          return;
        }
        if (result.done) {
          finished = true;
          produceComplete(scope, subscriber);
          return;
        }
        stage.in++;
        stage.out++;
        produce(scope, name, subscriber, result.value);
      }
    };
    // Resumed runs close loops of microtasks (an async sink reopening the gate): they watch the
    // clock from their first element on.
    const resumeSync = (): void => {
      grace = 0;
      runInScope(scope, pullSync);
    };
    trampoline(() => runInScope(scope, pullSync));
    return () => {
      cancelWait?.();
      cancelYield?.();
      if (!finished) iterator.return?.();
    };
  });
  // An array knows its length (a progress bar can show a total); anything else may not.
  declareCardinality(source, Array.isArray(input) ? input.length : 'unknown');
  // Without a signal this is `source` itself: nothing added per subscription or element.
  return withSignal(source, options.signal, options.name ?? 'fromIterable');
}
