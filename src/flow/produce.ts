/**
 * Emitting as a producer of ours: every value a source or a gated stage hands downstream goes
 * through {@link produce}, which counts it in the ledger of the gate below and marks the call
 * stack while it runs, so the guard (`guard.ts`) can tell an operator that delivers later.
 *
 * ```
 * produce(v):  ledger.emitted++ · depth++ · subscriber.next(v) · depth--
 *                                           └ map, filter, take… reach the gate on this stack
 * ```
 */
import type { Subscriber } from 'rxjs';
import { beginDelivery, endDelivery, runInScope, type FlowScope } from './scope.js';

/**
 * Emits `value` into `subscriber` as a producer of ours: counted in the ledger of the gate below
 * (see `guard.ts`), which may fail the pipeline instead in strict mode.
 */
export function produce<T>(scope: FlowScope, producer: string, subscriber: Subscriber<T>, value: T): void {
  // In the producer's own scope, as completion is (see `scoped`): a mergeMap or concatMap below
  // that subscribes a source of ours on this element must give it the demand below us, not a
  // gate inside us (a file read's callback runs in interleave's scope).
  const outer = beginDelivery(scope);
  try {
    emit(scope, producer, subscriber, value);
  } finally {
    endDelivery(outer);
  }
}

function emit<T>(scope: FlowScope, producer: string, subscriber: Subscriber<T>, value: T): void {
  const ledger = scope.ledger;
  if (ledger === undefined) {
    subscriber.next(value);
    return;
  }
  if (ledger.offStack !== 0 && !ledger.reported) {
    const failure = ledger.check(producer);
    if (failure) {
      subscriber.error(failure);
      return;
    }
  }
  if (ledger.emitted++ === 0) ledger.producer = producer;
  ledger.depth++;
  subscriber.next(value);
  ledger.depth--;
}

/**
 * Completes `subscriber` as a producer of ours: what operators below flush on completion (a
 * partial batch, a shuffle window) arrives on the producer's stack, as far as the guard knows.
 */
export function produceComplete(scope: FlowScope, subscriber: Subscriber<unknown>): void {
  // In the producer's scope, for owners that are not built with `scoped` (a channel's outboxes).
  runInScope(scope, () => {
    const ledger = scope.ledger;
    if (ledger) ledger.depth++;
    subscriber.complete();
    if (ledger) ledger.depth--;
  });
}
