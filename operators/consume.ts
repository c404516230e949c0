import type { OperatorFunction } from 'rxjs';
import { ElementError } from '../src/errors.js';
import { Valve, scoped, subscribeBehind, type FlowScope } from '../src/flow.js';
import { stageFor, type PipelineStats } from '../src/stats.js';

export interface ConsumeOptions {
  /** Calls of `fn` running at once. Default 1. */
  concurrency?: number;
  /**
   * Elements taken from upstream beyond those running, so the next one is ready the moment a
   * call ends (the training sink asks for the next batch as its step starts). Default 0.
   */
  lookahead?: number;
  /** Collects statistics for every stage of ours above (and this one). */
  stats?: PipelineStats;
  /** The stage's name in pipeline statistics. */
  name?: string;
}

/**
 * The demand end of a pipeline: runs async `fn` per element, at most `concurrency` at a time, and
 * asks upstream for the next element only when a call finishes. Emits each call's result.
 *
 * ```
 * source:   -a-b-c-d-…      (pulled only on demand)
 * fn:        [a ]  [b ]  [c ]
 * output:   ----A-----B-----C-
 * ```
 *
 * A plain `subscribe(next)` callback cannot slow anything down: the producer keeps pushing while
 * `next` works. Put the slow work here instead, and the whole pipeline above waits for it.
 * Results are emitted in completion order (in input order when `concurrency` is 1).
 *
 * @example
 * ```ts
 * await lastValueFrom(fromIterable(rows).pipe(batch(32), consume((b) => upload(b)), count()));
 * ```
 */
export function consume<T, R>(
  fn: (value: T, index: number, signal: AbortSignal) => R | PromiseLike<R>,
  options: ConsumeOptions = {},
): OperatorFunction<T, Awaited<R>> {
  const { concurrency = 1, lookahead = 0 } = options;
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new RangeError(`consume: concurrency must be an integer >= 1, got ${concurrency}`);
  if (!(Number.isInteger(lookahead) && lookahead >= 0)) throw new RangeError(`consume: lookahead must be an integer >= 0, got ${lookahead}`);
  const name = options.name ?? 'consume';
  const key = {};
  return (source) =>
    scoped<Awaited<R>>((subscriber, outer) => {
      const scope: FlowScope = options.stats ? { demand: outer.demand, stats: options.stats } : outer;
      const stage = stageFor(scope.stats, key, name, 'sink');
      const abort = new AbortController();
      /** Open while fewer than concurrency + lookahead elements are running or waiting. */
      const gate = new Valve(stage.name);
      /** Elements received and not started yet (at most `lookahead`, plus a fan-out overshoot). */
      const waiting: { value: T; index: number }[] = [];
      let running = 0;
      let received = 0;
      let upstreamDone = false;
      /** When the sink went idle (nothing running or waiting), for the input-wait time. */
      let idleSince = performance.now();

      const update = (): void => {
        gate.set(running + waiting.length < concurrency + lookahead);
        stage.buffered(waiting.length);
        if (upstreamDone && running === 0 && waiting.length === 0) subscriber.complete();
      };
      const finish = (result: Awaited<R>): void => {
        running--;
        stage.out++;
        if (running === 0 && waiting.length === 0) idleSince = performance.now();
        subscriber.next(result);
        startWaiting();
        update();
      };
      const fail = (index: number) => (error: unknown) => {
        if (!subscriber.closed) subscriber.error(error instanceof ElementError ? error : new ElementError(name, index, error));
      };
      const start = (value: T, index: number): void => {
        running++;
        let result: R | PromiseLike<R>;
        try {
          result = fn(value, index, abort.signal);
        } catch (error) {
          fail(index)(error);
          return;
        }
        if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<R>).then === 'function') {
          (result as PromiseLike<Awaited<R>>).then((r) => !subscriber.closed && finish(r), fail(index));
        } else {
          finish(result as Awaited<R>);
        }
      };
      /** Starts waiting elements while there is room (loops rather than recursing on sync `fn`). */
      let starting = false;
      const startWaiting = (): void => {
        if (starting) return;
        starting = true;
        try {
          while (running < concurrency && waiting.length > 0 && !subscriber.closed) {
            const next = waiting.shift()!;
            start(next.value, next.index);
          }
        } finally {
          starting = false;
        }
      };

      const upstream = subscribeBehind(scope, gate, source, {
        next(value) {
          stage.in++;
          if (running === 0 && waiting.length === 0) stage.waitMs += performance.now() - idleSince;
          waiting.push({ value, index: received++ });
          startWaiting();
          update();
        },
        error: (error) => subscriber.error(error),
        complete() {
          upstreamDone = true;
          update();
        },
      }, subscriber);
      return () => {
        abort.abort();
        upstream.unsubscribe();
        waiting.length = 0;
      };
    });
}
