/**
 * A knob: one number a stage lets the tuner set (`parallelMap`'s concurrency, `prefetch`'s depth,
 * `interleave`'s cycle length), with the measurements the tuner needs, kept by the stage itself.
 *
 * The stage calls {@link Knob.observe} after each change of its state (a call started or ended,
 * a value delivered or taken), {@link Knob.complete} per element done and {@link Knob.sample} per
 * element held; the tuner reads the integrals at its ticks and sets {@link Knob.value}, which the
 * stage applies through the listener it registered (its gate re-checks its room at once).
 */
import { estimateBytes } from '../../operators/cache.js';
import type { StageStats } from '../stats.js';
import { Level } from './level.js';
import { initialState, type PolicyState } from './policy.js';

/**
 * `parallelism`: calls or reads in flight at once. `buffer`: elements kept ready ahead.
 * `workers`: threads, fixed for a subscription and chosen when the next one starts (an epoch).
 */
export type KnobKind = 'parallelism' | 'buffer' | 'workers';

export interface KnobSpec {
  readonly kind: KnobKind;
  /** What the number is called in the stage's options (`concurrency`, `prefetch`, `cycleLength`). */
  readonly label: string;
  readonly min: number;
  /** The ceiling: the documented in-flight bound uses it. */
  readonly max: number;
  readonly initial: number;
  /** Elements held per unit of the value (a worker holds up to `credit`). Default 1. */
  readonly perUnit?: number;
}

/** Cumulative measurements at one instant; a window is the difference of two. */
export interface KnobTotals {
  readonly at: number;
  readonly completed: number;
  /** ∫ calls running dt (ms): ÷ completions is the mean latency (Little's law). */
  readonly running: number;
  /** ∫ slots taken (running, or done and waiting for order) dt; for a buffer, elements held. */
  readonly inUse: number;
  /** Time every slot was taken (a buffer: full). */
  readonly saturated: number;
  /** Time values waited for the stage below (backpressure). */
  readonly blocked: number;
  /** Time the stage held nothing at all (waiting for input). */
  readonly idle: number;
  /** The pipeline sink's input wait (ms) at that instant, when there is a sink. */
  readonly sinkWait: number | undefined;
  /** Σ ms spent inside the stage's calls on the main thread (their synchronous part). */
  readonly main: number;
}

/** How often an element's size is measured: every `SAMPLE_EVERY`-th (and the first few). */
const SAMPLE_EVERY = 16;

export class Knob {
  /** The number the stage applies now. */
  value: number;
  /** Subscriptions using this knob right now (a knob outlives them: epochs reuse its value). */
  active = 0;
  completed = 0;
  /** The threads of the worker pool the stage's calls use, once one said so (autotune/calls.ts). */
  poolThreads: number | undefined;
  /** Σ ms the stage's calls ran synchronously on the main thread (see {@link Knob.onMain}). */
  mainMs = 0;
  /** Mean estimated bytes of one element held (moving average over samples), 0 before any. */
  bytesPerElement = 0;
  /**
   * Set when a later subscription (an epoch) starts: its first window holds the start-up (buffers
   * filling, the sink waiting for its first element), not the steady state, and is not judged.
   */
  settling = false;
  /** Subscriptions started so far. */
  runs = 0;
  /** The tuner's working state for this knob (policy.ts). */
  state: PolicyState = initialState();
  /** Where the current window started (set by the tuner). */
  base: KnobTotals;
  /** When the current subscription started, and the previous one's start and end (for `workers`). */
  runStart: KnobTotals | undefined;
  previousRun: { start: KnobTotals; end: KnobTotals } | undefined;
  runEnd: KnobTotals | undefined;

  private readonly running: Level;
  private readonly inUse: Level;
  private readonly saturated: Level;
  private readonly blocked: Level;
  private readonly idle: Level;
  private readonly listeners = new Set<(value: number) => void>();
  private samples = 0;
  private countdown = 0;

