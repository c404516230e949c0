import type { MonoTypeOperatorFunction, SchedulerLike, Subscription } from 'rxjs';
import { MAX_OVERSHOOT, Outbox, Valve, overshootError, scoped, subscribeBehind } from './flow.js';
import { stageFor } from './stats.js';

/** Elements `observeOn` and `delay` hold when no `bufferSize` is given. */
export const DEFAULT_SCHEDULED_BUFFER = 16;

export interface ScheduledOptions {
  /** Elements held (scheduled, or waiting for the stage below) before the producer above waits. */
  bufferSize?: number;
}

/**
 * The engine of the flow-aware `observeOn` and `delay`: every value is handed on from a scheduler
 * action `delayOf()` ms later, and at most `bufferSize` values are scheduled or waiting for the
 * stage below at once; the producer above waits while that many are held.
 * `errorsImmediately`: errors skip the queue (`delay`) or are scheduled behind the values
 * (`observeOn`). Completion always waits for the values scheduled before it.
 */
export function scheduledStage<T>(
  name: string,
  scheduler: SchedulerLike,
  delayOf: () => number,
  errorsImmediately: boolean,
  options: ScheduledOptions,
): MonoTypeOperatorFunction<T> {
  const bufferSize = options.bufferSize ?? DEFAULT_SCHEDULED_BUFFER;
  if (!(Number.isInteger(bufferSize) && bufferSize >= 1)) throw new RangeError(`${name}: bufferSize must be an integer >= 1, got ${bufferSize}`);
  const key = {};
  return (source) =>
    scoped<T>((subscriber, scope) => {
      const stage = stageFor(scope.stats, key, name, 'operator');
      /** Open while fewer than `bufferSize` values are scheduled or waiting below. */
      const gate = new Valve(stage.name);
      /** Scheduler actions not yet run. */
      const actions = new Set<Subscription>();
      const update = (): void => {
        gate.set(actions.size + outbox.size < bufferSize);
        stage.buffered(actions.size + outbox.size);
      };
      const outbox = new Outbox<T>(subscriber, scope, update, stage);
      const later = (task: () => void): void => {
        let ran = false;
        let action: Subscription | undefined = undefined;
        action = scheduler.schedule(() => {
          ran = true;
          if (action) actions.delete(action);
          task();
          update();
        }, Math.max(0, delayOf()));
        if (!ran) actions.add(action);
        update();
      };
      const upstream = subscribeBehind(scope, gate, source, {
        next(value) {
          stage.in++;
          if (actions.size + outbox.size >= bufferSize + MAX_OVERSHOOT) return outbox.error(overshootError(stage.name));
          later(() => outbox.push(value));
        },
        error(error) {
          if (errorsImmediately) outbox.error(error);
          else later(() => outbox.error(error));
        },
        complete: () => later(() => outbox.complete()),
      }, subscriber);
      return () => {
        upstream.unsubscribe();
        for (const action of actions) action.unsubscribe();
        actions.clear();
        outbox.dispose();
      };
    });
}
