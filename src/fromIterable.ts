import type { Observable } from 'rxjs';
import { SYNC_TURN, runInScope, scoped, trampoline } from './flow.js';
import { stageFor } from './stats.js';

/** What `fromIterable` reads: an iterable, an async iterable, or a factory called per subscription. */
export type IterableInput<T> = Iterable<T> | AsyncIterable<T> | (() => Iterable<T> | AsyncIterable<T>);

export interface FromIterableOptions {
  /** The stage's name in pipeline statistics. */
  name?: string;
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
 * A synchronous source yields to the event loop every few thousand elements, so timers and I/O
 * keep running beside an endless generator.
 *
 * @example
 * ```ts
 * fromIterable(function* () { for (let i = 0; ; i++) yield i; })
 *   .pipe(batch(32), consume(trainStep));
 * ```
 */
export function fromIterable<T>(input: IterableInput<T>, options: FromIterableOptions = {}): Observable<T> {
  const key = {};
  return scoped<T>((subscriber, scope) => {
    const stage = stageFor(scope.stats, key, options.name ?? 'fromIterable', 'source');
    let iterable: Iterable<T> | AsyncIterable<T>;
    try {
      iterable = typeof input === 'function' ? input() : input;
    } catch (error) {
      subscriber.error(error);
      return;
    }
    const { demand } = scope;
    /** Cancels a wait for demand. */
    let cancelWait: (() => void) | undefined;
    /** The pending `setImmediate` of a synchronous source that gave way to the event loop. */
    let immediate: NodeJS.Immediate | undefined;
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
            subscriber.complete();
            return;
          }
          stage.in++;
          stage.out++;
          subscriber.next(result.value);
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
    const pullSync = (): void => {
      unblock();
      immediate = undefined;
      let budget = SYNC_TURN;
      while (!subscriber.closed) {
        if (!demand.ready) return block(resumeSync);
        if (budget-- === 0) {
          immediate = setImmediate(resumeSync);
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
          subscriber.complete();
          return;
        }
        stage.in++;
        stage.out++;
        subscriber.next(result.value);
      }
    };
    const resumeSync = (): void => runInScope(scope, pullSync);
    trampoline(resumeSync);
    return () => {
      cancelWait?.();
      if (immediate) clearImmediate(immediate);
      if (!finished) iterator.return?.();
    };
  });
}
