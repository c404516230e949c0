import { Subscription, type OperatorFunction, type SchedulerLike } from 'rxjs';
import { MAX_OVERSHOOT, Outbox, Valve, overshootError, scoped, subscribeBehind } from '../src/flow.js';
import { refuseCheckpoint } from '../src/state/refuse.js';
import { stageFor } from '../src/stats.js';
import { closeSlot, every, openSlot, timeSlotArgs } from '../src/timeSlots.js';

/** Elements one buffer holds before the source waits for the buffer's time to end, when no maximum is given. */
export const BUFFER_TIME_HOLD = 4096;

/**
 * RxJS's `bufferTime`, obeying demand: collects values into arrays emitted every `span` ms
 * (time-based batching for live sources), under the demand of the stage below.
 *
 * ```
 * source:   -a-b-c--d----e-…
 * buffers:  [a b c][d   ][e …       (one per span; a full buffer makes the source wait)
 * output:   ------abc----d-----e-
 * ```
 *
 * The source waits while a buffer waits for the stage below, and while a buffer holds
 * `maxBufferSize` values (emitted early, as RxJS does) or, with no maximum, {@link BUFFER_TIME_HOLD}
 * (kept until its time ends). A window that closes empty while the stage below is full is not
 * queued; it is counted in `dropped`. Bound: the maximum (or `BUFFER_TIME_HOLD`) per open buffer,
 * plus one emitted buffer.
 *
 * @example
 * ```ts
 * import { bufferTime } from 'rxdata/rxjs';
 * fromMqtt(options).pipe(bufferTime(1000), consume(writeSecond));
 * ```
 */
export function bufferTime<T>(span: number, scheduler?: SchedulerLike): OperatorFunction<T, T[]>;
export function bufferTime<T>(span: number, creationInterval: number | null | undefined, scheduler?: SchedulerLike): OperatorFunction<T, T[]>;
export function bufferTime<T>(span: number, creationInterval: number | null | undefined, maxBufferSize: number, scheduler?: SchedulerLike): OperatorFunction<T, T[]>;
export function bufferTime<T>(span: number, ...rest: unknown[]): OperatorFunction<T, T[]> {
  const { interval, max, scheduler } = timeSlotArgs('bufferTime', span, rest);
  const hold = Number.isFinite(max) ? max : BUFFER_TIME_HOLD;
  const key = {};
  return (source) =>
    scoped<T[]>((subscriber, scope) => {
      const stage = stageFor(scope.stats, key, 'bufferTime', 'operator');
      // In a resumable pipeline a checkpoint fails naming this stage (docs/resume.md).
      refuseCheckpoint('bufferTime', stage.name, 'its buffers follow the clock, which a restored run cannot replay; use batch, or a bufferCount from rxdata/rxjs');
      const gate = new Valve(stage.name);
      /** Open buffers, oldest first, each with its closing timer. */
      const open: { buffer: T[]; timer: Subscription }[] = [];
      const timers = new Subscription();
      const update = (): void => {
        let room = outbox.size === 0;
        for (const record of open) if (record.buffer.length >= hold) room = false;
        gate.set(room);
      };
      const outbox = new Outbox<T[]>(subscriber, scope, update, stage);
      const emit = (record: { buffer: T[]; timer: Subscription }): void => {
        if (!closeSlot(open, record)) return;
        // The next buffer opens first: handing this one on can reopen the gate, and what the
        // source then emits at once must land in a buffer.
        if (interval === null) start();
        if (record.buffer.length === 0 && outbox.size > 0) stage.dropped++;
        else outbox.push(record.buffer);
        update();
      };
      const start = (): void => {
        if (subscriber.closed) return;
        openSlot(scheduler, span, timers, open, { buffer: [] as T[], timer: new Subscription() }, emit);
      };
      if (interval !== null) timers.add(every(scheduler, interval, start));
      start();
      const upstream = subscribeBehind(scope, gate, source, {
        next(value) {
          stage.in++;
          for (const record of [...open]) {
            if (record.buffer.length >= hold + MAX_OVERSHOOT) return outbox.error(overshootError(stage.name));
            record.buffer.push(value);
            if (record.buffer.length >= max) emit(record);
          }
          update();
        },
        error: (error) => outbox.error(error),
        complete() {
          timers.unsubscribe();
          for (const record of open.splice(0)) outbox.push(record.buffer);
          outbox.complete();
        },
      }, subscriber);
      return () => {
        timers.unsubscribe();
        upstream.unsubscribe();
        outbox.dispose();
      };
    });
}
