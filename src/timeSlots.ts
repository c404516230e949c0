import { asyncScheduler, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';

/** Splits RxJS's `bufferTime`/`windowTime` arguments: `(span, interval?, max?, scheduler?)`, scheduler last. */
export function timeSlotArgs(name: string, span: number, rest: unknown[]): { span: number; interval: number | null; max: number; scheduler: SchedulerLike } {
  const last = rest[rest.length - 1];
  const isScheduler = typeof last === 'object' && last !== null && typeof (last as SchedulerLike).schedule === 'function';
  const scheduler = isScheduler ? (rest.pop() as SchedulerLike) : asyncScheduler;
  const interval = typeof rest[0] === 'number' && rest[0] >= 0 ? rest[0] : null;
  const max = typeof rest[1] === 'number' ? rest[1] : Infinity;
  if (!(span >= 0)) throw new RangeError(`${name}: the time span must be >= 0, got ${span}`);
  if (!(max >= 1)) throw new RangeError(`${name}: the maximum size must be >= 1, got ${max}`);
  return { span, interval, max, scheduler };
}

/** Runs `task` every `interval` ms on `scheduler`, as RxJS's `executeSchedule(…, repeat)` does. */
export function every(scheduler: SchedulerLike, interval: number, task: () => void): Subscription {
  return scheduler.schedule(function (this: SchedulerAction<unknown>) {
    task();
    this.schedule(undefined, interval);
  }, interval);
}
