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

/** A time slot (a buffer, a window) and the timer that closes it. */
export interface TimedSlot {
  readonly timer: Subscription;
}

/** Opens `slot`: adds it to `open` (oldest first) and has `close(slot)` run `span` ms later. */
export function openSlot<S extends TimedSlot>(scheduler: SchedulerLike, span: number, timers: Subscription, open: S[], slot: S, close: (slot: S) => void): void {
  open.push(slot);
  slot.timer.add(scheduler.schedule(() => close(slot), span));
  timers.add(slot.timer);
}

/** Takes `slot` out of `open` and cancels its timer; false if it was closed already. */
export function closeSlot<S extends TimedSlot>(open: S[], slot: S): boolean {
  const at = open.indexOf(slot);
  if (at < 0) return false;
  open.splice(at, 1);
  slot.timer.unsubscribe();
  return true;
}
