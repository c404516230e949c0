import { Observable, type Subscriber } from 'rxjs';
import { Outbox, currentScope } from './flow.js';

/**
 * An inner Observable that one stage feeds (a group of `groupBy`, a window of `windowTime`),
 * whose values wait for each subscriber's demand.
 *
 * ```
 * owner:       push(a) push(b) …          (only while `held` is 0: the owner's gate)
 * subscriber:  ----a-------b-             (each under its own stage below's demand)
 * ```
 *
 * Before it has been handed out it keeps what it is given (its first values); once handed out,
 * values that find no subscriber are dropped and counted, as RxJS's groups and windows (Subjects)
 * drop them. `onDrain` runs whenever a subscriber took a value, so the owner can reopen its gate.
 */
export class Channel<T> extends Observable<T> {
  /** Values given before anyone subscribed, while the channel waits to be handed out. */
  private early: T[] = [];
  /** One outbox per subscriber. */
  private readonly boxes = new Set<Outbox<T>>();
  /** How the channel ended, for subscribers that come later. */
  private ended: { error: unknown } | 'complete' | undefined;
  /** Handed out already: values with no subscriber are dropped from now on. */
  private delivered = false;
  /** Values dropped for want of a subscriber. */
  dropped = 0;

  constructor(private readonly onDrain: () => void) {
    super((subscriber) => this.attach(subscriber));
  }

  /** Values waiting: the most any one subscriber has not yet taken. */
  get held(): number {
    let most = this.boxes.size === 0 ? this.early.length : 0;
    for (const box of this.boxes) most = Math.max(most, box.size);
    return most;
  }

  /** The channel reached its consumer: from now on values need a subscriber to be kept. */
  markDelivered(): void {
    this.delivered = true;
    if (this.boxes.size === 0 && this.early.length > 0) {
      this.dropped += this.early.length;
      this.early = [];
      this.onDrain();
    }
  }

  push(value: T): void {
    if (this.boxes.size === 0) {
      if (this.delivered) this.dropped++;
      else this.early.push(value);
      return;
    }
    for (const box of this.boxes) box.push(value);
  }

  complete(): void {
    this.ended ??= 'complete';
    for (const box of this.boxes) box.complete();
  }

  error(error: unknown): void {
    this.ended ??= { error };
    for (const box of [...this.boxes]) box.error(error);
  }

  private attach(subscriber: Subscriber<T>): () => void {
    const box = new Outbox<T>(subscriber, currentScope(), this.onDrain);
    this.boxes.add(box);
    const early = this.early;
    this.early = [];
    for (const value of early) box.push(value);
    if (this.ended === 'complete') box.complete();
    else if (this.ended) box.error(this.ended.error);
    return () => {
      this.boxes.delete(box);
      box.dispose();
      this.onDrain();
    };
  }
}
