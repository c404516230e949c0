/**
 * How stages of ours subscribe upstream: tied to the subscriber below ({@link subscribeTied}),
 * and, for a gated stage, behind its own gate ({@link subscribeBehind}).
 *
 * ```
 * upstream ──▶ [ gated stage ] ──▶ downstream
 *   scope: { demand: [its gate], ledger }     scope: whatever the stage was subscribed in
 * ```
 */
import { Subscriber, type Observable, type Observer, type Subscription } from 'rxjs';
import { Ledger } from '../guard.js';
import { Demand } from './demand.js';
import { Valve, type Gate } from './gate.js';
import { runInScope, type FlowScope } from './scope.js';

/**
 * Subscribes `source` with `observer`, tied to `downstream`: when downstream closes, upstream
 * stops at once — even while `source` is still emitting synchronously inside this very call
 * (an array source under `take(3)`), before any returned subscription could be unsubscribed.
 * This is what RxJS's own operators do internally.
 */
export function subscribeTied<T>(downstream: Subscription, source: Observable<T>, observer: Partial<Observer<T>>): Subscription {
  // A full observer is the Subscriber's destination as is: one call less per element.
  const inner = new Subscriber<T>(
    observer.next && observer.error && observer.complete
      ? (observer as Observer<T>)
      : {
          next: (value) => observer.next?.(value),
          error: (error: unknown) => observer.error?.(error),
          complete: () => observer.complete?.(),
        },
  );
  downstream.add(inner);
  source.subscribe(inner);
  return inner;
}

/**
 * Subscribes `source` (tied to `downstream`, see {@link subscribeTied}) so that producers above
 * see `gate` as their only demand: the gate replaces the demand below, since a buffering stage
 * decouples the two sides. `stats` carries through; a fresh `Ledger` counts what arrives, for the
 * guard (see `guard.ts`).
 */
export function subscribeBehind<T>(
  scope: FlowScope,
  gate: Gate,
  source: Observable<T>,
  observer: Partial<Observer<T>>,
  downstream?: Subscription,
): Subscription {
  const ledger = new Ledger(gate instanceof Valve ? gate.name : 'a gated stage');
  const next = observer.next;
  const counted: Observer<T> = {
    next(value) {
      const failure = ledger.receive();
      if (failure) observer.error?.(failure);
      else next?.(value);
    },
    error: (error: unknown) => observer.error?.(error),
    complete: () => observer.complete?.(),
  };
  return runInScope({ demand: new Demand([gate]), stats: scope.stats, ledger }, () =>
    downstream ? subscribeTied(downstream, source, counted) : source.subscribe(counted),
  );
}
