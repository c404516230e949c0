import { Subscription, type Observable } from 'rxjs';
import { LimitError } from '../errors.js';
import { Valve, currentScope, subscribeBehind } from '../flow.js';

export interface ToAsyncIterableOptions {
  /**
   * Elements read ahead of the consumer's `next()` calls. Default 1: the next element is ready
   * when the loop body ends. 0: an element is read only when asked for (one per `next()`).
   */
  highWaterMark?: number;
  /**
   * Elements held for a source that ignores demand (a hot Subject, RxJS's `interval`) before the
   * iteration fails with a `LimitError`. Default 10 000.
   */
  maxBuffered?: number;
}

/**
 * A pull bridge from an Observable to an async iterator: the source is subscribed behind a gate
 * that opens only while requests plus read-ahead exceed what is held, so a source of ours pulls
 * one element per `next()` (plus `highWaterMark` ahead).
 */
export class PullIterator<T> implements AsyncIterableIterator<T> {
  /** Elements received and not handed out (≤ highWaterMark for sources of ours). */
  private readonly queue: T[] = [];
  /** `next()` calls waiting for an element. */
  private readonly waiters: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void }[] = [];
  private readonly gate = new Valve();
  /** The source's subscription, tied to this (so a source emitting inside subscribe stops at once). */
  private readonly lifetime = new Subscription();
  private started = false;
  private done = false;
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly source: Observable<T>,
    private readonly highWaterMark: number,
    private readonly maxBuffered = 10_000,
    private readonly name = 'toAsyncIterable',
  ) {
    this.gate.set(false);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.queue.length > 0) {
      const value = this.queue.shift()!;
      this.update();
      return Promise.resolve({ value, done: false });
    }
    if (this.failure) {
      const { error } = this.failure;
      this.failure = undefined;
      this.done = true;
      return Promise.reject(error);
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise<IteratorResult<T>>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.start();
      this.update();
    });
  }

  /** Called by `break`, `return` or a throw in a `for await` body: unsubscribes the source. */
  return(): Promise<IteratorResult<T>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Unsubscribes the source and ends the iteration (waiting `next()` calls get `done`). */
  close(): void {
    if (this.done && this.lifetime.closed) return;
    this.done = true;
    this.queue.length = 0;
    this.gate.set(false);
    this.lifetime.unsubscribe();
    for (const waiter of this.waiters.splice(0)) waiter.resolve({ value: undefined, done: true });
  }

  /** Subscribes on the first request, so that making the iterator reads nothing. */
  private start(): void {
    if (this.started) return;
    this.started = true;
    subscribeBehind(currentScope(), this.gate, this.source, {
      next: (value) => {
        const waiter = this.waiters.shift();
        if (waiter) waiter.resolve({ value, done: false });
        else if (this.queue.length >= Math.max(this.maxBuffered, this.highWaterMark)) {
          this.fail(new LimitError(`${this.name}: the source pushed more than ${this.maxBuffered} elements ahead of the reader (it ignores demand: put a bounded stage such as prefetch, or pushSource with an overflow policy, in front)`));
          return;
        } else this.queue.push(value);
        this.update();
      },
      error: (error) => this.fail(error),
      complete: () => {
        this.done = true;
        this.gate.set(false);
        for (const waiter of this.waiters.splice(0)) waiter.resolve({ value: undefined, done: true });
      },
    }, this.lifetime);
  }

  /** Ends the iteration with `error`: the next (or a waiting) `next()` rejects with it. */
  private fail(error: unknown): void {
    this.lifetime.unsubscribe();
    this.gate.set(false);
    this.queue.length = 0;
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.reject(error);
      this.done = true;
    } else this.failure = { error };
    for (const w of this.waiters.splice(0)) w.resolve({ value: undefined, done: true });
  }

  private update(): void {
    if (!this.started || this.done) return;
    this.gate.set(this.queue.length < this.waiters.length + this.highWaterMark);
  }
}

/**
 * Reads an Observable with `for await`, with bounded buffering: a source of ours is pulled only
 * as the loop asks, `highWaterMark` elements ahead at most; leaving the loop (`break`, `return`,
 * a throw) unsubscribes it, so a generator's `finally` or a connector's teardown runs. An error
 * from the source is thrown from the loop.
 *
 * ```
 * for await (const x of toAsyncIterable(source$)):   next() → pull one → x; break → unsubscribe
 * ```
 *
 * In flight: `highWaterMark` elements (default 1) for sources of ours; a foreign Observable that
 * ignores demand (RxJS's `from`, `interval`, a hot Subject) is buffered as it pushes, up to
 * `maxBuffered`, past which the loop fails with a `LimitError`.
 *
 * @example
 * ```ts
 * for await (const batch of toAsyncIterable(rows$.pipe(batch(32)))) await step(batch);
 * ```
 */
export function toAsyncIterable<T>(source$: Observable<T>, options: ToAsyncIterableOptions = {}): AsyncIterable<T> {
  const { highWaterMark = 1, maxBuffered = 10_000 } = options;
  if (!(Number.isInteger(highWaterMark) && highWaterMark >= 0)) throw new RangeError(`toAsyncIterable: highWaterMark must be an integer >= 0, got ${highWaterMark}`);
  // Each `for await` (each call of the iterator method) subscribes afresh: the source is cold.
  return { [Symbol.asyncIterator]: () => new PullIterator(source$, highWaterMark, maxBuffered) };
}
