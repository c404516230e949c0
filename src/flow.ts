/**
 * Flow control: how a slow consumer slows the source down.
 *
 * RxJS pushes; nothing in it slows a producer. rxdata adds *demand* beside the push:
 *
 *   source ──▶ map ──▶ parallelMap ──▶ batch ──▶ prefetch ──▶ consume
 *     ▲                    │ gate ▲                  │ gate ▲        │ gate
 *     └── pulls while ─────┘      └── emits while ───┘      └─ emits while
 *         parallelMap's gate          prefetch's gate          consume's gate
 *         is open                     is open                  is open
 *
 * Each gated operator of ours subscribes to its upstream inside a scope (Node's
 * `AsyncLocalStorage`) that holds its own {@link Gate}. Subscription runs synchronously up the
 * chain, so the next producer of ours above it (a source, or an operator that emits on its own
 * schedule) captures that scope when it is subscribed and emits only while every gate in it is
 * open. Ordinary RxJS operators in between (`map`, `filter`, `take`, `tap`, `bufferCount`,
 * `scan`) neither see nor break this: they subscribe inside the scope they were subscribed in.
 *
 * The full contract, with the in-flight bound, is in docs/ARCHITECTURE.md.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Observable, Subscriber, type Observer, type Subscription, type TeardownLogic } from 'rxjs';
import { LimitError } from './errors.js';
import { Ledger } from './guard.js';
import type { PipelineStats, StageStats } from './stats.js';
import { sliceSpent, yieldTurn } from './turn.js';

/** A condition a producer respects before each emission: open means "the stage below takes more". */
export interface Gate {
  readonly isOpen: boolean;
  /** Calls `listener` each time the gate goes from closed to open. Returns an unregister function. */
  onOpen(listener: () => void): () => void;
}

/** The gate an operator of ours owns and opens or closes as its buffer fills and drains. */
export class Valve implements Gate {
  /** @param name the owning stage's name, for the guard's messages. */
  constructor(readonly name = 'the next rxdata stage') {}

  /** Whether the stage behind this valve takes more right now. */
  private open = true;
  /** Who waits for the next opening (usually one producer). */
  private readonly listeners = new Set<() => void>();

  get isOpen(): boolean {
    return this.open;
  }

  /** Opens or closes the valve; opening wakes every waiting producer through the trampoline. */
  set(open: boolean): void {
    if (open === this.open) return;
    this.open = open;
    if (!open || this.listeners.size === 0) return;
    // One waiting producer is the common case (per element in parallelMap): no copy for it.
    if (this.listeners.size === 1) {
      for (const listener of this.listeners) listener();
      return;
    }
    // Listeners unregister themselves when called: iterate a snapshot. Several producers behind
    // one valve (a merge) take turns being first, since the first one offered usually fills it.
    const waiting = [...this.listeners];
    const first = this.turn++ % waiting.length;
    for (let i = 0; i < waiting.length; i++) waiting[(first + i) % waiting.length]();
  }

  /** Which waiting producer is offered the next opening first. */
  private turn = 0;

