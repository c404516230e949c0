/**
 * One tuner per pipeline: it owns the knobs of the pipeline's `'auto'` stages, reads their
 * measurements every `periodMs`, decides (policy.ts), keeps the memory budget, and logs every
 * decision with the bottleneck it saw, for `stats.format()` and the training report.
 */
import { freemem } from 'node:os';
import type { FlowScope } from '../flow.js';
import { availableCores } from '../workers/cores.js';
import { PipelineStats, type StageStats } from '../stats.js';
import { Knob, type KnobSpec, type KnobTotals } from './knob.js';
import { DEFAULT_PERIOD_MS, DEFAULT_RAM_SHARE, type AutotuneOptions } from './options.js';
import { cancelProbe, decide, type Action, type Change, type Window } from './policy.js';
import { formatBytes as bytes, formatTuner } from './explain.js';

/** One line of the tuner's log. */
export interface Decision {
  /** Milliseconds since the tuner started. */
  readonly atMs: number;
  readonly stage: string;
  /** The option tuned (`concurrency`, `prefetch`, `cycleLength`…). */
  readonly knob: string;
  readonly from: number;
  readonly to: number;
  readonly action: Action;
  readonly reason: string;
  /** What the tuner saw as the bottleneck, when that drove the decision. */
  readonly bottleneck?: string;
}

/** A window needs this many elements done before the tuner judges it (or ten periods). */
const MIN_COMPLETED = 8;
/** A window longer than this many periods is judged whatever it counted. */
const MAX_WINDOW_PERIODS = 10;
/** Decisions kept (the oldest are dropped; the count of dropped ones is kept). */
const MAX_DECISIONS = 500;

export class Tuner {
  /** Bytes the tuned stages may hold together. */
  readonly ramBudget: number;
  readonly periodMs: number;
  /** Cores assumed: where `'auto'` parallelism starts. */
  readonly cores: number;
  readonly clock: () => number;
  readonly startedAt: number;
  readonly decisions: Decision[] = [];
  /** Decisions dropped from the front of `decisions`. */
  dropped = 0;
  private readonly knobs = new Map<object, Knob>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private active = 0;
  private readonly manual: boolean;

  constructor(
    readonly stats: PipelineStats,
    options: AutotuneOptions = {},
  ) {
    const { ramBudget = Math.floor(freemem() * DEFAULT_RAM_SHARE), periodMs = DEFAULT_PERIOD_MS, clock = () => performance.now(), manual = false, cores = availableCores() } = options;
    if (!(ramBudget > 0)) throw new RangeError(`autotune: ramBudget must be a positive number of bytes, got ${ramBudget}`);
    if (!(periodMs > 0)) throw new RangeError(`autotune: periodMs must be positive, got ${periodMs}`);
    this.ramBudget = ramBudget;
    this.periodMs = periodMs;
    if (!(Number.isInteger(cores) && cores >= 1)) throw new RangeError(`autotune: cores must be an integer >= 1, got ${cores}`);
    this.cores = cores;
    this.clock = clock;
    this.manual = manual;
    this.startedAt = clock();
    stats.sections.set('autotune', () => (this.knobs.size ? formatTuner(this) : ''));
  }

  /** Subscriptions of tuned stages running now (0: the tuner's timer is stopped). */
  get attached(): number {
    return this.active;
  }

  /** Every knob the tuner has seen, in the order stages attached (nearest the sink first). */
  get allKnobs(): readonly Knob[] {
    return [...this.knobs.values()];
  }

  /**
   * The knob of the operator instance `key` for one subscription: the same knob across
   * subscriptions (epochs start where the last one ended), a separate one while another
   * subscription of the same instance is running. Call {@link detach} on teardown.
   */
  attach(key: object, stage: StageStats, spec: KnobSpec): Knob {
    let knob = this.knobs.get(key);
    if (knob && knob.active > 0) {
      knob = undefined;
      key = {};
    }
    if (!knob) {
      knob = new Knob(stage, spec, this.clock);
      this.knobs.set(key, knob);
      this.log(knob, knob.value, { to: knob.value, action: 'start', reason: `'auto': starts at ${knob.value}, tuned within ${spec.min}–${spec.max}` });
    }
    knob.active++;
    knob.settling = knob.runs++ > 0;
    knob.base = knob.totals(this.clock(), this.sinkWaitMs());
    if (knob.runStart && knob.runEnd) knob.previousRun = { start: knob.runStart, end: knob.runEnd };
    knob.runStart = knob.base;
    knob.runEnd = undefined;
    if (this.active++ === 0 && !this.manual) {
      this.timer = setInterval(() => this.safeTick(), this.periodMs);
      this.timer.unref();
    }
    return knob;
  }

