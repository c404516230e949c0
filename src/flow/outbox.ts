/**
 * The outbox: the one buffer shape every gated stage of ours emits from. It holds what the stage
 * produced and hands it on only under the demand below (and while the event loop's slice lasts),
 * so a stage never pushes into a full stage below it.
 *
 * ```
 * push(a) push(b) push(c)        demand ▔▔▁▁▁▔▔        complete()
 * queue:  [a] [a b] [a b c] → emits a, b · waits · emits c → completes once drained
 * ```
 */
import type { Subscriber } from 'rxjs';
import type { StageStats } from '../stats.js';
import { sliceSpent, yieldTurn } from '../turn.js';
import { produce, produceComplete } from './produce.js';
import { runInScope, type FlowScope } from './scope.js';

/**
 * A FIFO that emits into `subscriber` only while the demand below is ready (and the event loop's
 * slice is not spent: see `turn.ts`), and completes it once drained. Gated operators put what
 * they produce here; `onDrain` runs after every emission so the owner can reopen its own gate.
 * Holds what its owner pushes: the owner bounds it.
 */
export class Outbox<T> {
  /** Values waiting for demand (a ring would save little: the owner bounds the size). */
  private readonly queue: T[] = [];
  /** Index of the head of `queue`; compacted once the head passes half the array. */
  private head = 0;
  /** Upstream has completed; complete downstream once the queue is empty. */
  private completing = false;
  /** A flush loop is running (guards against re-entry through synchronous consumers). */
  private flushing = false;
  /** Cancels the wait for demand, when waiting. */
  private cancelWait: (() => void) | undefined;

  constructor(
    private readonly subscriber: Subscriber<T>,
    private readonly scope: FlowScope,
    private readonly onDrain?: () => void,
    private readonly stage?: StageStats,
  ) {}

  get size(): number {
    return this.queue.length - this.head;
  }

  push(value: T): void {
    // Nothing held and demand there: hand it on at once, as flush() would, without the round
    // trip through the queue (the hot path of a push source whose pipeline keeps up).
    if (this.head === this.queue.length && !this.flushing && this.cancelWait === undefined && this.scope.demand.ready && !this.subscriber.closed) {
      const stage = this.stage;
      if (stage) {
        stage.buffered(1);
        stage.out++;
        stage.buffered(0);
      }
      this.flushing = true;
      try {
        produce(this.scope, stage?.name ?? 'an rxdata stage', this.subscriber, value);
        this.onDrain?.();
      } finally {
        this.flushing = false;
      }
      // What a synchronous consumer pushed meanwhile waits in the queue.
      if (this.head < this.queue.length) this.flush();
      return;
    }
    this.queue.push(value);
    if (this.stage) this.stage.buffered(this.size);
    this.flush();
  }

  complete(): void {
    this.completing = true;
    this.flush();
  }

  error(error: unknown): void {
    this.dispose();
    // In the owner's scope, as completion is (see `scoped`): a `retry` below subscribes again here.
    runInScope(this.scope, () => this.subscriber.error(error));
  }

  /** Removes the oldest held value (an overflow policy's choice). */
  dropOldest(): void {
    if (this.size === 0) return;
    this.queue[this.head++] = undefined as T;
  }

  /** Drops what is held and stops waiting; called on teardown. */
  dispose(): void {
    this.cancelWait?.();
    this.cancelWait = undefined;
    this.queue.length = 0;
    this.head = 0;
  }

  private readonly resume = (): void => {
    this.cancelWait = undefined;
    runInScope(this.scope, () => this.flush(true));
  };

  /**
   * Emits what demand allows. `resumed`: called back after a wait, the link that closes a loop of
   * microtasks (an async consumer reopening the gate), so it gives way once the slice is spent; a
   * push hands its value on at once, as RxJS would.
   */
  flush(resumed = false): void {
    if (this.flushing || this.cancelWait) return;
    this.flushing = true;
    try {
      const { subscriber, scope, queue } = this;
      while (this.head < queue.length && !subscriber.closed) {
        if (!scope.demand.ready) {
          this.cancelWait = scope.demand.whenReady(this.resume);
          return;
        }
        if (resumed && sliceSpent()) {
          this.cancelWait = yieldTurn(this.resume);
          return;
        }
        const value = queue[this.head];
        queue[this.head++] = undefined as T;
        if (this.head > 1024 && this.head * 2 > queue.length) {
          queue.splice(0, this.head);
          this.head = 0;
        }
        if (this.stage) {
          this.stage.out++;
          this.stage.buffered(this.size);
        }
        produce(scope, this.stage?.name ?? 'an rxdata stage', subscriber, value);
        this.onDrain?.();
      }
      if (this.head === queue.length) {
        queue.length = 0;
        this.head = 0;
        if (this.completing && !subscriber.closed) produceComplete(scope, subscriber);
      }
    } finally {
      this.flushing = false;
    }
  }
}
