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

/** The scope the current `subscribe` call runs in. Call it at subscription time, never later. */
export function currentScope(): FlowScope {
  return storage.getStore() ?? rootScope;
}

/** Runs `fn` inside `scope`, so that producers subscribed (or re-subscribed) there capture it. */
export function runInScope<R>(scope: FlowScope, fn: () => R): R {
  return storage.run(scope, fn);
}

/** A cold Observable whose subscribe function sees the scope it was subscribed in. */
export function scoped<T>(subscribe: (subscriber: Subscriber<T>, scope: FlowScope) => TeardownLogic): Observable<T> {
  return new Observable<T>((subscriber) => subscribe(subscriber, currentScope()));
}