  /**
   * Starts the current subscription's measurement of `knob` now (a worker count is judged from
   * the first element on: starting threads is not the steady state).
   */
  restartRun(knob: Knob): void {
    knob.runStart = knob.totals(this.clock(), this.sinkWaitMs());
  }

  /** The subscription using `knob` ended. */
  detach(knob: Knob): void {
    knob.runEnd = knob.totals(this.clock(), this.sinkWaitMs());
    knob.release();
    if (--this.active === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Bytes the tuned stages may hold at their current values (elements × measured size). */
  heldBytes(): number {
    let n = 0;
    for (const knob of this.knobs.values()) if (knob.active > 0) n += knob.held() * knob.bytesPerElement;
    return n;
  }

  /** One look at the pipeline: publish the stages' times, keep the budget, decide. */
  tick(): void {
    const now = this.clock();
    const sinkWait = this.sinkWaitMs();
    const live = [...this.knobs.values()].filter((k) => k.active > 0);
    for (const knob of live) knob.publish(now);
    this.keepBudget(live);
    let best: { knob: Knob; change: Change; score: number } | undefined;
    for (const knob of live) {
      // Worker counts are chosen when a subscription starts (see `workers.ts`), not while it runs.
      if (knob.spec.kind === 'workers') continue;
      const w = this.window(knob, now, sinkWait);
      if (!w) continue;
      const { min, max } = knob.spec;
      const change = decide(knob.spec.kind === 'buffer' ? 'buffer' : 'parallelism', knob.state, knob.value, { min, max, cap: this.capFor(knob, live) }, w, knob.stage.name);
      if (!change) continue;
      if (change.action !== 'raise') {
        this.apply(knob, change);
        continue;
      }
      // One raise per look: the most saturated stage first, so the effect of each is seen alone.
      const score = w.saturated * (1 - w.blocked) + (knob.spec.kind === 'parallelism' ? 0.01 : 0);
      if (!best || score > best.score) {
        if (best) cancelProbe(best.knob.state);
        best = { knob, change, score };
      } else {
        cancelProbe(knob.state);
      }
    }
    if (best) this.apply(best.knob, best.change);
  }

  /** Milliseconds since the tuner started, by its clock. */
  get now(): number {
    return this.clock() - this.startedAt;
  }

  private safeTick(): void {
    try {
      this.tick();
    } catch (error) {
      // A tuner fault must not take the pipeline down: it stops tuning and says why.
      if (this.timer) clearInterval(this.timer);
      this.timer = undefined;
      this.decisions.push({ atMs: this.now, stage: '-', knob: '-', from: 0, to: 0, action: 'hold', reason: `tuner stopped: ${String(error)}` });
    }
  }

  /** Applies (and logs) a change decided outside the ticks (a worker count at a subscription's start). */
  apply(knob: Knob, change: Change): void {
    const from = knob.value;
    if (change.action !== 'hold') knob.set(change.to);
    this.log(knob, from, change);
  }

  private log(knob: Knob, from: number, change: Change): void {
    const entry: Decision = {
      atMs: this.now,
      stage: knob.stage.name,
      knob: knob.spec.label,
      from,
      to: change.to,
      action: change.action,
      reason: change.reason,
      ...(change.bottleneck ? { bottleneck: change.bottleneck } : {}),
    };
    this.decisions.push(entry);
    if (this.decisions.length > MAX_DECISIONS) {
      this.decisions.shift();
      this.dropped++;
    }
  }

  /** The highest value of `knob` at which every tuned stage together stays in the budget. */
  capFor(knob: Knob, live: readonly Knob[] = this.allKnobs.filter((k) => k.active > 0)): number {
    const { min, max } = knob.spec;
    if (!(knob.bytesPerElement > 0)) return max;
    let others = 0;
    for (const k of live) if (k !== knob) others += k.held() * k.bytesPerElement;
    return Math.min(max, Math.max(min, Math.floor((this.ramBudget - others) / (knob.held(1) * knob.bytesPerElement))));
  }

  /** Lowers the biggest holders while the tuned stages together exceed the budget. */
  private keepBudget(live: readonly Knob[]): void {
    for (let guard = 0; guard < live.length; guard++) {
      const held = live.reduce((n, k) => n + k.held() * k.bytesPerElement, 0);
      if (held <= this.ramBudget) return;
      // A worker count cannot change while its threads run: the others give way.
      const candidates = live.filter((k) => k.spec.kind !== 'workers' && k.value > k.spec.min && k.bytesPerElement > 0);
      if (candidates.length === 0) return;
      const biggest = candidates.reduce((a, b) => (a.held() * a.bytesPerElement >= b.held() * b.bytesPerElement ? a : b));
      const over = held - this.ramBudget;
      const to = Math.max(biggest.spec.min, biggest.value - Math.ceil(over / (biggest.held(1) * biggest.bytesPerElement)));
      cancelProbe(biggest.state);
      biggest.state.trimming = false;
      if (biggest.state.plateau) biggest.state.plateau.at = Math.min(biggest.state.plateau.at, to);
      this.apply(biggest, {
        to,
        action: 'lower',
        reason: `over the memory budget: ${bytes(held)} held at the current values > ${bytes(this.ramBudget)} (${bytes(biggest.bytesPerElement)} per element here)`,
      });
    }
  }

  /** The measurements of `knob` since its window started, or nothing while the window is too short. */
  private window(knob: Knob, now: number, sinkWait: number | undefined): Window | undefined {
    const base = knob.base;
    const ms = now - base.at;
    const completed = knob.completed - base.completed;
    // A window spans several calls' latency, so that calls straddling its ends weigh little.
    const latency = knob.state.latencyMs;
    // The first look comes sooner (half a period, half the elements): a pipeline that starts at
    // the bottom of every range loses the most there, and the change is judged all the same.
    const first = knob.state.recent.length === 0 && !knob.state.probe;
    if (ms < Math.max(first ? this.periodMs / 2 : this.periodMs, 3 * latency)) return undefined;
    if (completed < (first ? MIN_COMPLETED / 2 : MIN_COMPLETED) && ms < MAX_WINDOW_PERIODS * this.periodMs) return undefined;
    const totals = knob.totals(now, sinkWait);
    knob.base = totals;
    // Nothing moved: no evidence either way (a stalled source, or a sink that stopped asking).
    if (completed === 0) return undefined;
    if (knob.settling) {
      // An epoch's first window: start-up, not comparable with the windows of a running one.
      knob.settling = false;
      return undefined;
    }
    const w = between(base, totals);
    return knob.poolThreads === undefined ? w : { ...w, poolThreads: knob.poolThreads };
  }

  /** The input wait (ms) of the pipeline's sink: the first sink registered (subscription starts there). */
  private sinkWaitMs(): number | undefined {
    const stages = this.stats.snapshot();
    for (let i = stages.length - 1; i >= 0; i--) if (stages[i].kind === 'sink') return stages[i].waitMs;
    return undefined;
  }
}


/** The window from totals `a` to totals `b` (b later). */
export function between(a: KnobTotals, b: KnobTotals): Window {
  const ms = Math.max(1e-9, b.at - a.at);
  const completed = b.completed - a.completed;
  const frac = (x: number, y: number): number => Math.min(1, Math.max(0, (x - y) / ms));
  return {
    ms,
    completed,
    rate: (completed * 1000) / ms,
    latencyMs: completed > 0 ? (b.running - a.running) / completed : 0,
    meanInUse: (b.inUse - a.inUse) / ms,
    saturated: frac(b.saturated, a.saturated),
    blocked: frac(b.blocked, a.blocked),
    idle: frac(b.idle, a.idle),
    sinkWait: b.sinkWait !== undefined && a.sinkWait !== undefined ? frac(b.sinkWait, a.sinkWait) : undefined,
    mainMs: completed > 0 ? (b.main - a.main) / completed : 0,
  };
}

const tuners = new WeakMap<PipelineStats, Tuner>();
/** Pipelines without statistics: one private statistics object per lowest `'auto'` stage instance. */
const privateStats = new WeakMap<object, PipelineStats>();

/** The tuner of the pipeline collecting into `stats` (made on first use, from `stats.options.autotune`). */
export function tunerFor(stats: PipelineStats): Tuner {
  let tuner = tuners.get(stats);
  if (!tuner) {
    tuner = new Tuner(stats, stats.options.autotune);
    tuners.set(stats, tuner);
  }
  return tuner;
}

/**
 * The tuner for a stage subscribed in `scope`, and the scope to subscribe its upstream in. A
 * pipeline whose demand end collects no statistics gets private ones, made by its lowest
 * `'auto'` stage (`key`: that operator instance, so epochs reuse them) and handed upstream, so
 * that the pipeline still has one tuner.
 */
export function tunedScope(scope: FlowScope, key: object): { scope: FlowScope; tuner: Tuner } {
  if (scope.stats) return { scope, tuner: tunerFor(scope.stats) };
  let stats = privateStats.get(key);
  if (!stats) {
    stats = new PipelineStats();
    privateStats.set(key, stats);
  }
  return { scope: { ...scope, stats }, tuner: tunerFor(stats) };
}

/** The tuner of `stats`, if one was made (a stage set to `'auto'` ran in that pipeline). */
export function existingTuner(stats: PipelineStats): Tuner | undefined {
  return tuners.get(stats);
}