  onOpen(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** The set of gates a producer must respect: ready when every gate is open. */
export class Demand {
  /** No gate at all: a plain `subscribe` asks for everything (see the README on `consume`). */
  static readonly unbounded = new Demand([]);

  constructor(readonly gates: readonly Gate[]) {}

  get ready(): boolean {
    for (const gate of this.gates) if (!gate.isOpen) return false;
    return true;
  }

  /**
   * Runs `task` once, through the trampoline, as soon as every gate is open (at once if they
   * already are). Returns a function that cancels the wait.
   */
  whenReady(task: () => void): () => void {
    let cancelled = false;
    const unregister: (() => void)[] = [];
    const cancel = (): void => {
      cancelled = true;
      for (const off of unregister) off();
      unregister.length = 0;
    };
    const check = (): void => {
      if (cancelled || !this.ready) return;
      cancel();
      trampoline(task);
    };
    for (const gate of this.gates) unregister.push(gate.onOpen(check));
    check();
    return cancel;
  }
}

/** What a subscription inherits from the stage below it. */
export interface FlowScope {
  /** The gates the producer above must respect. */
  readonly demand: Demand;
  /** Where stages report their counters, when the demand end collects statistics. */
  readonly stats?: PipelineStats;
  /** The account the gate below keeps of what producers above emit toward it (see `guard.ts`). */
  readonly ledger?: Ledger;
}

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
 * decouples the two sides. `stats` carries through.
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
  return storage.run({ demand: new Demand([gate]), stats: scope.stats, ledger }, () =>
    downstream ? subscribeTied(downstream, source, counted) : source.subscribe(counted),
  );
}

/**
 * Completes `subscriber` as a producer of ours: what operators below flush on completion (a
 * partial batch, a shuffle window) arrives on the producer's stack, as far as the guard knows.
 */
export function produceComplete(scope: FlowScope, subscriber: Subscriber<unknown>): void {
  const ledger = scope.ledger;
  if (ledger) ledger.depth++;
  subscriber.complete();
  if (ledger) ledger.depth--;
}

/**
 * Emits `value` into `subscriber` as a producer of ours: counted in the ledger of the gate below
 * (see `guard.ts`), which may fail the pipeline instead in strict mode.
 */
export function produce<T>(scope: FlowScope, producer: string, subscriber: Subscriber<T>, value: T): void {
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
 * Runs tasks one after another instead of nested, so that a chain of synchronous hand-offs
 * (a gate opens, a producer emits, a consumer finishes at once, the gate opens again…) never
 * grows the stack. A task scheduled while another runs waits for it to return.
 */
let pending: (() => void)[] = [];
let draining = false;
export function trampoline(task: () => void): void {
  pending.push(task);
  if (draining) return;
  draining = true;
  let firstError: unknown;
  let failed = false;
  try {
    while (pending.length > 0) {
      const tasks = pending;
      pending = [];
      for (const run of tasks) {
        try {
          run();
        } catch (error) {
          // Keep draining: other pipelines' tasks must not be lost to one failure.
          if (!failed) {
            failed = true;
            firstError = error;
          }
        }
      }
    }
  } finally {
    draining = false;
  }
  if (failed) throw firstError;
}


/**
 * A FIFO that emits into `subscriber` only while the demand below is ready (and the event loop's
 * slice is not spent: see `turn.ts`), and completes it once drained. Gated operators put what they produce here; `onDrain` runs after every emission so the
 * owner can reopen its own gate.
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
    this.subscriber.error(error);
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

/**
 * A loop that runs `step` until it must wait, re-entrancy-proof: a callback that asks for another
 * run while the loop is running (an inner value arriving synchronously) only makes it go round
 * again, instead of nesting. Stops once `closed()` says so. Returns the function that asks.
 */
export function pumpLoop(step: () => void, closed: () => boolean): () => void {
  /** The loop is running. */
  let pumping = false;
  /** Someone asked while it ran: go round once more. */
  let again = false;
  return () => {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    try {
      do {
        again = false;
        step();
      } while (again && !closed());
    } finally {
      pumping = false;
    }
  };
}

/**
 * Elements a stage of ours keeps for a producer that ignores demand (a plain RxJS source, a hot
 * Subject) beyond its own bound, before it fails with a `LimitError`: sources of ours never come
 * near it; a foreign one that does would otherwise grow the buffer without end.
 */
export const MAX_OVERSHOOT = 10_000;

/** The error a stage fails with when a producer that ignores demand overran it by {@link MAX_OVERSHOOT}. */
export function overshootError(stage: string): LimitError {
  return new LimitError(`${stage}: a producer that ignores demand pushed more than ${MAX_OVERSHOOT} elements past this stage's bound (put prefetch, lossy(n), or a pushSource with an overflow policy in front of it)`);
}

/** A cold Observable whose subscribe function sees the scope it was subscribed in. */
export function scoped<T>(subscribe: (subscriber: Subscriber<T>, scope: FlowScope) => TeardownLogic): Observable<T> {
  return new Observable<T>((subscriber) => subscribe(subscriber, currentScope()));
}