  constructor(
    readonly stage: StageStats,
    readonly spec: KnobSpec,
    readonly clock: () => number,
  ) {
    this.value = Math.min(spec.max, Math.max(spec.min, spec.initial));
    const now = clock();
    this.running = new Level(now);
    this.inUse = new Level(now);
    this.saturated = new Level(now);
    this.blocked = new Level(now);
    this.idle = new Level(now);
    this.base = this.totals(now, undefined);
    this.runStart = undefined;
    this.runEnd = undefined;
    this.previousRun = undefined;
    this.poolThreads = undefined;
    stage.extra[spec.label] = this.value;
  }

  /**
   * The stage's state now: `running` calls in service, `taken` slots in use (running, or done
   * and parked for order; for a buffer, 0), `queued` values waiting for the stage below.
   */
  observe(running: number, taken: number, queued: number): void {
    const now = this.clock();
    this.running.set(running, now);
    if (this.spec.kind === 'buffer') {
      this.inUse.set(queued, now);
      this.saturated.set(queued >= this.value ? 1 : 0, now);
    } else {
      this.inUse.set(taken, now);
      this.saturated.set(taken >= this.value ? 1 : 0, now);
    }
    this.blocked.set(queued > 0 ? 1 : 0, now);
    this.idle.set(taken + queued === 0 ? 1 : 0, now);
  }

  /** Counts elements done (a call finished, a value handed on). */
  complete(n = 1): void {
    this.completed += n;
  }

  /**
   * Counts `ms` spent inside one call before it returned (its synchronous part): what no other
   * call can overlap, since the main thread runs one thing at a time (the CPU model).
   */
  onMain(ms: number): void {
    if (ms > 0) this.mainMs += ms;
  }

  /** A call was served by a worker pool of `threads` threads. */
  onPool(threads: number): void {
    if (this.poolThreads === undefined || threads > this.poolThreads) this.poolThreads = threads;
  }

  /** Measures an element's size now and then, for the memory budget. */
  sample(value: unknown): void {
    if (this.samples >= 4 && --this.countdown > 0) return;
    this.countdown = SAMPLE_EVERY;
    const bytes = estimateBytes(value);
    this.samples++;
    // A short average: sizes that change (a new epoch, bigger images) show within a few samples.
    this.bytesPerElement = this.samples === 1 ? bytes : this.bytesPerElement + (bytes - this.bytesPerElement) / Math.min(this.samples, 8);
  }

  /** Elements this knob lets its stage hold at `value`. */
  held(value = this.value): number {
    return value * (this.spec.perUnit ?? 1);
  }

  /** Registers the stage's way of applying a new value; returns the unregister function. */
  onChange(listener: (value: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Sets the value (the tuner's call) and tells the stage. */
  set(value: number): void {
    if (value === this.value) return;
    this.value = value;
    this.stage.extra[this.spec.label] = value;
    for (const listener of [...this.listeners]) listener(value);
  }

  totals(now: number, sinkWait: number | undefined): KnobTotals {
    return {
      at: now,
      completed: this.completed,
      running: this.running.total(now),
      inUse: this.inUse.total(now),
      saturated: this.saturated.total(now),
      blocked: this.blocked.total(now),
      idle: this.idle.total(now),
      sinkWait,
      main: this.mainMs,
    };
  }

  /** Writes the stage's time statistics (ms waiting for input, blocked by the stage below). */
  publish(now: number): void {
    this.stage.waitMs = this.idle.total(now);
    this.stage.blockedMs = this.blocked.total(now);
    this.stage.extra[this.spec.label] = this.value;
  }

  /** A subscription ended: nothing is held or running for it any more. */
  release(): void {
    const now = this.clock();
    this.publish(now);
    if (--this.active > 0) return;
    this.running.set(0, now);
    this.inUse.set(0, now);
    this.saturated.set(0, now);
    this.blocked.set(0, now);
    // Between subscriptions the stage is not waiting for input: it does not exist.
    this.idle.set(0, now);
  }
}
