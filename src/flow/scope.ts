/**
 * The scope: how a producer finds the demand of the stages below it. Subscription runs
 * synchronously from the sink up to the source, so a gated stage that subscribes its upstream
 * inside a scope (Node's `AsyncLocalStorage`) is seen by every producer of ours subscribed in
 * that call, however many ordinary RxJS operators sit in between.
 *
 * ```
 * consume.subscribe ─ runInScope({ demand: [consume's gate] }) ─▶ map.subscribe ─▶ source.subscribe
 *                                                                                  └ scoped(): captures it
 * ```
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Observable, type Subscriber, type TeardownLogic } from 'rxjs';
import type { Ledger } from '../guard.js';
import type { PipelineStats } from '../stats.js';
import { Demand } from './demand.js';

/** What a subscription inherits from the stage below it. */
export interface FlowScope {
  /** The gates the producer above must respect. */
  readonly demand: Demand;
  /** Where stages report their counters, when the demand end collects statistics. */
  readonly stats?: PipelineStats;
  /** The account the gate below keeps of what producers above emit toward it (see `guard.ts`). */
  readonly ledger?: Ledger;
}

/** Outside every gated stage: no demand (a plain `subscribe` asks for everything), no statistics. */
const rootScope: FlowScope = { demand: Demand.unbounded };
const storage = new AsyncLocalStorage<FlowScope>();

/**
 * The scope of the producer handing an element on right now (see {@link produce}), or of the
 * innermost {@link runInScope} call: it wins over the asynchronous context for the length of the
 * synchronous call. Kept apart from `storage` because setting a plain variable costs an element
 * nothing, and an `AsyncLocalStorage.run` per element would (bench scenario 1: +15 %).
 */
let delivering: FlowScope | undefined;

/** The scope the current `subscribe` call runs in. Call it at subscription time, never later. */
export function currentScope(): FlowScope {
  return delivering ?? storage.getStore() ?? rootScope;
}

/** Runs `fn` inside `scope`, so that producers subscribed (or re-subscribed) there capture it. */
export function runInScope<R>(scope: FlowScope, fn: () => R): R {
  const outer = delivering;
  delivering = scope;
  try {
    return storage.run(scope, fn);
  } finally {
    delivering = outer;
  }
}

/**
 * Marks the synchronous call that follows as a delivery by a producer of `scope` (until
 * {@link endDelivery} with what this returned): what is subscribed in it captures `scope`.
 */
export function beginDelivery(scope: FlowScope): FlowScope | undefined {
  const outer = delivering;
  delivering = scope;
  return outer;
}

/** Ends a delivery begun by {@link beginDelivery}, restoring what it returned. */
export function endDelivery(outer: FlowScope | undefined): void {
  delivering = outer;
}

/**
 * A cold Observable whose subscribe function sees the scope it was subscribed in, and whose
 * subscriber completes and fails inside that scope, whatever callback it is called from.
 *
 * Why: a producer's callbacks (a file read, a socket event, a worker message, a step's promise)
 * run in the asynchronous context they were started in, which for a stage of ours is often a
 * scope of its own insides (interleave's gate over its files, consume's gate). `repeat`,
 * `concat` and `concatMap` below subscribe the next source on completion, `retry` and
 * `catchError` on an error: that subscription must find the demand below the producer, not a
 * gate inside a finished subscription, which never opens again (the source would wait forever).
 * Elements get the same treatment in `produce` (a mergeMap below subscribes on an element).
 */
export function scoped<T>(subscribe: (subscriber: Subscriber<T>, scope: FlowScope) => TeardownLogic): Observable<T> {
  return new Observable<T>((subscriber) => {
    const scope = currentScope();
    deliverInScope(subscriber, scope);
    return subscribe(subscriber, scope);
  });
}

/**
 * Makes `subscriber`'s `complete` and `error` run inside `scope` (the asynchronous context too:
 * `repeat({ delay })` and `retry({ delay })` subscribe again from a timer started there). Set on
 * the instance, not by wrapping it in another Subscriber, which would cost every element a call.
 */
function deliverInScope(subscriber: Subscriber<unknown>, scope: FlowScope): void {
  const complete = subscriber.complete;
  const fail = subscriber.error;
  subscriber.complete = () => runInScope(scope, () => complete.call(subscriber));
  subscriber.error = (error: unknown) => runInScope(scope, () => fail.call(subscriber, error));
}
