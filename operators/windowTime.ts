import { Subscription, type Observable, type OperatorFunction, type SchedulerLike } from 'rxjs';
import { Channel } from '../src/channel.js';
import { MAX_OVERSHOOT, Outbox, Valve, overshootError, scoped, subscribeBehind } from '../src/flow.js';
import { refuseCheckpoint } from '../src/state/refuse.js';
import { stageFor } from '../src/stats.js';
import { closeSlot, every, openSlot, timeSlotArgs } from '../src/timeSlots.js';

/**
 * RxJS's `windowTime`, obeying demand: splits the source into inner Observables ("windows") of
 * `span` ms, each value delivered under its window subscriber's demand.
 *
 * ```
 * source:   -a-b-c--d----e-…
 * windows:  [-a-b-c][-d--][-e-…     (a new one every span; the source waits for slow windows)
 * ```
 *
 * The source is read only while no open window holds a value its subscriber has not taken and
 * no window waits for the stage below; while one waits, the next window opens only once it has
 * been taken (no pile of empty windows behind a stalled consumer). Windows handed out and not
 * subscribed drop their values and count them, as RxJS does. Bound: one value, plus one window.
 *
 * @example
 * ```ts
 * import { windowTime, mergeMap } from 'rxdata/rxjs';
 * readings$.pipe(windowTime(1000), mergeMap((w) => w.pipe(toArray()), Infinity));
 * ```
 */
export function windowTime<T>(span: number, scheduler?: SchedulerLike): OperatorFunction<T, Observable<T>>;
export function windowTime<T>(span: number, creationInterval: number | null | undefined, scheduler?: SchedulerLike): OperatorFunction<T, Observable<T>>;
export function windowTime<T>(span: number, creationInterval: number | null | undefined, maxWindowSize: number, scheduler?: SchedulerLike): OperatorFunction<T, Observable<T>>;
export function windowTime<T>(span: number, ...rest: unknown[]): OperatorFunction<T, Observable<T>> {
  const { interval, max, scheduler } = timeSlotArgs('windowTime', span, rest);
  const key = {};
  return (source) =>
    scoped<Observable<T>>((subscriber, scope) => {
      const stage = stageFor(scope.stats, key, 'windowTime', 'operator');
      // In a resumable pipeline a checkpoint fails naming this stage (docs/resume.md).
      refuseCheckpoint('windowTime', stage.name, 'its windows follow the clock and are Observables handed to the stages below; use window or batch');
      const gate = new Valve(stage.name);
      type Slot = { window: Channel<T>; seen: number; timer: Subscription };
      const open: Slot[] = [];
      /** Windows handed to the outbox, to mark delivered as it emits them. */
      const handing: Channel<T>[] = [];
      /** A window was due while another waited below: open it once that one is taken. */
      let due = false;
      const timers = new Subscription();
      /** Closed windows whose subscribers have not taken everything yet: they still count. */
      const closing = new Set<Channel<T>>();
      const update = (): void => {
        let room = outbox.size === 0;
        for (const slot of open) if (slot.window.held > 0) room = false;
        for (const window of closing) {
          if (window.held === 0) closing.delete(window);
          else room = false;
        }
        gate.set(room);
      };
      const outbox = new Outbox<Observable<T>>(subscriber, scope, () => {
        handing.shift()?.markDelivered();
        if (due && outbox.size === 0) {
          due = false;
          start();
        }
        update();
      }, stage);
      const close = (slot: Slot): void => {
        if (!closeSlot(open, slot)) return;
        if (slot.window.held > 0) closing.add(slot.window);
        // The next window opens first: completing this one can reopen the gate, and what the
        // source then emits at once must land in a window.
        if (interval === null) start();
        slot.window.complete();
        stage.dropped += slot.window.dropped;
        update();
      };
      const start = (): void => {
        if (subscriber.closed) return;
        if (outbox.size > 0) {
          due = true;
          return;
        }
        const slot: Slot = { window: new Channel<T>(update), seen: 0, timer: new Subscription() };
        openSlot(scheduler, span, timers, open, slot, close);
        handing.push(slot.window);
        outbox.push(slot.window);
      };
      if (interval !== null) timers.add(every(scheduler, interval, start));
      start();
      const upstream = subscribeBehind(scope, gate, source, {
        next(value) {
          stage.in++;
          for (const slot of [...open]) {
            if (slot.window.held >= MAX_OVERSHOOT) return outbox.error(overshootError(stage.name));
            slot.window.push(value);
            if (++slot.seen >= max) close(slot);
          }
          update();
        },
        error(error) {
          for (const slot of open) slot.window.error(error);
          outbox.error(error);
        },
        complete() {
          timers.unsubscribe();
          for (const slot of open.splice(0)) slot.window.complete();
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
