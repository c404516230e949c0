import { Subscription, type Observable, type ObservableInput, type ObservedValueOf } from 'rxjs';
import { Outbox, Valve, scoped, subscribeBehind } from '../src/flow.js';
import { innerFrom } from '../src/innerFrom.js';
import { stageFor } from '../src/stats.js';

type Inputs = readonly ObservableInput<unknown>[];
type Zipped<A extends Inputs> = { [K in keyof A]: ObservedValueOf<A[K]> };

/**
 * RxJS's `zip`, obeying demand: pairs the n-th values of every input, and pulls each input only
 * while it has no value waiting for its partners.
 *
 * ```
 * a:       -1-2-3-…      (pulled one ahead at most)
 * b:       ---x---y-…
 * output:  ---[1,x]-[2,y]-…
 * ```
 *
 * RxJS's `zip` keeps every value of a fast input until a slow one catches up; here an input of
 * ours waits instead. Bound: one value per input, plus one tuple waiting for the stage below
 * (and what an input that is not ours pushes at once). Completes once an input has completed
 * with nothing left to pair, as RxJS does.
 *
 * @example
 * ```ts
 * import { zip } from 'rxdata/rxjs';
 * zip(images$, labels$).pipe(map(([image, label]) => ({ image, label })), batch(32));
 * ```
 */
export function zip<A extends Inputs>(...inputs: [...A]): Observable<Zipped<A>>;
export function zip<A extends Inputs>(inputs: [...A]): Observable<Zipped<A>>;
export function zip<A extends Inputs, R>(...args: [...A, (...values: Zipped<A>) => R]): Observable<R>;
export function zip(...args: unknown[]): Observable<unknown> {
  const project = typeof args[args.length - 1] === 'function' ? (args.pop() as (...values: unknown[]) => unknown) : undefined;
  const inputs = (args.length === 1 && Array.isArray(args[0]) ? args[0] : args) as ObservableInput<unknown>[];
  const key = {};
  return scoped<unknown>((subscriber, scope) => {
    const stage = stageFor(scope.stats, key, 'zip', 'operator');
    const n = inputs.length;
    if (n === 0) {
      subscriber.complete();
      return;
    }
    /** Values waiting for their partners, one queue per input. */
    const queues: unknown[][] = inputs.map(() => []);
    const done: boolean[] = inputs.map(() => false);
    /** One valve per input: open while its queue is empty and no tuple waits below. */
    const valves = inputs.map(() => new Valve(stage.name));
    const inputsSubscription = new Subscription();
    const update = (): void => {
      for (let i = 0; i < n; i++) valves[i].set(queues[i].length === 0 && outbox.size === 0);
    };
    const outbox = new Outbox<unknown>(subscriber, scope, update, stage);
    const pair = (): void => {
      while (queues.every((q) => q.length > 0)) {
        const values = queues.map((q) => q.shift());
        let out: unknown;
        try {
          out = project ? project(...values) : values;
        } catch (error) {
          outbox.error(error);
          return;
        }
        outbox.push(out);
      }
      if (done.some((d, i) => d && queues[i].length === 0)) {
        inputsSubscription.unsubscribe();
        outbox.complete();
      }
    };
    for (let i = 0; i < n && !subscriber.closed && !inputsSubscription.closed; i++) {
      let source: Observable<unknown>;
      try {
        source = innerFrom(inputs[i]);
      } catch (error) {
        outbox.error(error);
        break;
      }
      inputsSubscription.add(
        subscribeBehind(scope, valves[i], source, {
          next(value) {
            stage.in++;
            queues[i].push(value);
            valves[i].set(false);
            pair();
            update();
          },
          error: (error) => outbox.error(error),
          complete() {
            done[i] = true;
            pair();
          },
        }, subscriber),
      );
    }
    return () => {
      inputsSubscription.unsubscribe();
      outbox.dispose();
    };
  });
}
