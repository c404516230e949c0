import { asyncScheduler, type MonoTypeOperatorFunction, type SchedulerLike } from 'rxjs';
import { scheduledStage, type ScheduledOptions } from '../src/scheduled.js';

/**
 * RxJS's `delay`, obeying demand: shifts every value `due` ms later (or to the `Date` given),
 * holding at most `bufferSize` values (default 16) in the delay line or waiting below.
 *
 * ```
 * source:   -a-b-c-…          (pauses while bufferSize values are held)
 * output:   ----a-b-c-…       (each `due` ms after it arrived)
 * ```
 *
 * Throughput is at most `bufferSize` values per `due` ms: raise `bufferSize` for short delays on
 * fast sources. Errors are not delayed; completion waits for the values before it, as in RxJS.
 * Bound: `bufferSize`.
 *
 * @example
 * ```ts
 * import { delay } from 'rxdata/rxjs';
 * replay$.pipe(delay(10, undefined, { bufferSize: 64 }), consume(send));
 * ```
 */
export function delay<T>(due: number | Date, scheduler: SchedulerLike = asyncScheduler, options: ScheduledOptions = {}): MonoTypeOperatorFunction<T> {
  const delayOf = due instanceof Date ? () => due.getTime() - scheduler.now() : () => due;
  return scheduledStage<T>('delay', scheduler, delayOf, true, options);
}
