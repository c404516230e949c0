/**
 * The tuner's decisions for one knob, from one window of measurements: a pure function of what
 * the stage measured, so tests drive it with made-up windows.
 *
 * The model (after tf.data's autotune, which hill-climbs a queueing model of the pipeline): a
 * stage is **the bottleneck** when the sink waits for input (≥ 5 % of its time, tf.data's
 * input-bound threshold), the stage's slots are all taken a good part of the time (its gate closed) and
 * what it produces is taken at once (not blocked by a slower stage below). Then the tuner raises
 * its parallelism to what Little's law says the sink could take (rate the sink would consume if
 * it never waited × the latency of one call, plus 20 %), at most ×2 per step and never past what
 * the calls can use (the CPU model: calls that run on the main thread overlap at most latency ÷
 * main-thread time; the pool model: two calls per thread of the worker pool they use), and checks the next
 * window: a raise that brought no more throughput is taken back and remembered as a plateau
 * (the limit is elsewhere: cores, a worker pool, a remote service), and the tuner then lowers
 * step by step to the smallest value that keeps that throughput (on a worker pool, while the
 * stage is the bottleneck, never below the pool's threads). A stage with slack (rarely
 * saturated, or the sink is the bottleneck) is lowered towards what it uses, and a lowering that
 * cost throughput is taken back too. A change of the work (the latency per element moves by
 * more than ×1.5) forgets plateaus and floors, so the tuner adapts. A buffer (prefetch) grows
 * when the consumer waits on it while it also runs full at times: its producer is bursty, not
 * slow, and a deeper buffer absorbs the bursts; a buffer that runs full while the sink is fed
 * is halved, judged like any lowering.
 */

/** One knob's measurements over one window. */
export interface Window {
  readonly ms: number;
  readonly completed: number;
  /** Elements done per second. */
  readonly rate: number;
  /** Mean time one element spent in service, ms (0 for a buffer). */
  readonly latencyMs: number;
  /** Mean slots taken (a buffer: elements held). */
  readonly meanInUse: number;
  /** Fractions of the window: every slot taken (a buffer: full); values waiting for the stage below; nothing held at all. */
  readonly saturated: number;
  readonly blocked: number;
  readonly idle: number;
  /** Fraction of the window the pipeline's sink waited for input; undefined without a sink in the statistics. */
  readonly sinkWait: number | undefined;
  /**
   * Mean ms of one element's call spent on the main thread (the call's synchronous part), for
   * the CPU model; absent or 0 where the stage does not measure it.
   */
  readonly mainMs?: number;
  /** The threads of the worker pool the calls use, when one said so (autotune/calls.ts). */
  readonly poolThreads?: number;
}

/** Where the value may go now: `cap` is the most the memory budget allows (≤ max). */
export interface Bounds {
  readonly min: number;
  readonly max: number;
  readonly cap: number;
}

export type Action = 'start' | 'raise' | 'lower' | 'revert' | 'hold';

/** A change (or, with `hold`, a reason not to change) and why. */
export interface Change {
  readonly to: number;
  readonly action: Action;
  readonly reason: string;
  /** The bottleneck the tuner saw, in words. */
  readonly bottleneck?: string;
}

interface Probe {
  readonly kind: 'raise' | 'trim';
  readonly from: number;
  readonly to: number;
  readonly baseRate: number;
  readonly baseSinkWait: number | undefined;
  readonly baseIdle: number;
  /** Slots in use on average before the change. */
  readonly baseInUse: number;
  /** A trim looking for the smallest value as good as a plateau. */
  readonly afterPlateau: boolean;
}

/** A value the tuner learnt not to cross while the work stays the same. */
interface Mark {
  at: number;
  readonly latencyMs: number;
  ageMs: number;
}

export interface PolicyState {
  /** A change under test: judged on the next window. */
  probe: Probe | undefined;
  /** Raising past `at` gave nothing. */
  plateau: Mark | undefined;
  /** Lowering below `at` cost throughput. */
  floor: Mark | undefined;
  /**
   * Latency per element measured at `value` (the same value: at another one, queueing in a pool
   * changes the latency without any change of the work); its move means the work changed.
   */
  ref: { latencyMs: number; value: number } | undefined;
  /** Consecutive windows with slack. */
  quiet: number;
  /** After a plateau: lowering step by step while throughput holds. */
  trimming: boolean;
  bestRate: number;
  /** The last `hold` reason given, so that it is logged once. */
  held: string | undefined;
  /** Said with the next change (a change of work seen). */
  note: string | undefined;
  /** The last few windows at the current value (`recentValue`): the baseline a change is judged against. */
  recent: Window[];
  recentValue: number;
  /** Windows seen since the change under test. */
  probeWindows: Window[];
  /** Consecutive windows whose latency moved past {@link WORK_CHANGE}: two in a row mean the work changed. */
  changeVotes: number;
  /** The last window's latency per element (ms), which sets how long the next window must be. */
  latencyMs: number;
}

export const initialState = (): PolicyState => ({
  probe: undefined,
  plateau: undefined,
  floor: undefined,
  ref: undefined,
  quiet: 0,
  trimming: false,
  bestRate: 0,
  held: undefined,
  note: undefined,
  recent: [],
  recentValue: NaN,
  probeWindows: [],
  changeVotes: 0,
  latencyMs: 0,
});

/** The sink waits at least this share of its time: input-bound (tf.data's profiler uses 5 %). */
export const INPUT_BOUND = 0.05;
/** Every slot taken at least this share of the window: saturated. */
export const SATURATED = 0.5;
/**
 * A stage with parallelism counts as busy when every slot was taken this share of the window:
 * its gate was then closed, and a source that reads only under demand (most do) stood still.
 */
export const HELD_BACK = 0.25;
/** Or the slots used this much on average (a source that refills slots one at a time rarely fills all at once). */
export const UTILIZED = 0.8;
/** Values waited for the stage below at least this share: the stage below is slower. */
export const BLOCKED = 0.05;
/** A raise must bring this much more throughput to stay (unless the bottleneck moved). */
export const GAIN = 1.05;
/** A lowering must keep this much of the throughput to stay. */
export const KEEP = 0.95;
/** The latency per element moving by this factor means the work changed. */
export const WORK_CHANGE = 1.5;
/** Headroom over Little's law when raising. */
export const HEADROOM = 1.2;
/** Plateaus and floors are forgotten after this long, so the tuner looks again. */
export const MARK_TTL_MS = 10_000;
/** A raise that leaves the stage the bottleneck must bring this share of the gain its new slots promise. */
export const PART = 0.25;
/** Windows a change is measured over before it is judged (one window on a busy machine is noisy). */
export const PROBE_WINDOWS = 2;
/** A raise at most doubles the value: a multiplicative ramp, judged at each step, then refined. */
export const MAX_STEP = 2;
/** Windows in a row a full buffer must leave the sink fed before it is trimmed. */
export const BUFFER_QUIET = 3;
/** Windows at one value the baseline averages. */
const RECENT = 3;

/** Drops the change under test (the tuner chose another, or the budget moved the value). */
export function cancelProbe(state: PolicyState): void {
  state.probe = undefined;
  state.probeWindows = [];
}

/** Two windows as one: counts add up, fractions and means are weighted by duration (latency by completions). */
export function merge(a: Window, b: Window): Window {
  const ms = a.ms + b.ms;
  const completed = a.completed + b.completed;
  const by = (x: number, y: number): number => (x * a.ms + y * b.ms) / ms;
  return {
    ms,
    completed,
    rate: (completed * 1000) / ms,
    latencyMs: completed > 0 ? (a.latencyMs * a.completed + b.latencyMs * b.completed) / completed : 0,
    meanInUse: by(a.meanInUse, b.meanInUse),
    saturated: by(a.saturated, b.saturated),
    blocked: by(a.blocked, b.blocked),
    idle: by(a.idle, b.idle),
    sinkWait: a.sinkWait === undefined || b.sinkWait === undefined ? b.sinkWait : by(a.sinkWait, b.sinkWait),
    mainMs: completed > 0 ? ((a.mainMs ?? 0) * a.completed + (b.mainMs ?? 0) * b.completed) / completed : 0,
    ...(b.poolThreads !== undefined || a.poolThreads !== undefined ? { poolThreads: Math.max(a.poolThreads ?? 0, b.poolThreads ?? 0) } : {}),
  };
}

const pct = (x: number): string => `${Math.round(x * 100)} %`;
const ms = (x: number): string => (x >= 10 ? x.toFixed(0) : x.toFixed(1));
const rate = (x: number): string => (x >= 10 ? x.toFixed(0) : x.toFixed(1));
const sinkPart = (w: Window): string => (w.sinkWait === undefined ? '' : `, the sink waiting ${pct(w.sinkWait)}`);

/**
 * Decides what to do with a knob of `kind` at `value` after window `w`, updating `state`.
 * Returns nothing when the value stays.
 */
export function decide(kind: 'parallelism' | 'buffer', state: PolicyState, value: number, bounds: Bounds, w: Window, name: string): Change | undefined {
  if (kind === 'parallelism') noticeWorkChange(state, value, w);
  for (const mark of [state.plateau, state.floor]) if (mark) mark.ageMs += w.ms;
  if (state.plateau && state.plateau.ageMs > MARK_TTL_MS) state.plateau = undefined;
  if (state.floor && state.floor.ageMs > MARK_TTL_MS) state.floor = undefined;
  if (state.recentValue !== value) {
    state.recent = [];
    state.recentValue = value;
    state.held = undefined;
  }
  state.recent.push(w);
  if (state.recent.length > RECENT) state.recent.shift();
  let change: Change | undefined;
  if (state.probe) {
    state.probeWindows.push(w);
    if (state.probeWindows.length < PROBE_WINDOWS) return undefined;
    change = judge(kind, state, bounds, state.probeWindows.reduce(merge));
    state.probeWindows = [];
  } else {
    // The baseline: the recent windows at this value with the same work as this one (a window
    // before a change of the work would make any change after it look like a loss).
    const base = state.recent.filter((r) => sameWork(r.latencyMs, w.latencyMs)).reduce(merge);
    change = kind === 'parallelism' ? steadyParallel(state, value, bounds, w, base, name) : steadyBuffer(state, value, bounds, w, base, name);
  }
  if (change && change.action !== 'hold' && state.note) {
    const note = state.note;
    state.note = undefined;
    return { ...change, reason: `${note}; ${change.reason}` };
  }
  return change;
}

/** Latencies within {@link WORK_CHANGE} of each other (or both unmeasured): the same work. */
const sameWork = (a: number, b: number): boolean => (a > 0 && b > 0 ? a / b < WORK_CHANGE && b / a < WORK_CHANGE : !(a > 0) && !(b > 0));

function noticeWorkChange(state: PolicyState, value: number, w: Window): void {
  if (!(w.latencyMs > 0)) return;
  state.latencyMs = w.latencyMs;
  // Only windows with every slot in use compare: with fewer calls in flight, a worker pool's
  // queue is shorter and the latency lower, with no change of the work.
  if (!busy(w, value)) return;
  const ref = state.ref;
  if (!ref || ref.value !== value) {
    state.ref = { latencyMs: w.latencyMs, value };
    return;
  }
  const ratio = w.latencyMs / ref.latencyMs;
  if (ratio < WORK_CHANGE && ratio > 1 / WORK_CHANGE) {
    state.changeVotes = 0;
    return;
  }
  // One window off is noise (a busy machine); two in a row are a change.
  if (++state.changeVotes < 2) return;
  state.changeVotes = 0;
  state.note = `the work changed: ${ms(ref.latencyMs)} → ${ms(w.latencyMs)} ms per element`;
  state.ref = { latencyMs: w.latencyMs, value };
  state.plateau = undefined;
  state.floor = undefined;
  state.trimming = false;
  state.held = undefined;
}

/**
 * The CPU model: calls that spend `mainMs` of their `latencyMs` on the main thread can overlap at
 * most `latency ÷ main` at a time (the thread runs one at a time), so more slots buy nothing.
 * Undefined when the calls barely touch the main thread (no limit worth stating below the ceiling).
 */
export function cpuLimit(w: Window): number | undefined {
  const main = w.mainMs ?? 0;
  if (!(main > 0) || !(w.latencyMs > 0)) return undefined;
  return Math.max(1, Math.round(w.latencyMs / main));
}

/** Calls in flight worth having per thread of a worker pool: one running, the next queued. */
export const PER_POOL_THREAD = 2;

/** The most calls worth having in flight, and why: the CPU model's and the pool model's limits, the lower. */
export function callLimit(w: Window): { at: number; why: string } | undefined {
  const cpu = cpuLimit(w);
  const pool = w.poolThreads !== undefined ? PER_POOL_THREAD * w.poolThreads : undefined;
  if (cpu !== undefined && (pool === undefined || cpu <= pool)) {
    return { at: cpu, why: `CPU: the calls run ${ms(w.mainMs ?? 0)} of their ${ms(w.latencyMs)} ms per element on the main thread, which runs one at a time: at most ${cpu} overlap` };
  }
  if (pool !== undefined) {
    return { at: pool, why: `pool: the calls run on a worker pool of ${w.poolThreads} thread${w.poolThreads === 1 ? '' : 's'}; ${pool} in flight keep each busy with the next queued, more only wait in its queue` };
  }
  return undefined;
}

/**
 * The pool model's floor: while the stage is the bottleneck, fewer calls in flight than the pool
 * has threads leave threads idle and the sink waiting, whatever a noisy window said (a pool's
 * first calls run cold, so a trim compared with them looks free).
 */
function poolFloor(w: Window, value: number, bounds: Bounds): number {
  if (w.poolThreads === undefined || !isBottleneck(w, value)) return bounds.min;
  return Math.min(w.poolThreads, bounds.cap);
}

const inputBound = (w: Window): boolean => w.sinkWait === undefined || w.sinkWait >= INPUT_BOUND;
const busy = (w: Window, value: number): boolean => w.saturated >= HELD_BACK || w.meanInUse >= UTILIZED * value;
const isBottleneck = (w: Window, value: number): boolean => inputBound(w) && busy(w, value) && w.blocked < BLOCKED;

function hold(state: PolicyState, value: number, reason: string, bottleneck?: string): Change | undefined {
  if (state.held === reason) return undefined;
  state.held = reason;
  return { to: value, action: 'hold', reason, bottleneck };
}

function steadyParallel(state: PolicyState, value: number, bounds: Bounds, w: Window, base: Window, name: string): Change | undefined {
  if (state.trimming) {
    state.trimming = false;
    const lowest = Math.max(bounds.min, state.floor?.at ?? bounds.min, poolFloor(w, value, bounds));
    if (value > lowest) {
      const to = Math.max(lowest, value - Math.max(1, Math.floor(value / 4)));
      state.probe = { kind: 'trim', from: value, to, baseRate: state.bestRate, baseSinkWait: w.sinkWait, baseIdle: w.idle, baseInUse: w.meanInUse, afterPlateau: true };
      return { to, action: 'lower', reason: `looking for the smallest value with the same throughput (${rate(state.bestRate)}/s)` };
    }
  }
  const model = callLimit(w);
  const limit = model?.at;
  if (model && value > model.at && model.at >= bounds.min && !(state.floor && state.floor.at > model.at)) {
    // More slots than the main thread or the pool can serve only hold elements: lower at once
    // (judged all the same, like any lowering), and do not raise past the limit while the work stays.
    state.quiet = 0;
    state.plateau = { at: model.at, latencyMs: w.latencyMs, ageMs: 0 };
    state.probe = { kind: 'trim', from: value, to: model.at, baseRate: base.rate, baseSinkWait: base.sinkWait, baseIdle: base.idle, baseInUse: base.meanInUse, afterPlateau: false };
    return { to: model.at, action: 'lower', reason: model.why, bottleneck: w.poolThreads !== undefined && model.why.startsWith('pool') ? `${name}: the worker pool` : `${name}: the main thread` };
  }
  if (isBottleneck(w, value)) {
    state.quiet = 0;
    const seen = `${name}: all ${value} slots busy ${pct(w.saturated)} of the time (${pct(w.meanInUse / value)} used on average), its output taken at once (blocked ${pct(w.blocked)})${sinkPart(w)}`;
    if (model && value >= model.at) return hold(state, value, model.why, seen);
    if (state.plateau && value >= state.plateau.at) return hold(state, value, `raising past ${state.plateau.at} did not raise throughput`, seen);
    if (value >= bounds.cap) return hold(state, value, bounds.cap < bounds.max ? `stopped at the memory budget (${bounds.cap} elements fit)` : `at the ceiling (${bounds.max})`, seen);
    // Little's law: slots needed = the rate the sink would take if it never waited × the latency.
    const need = w.sinkWait !== undefined && w.sinkWait < 0.95 ? w.rate / (1 - w.sinkWait) : w.rate * 4;
    const little = Math.ceil(((need * w.latencyMs) / 1000) * HEADROOM);
    let to = Math.min(Math.max(little, value + 1), value * MAX_STEP, bounds.cap);
    if (state.plateau) to = Math.min(to, state.plateau.at);
    if (limit !== undefined) to = Math.min(to, limit);
    state.held = undefined;
    state.probe = { kind: 'raise', from: value, to, baseRate: base.rate, baseSinkWait: base.sinkWait, baseIdle: base.idle, baseInUse: base.meanInUse, afterPlateau: false };
    return {
      to,
      action: 'raise',
      reason: `bottleneck: ${rate(w.rate)}/s at ${ms(w.latencyMs)} ms per element; Little's law for ${rate(need)}/s wants ${little}${to < little ? ` (at most ×${MAX_STEP} per step${to === bounds.cap ? ', capped' : ''}${model && to === model.at ? `, the ${model.why.startsWith('pool') ? "pool's" : "main thread's"} limit ${model.at}` : ''})` : ''}`,
      bottleneck: seen,
    };
  }
  if (!inputBound(w) || (w.saturated < 0.1 && w.meanInUse < 0.5 * value)) state.quiet++;
  else state.quiet = 0;
  if (state.quiet < 2 || value <= bounds.min) return undefined;
  let to = Math.max(bounds.min, Math.ceil(w.meanInUse * 1.5) + 1, Math.ceil(value / 2));
  if (state.floor) to = Math.max(to, state.floor.at);
  if (to > Math.floor(value * 0.75)) return undefined;
  state.quiet = 0;
  state.probe = { kind: 'trim', from: value, to, baseRate: base.rate, baseSinkWait: base.sinkWait, baseIdle: base.idle, baseInUse: base.meanInUse, afterPlateau: false };
  const why = inputBound(w) ? `slots all busy only ${pct(w.saturated)} of the time` : `the sink is the bottleneck (waits ${pct(w.sinkWait ?? 0)})`;
  return { to, action: 'lower', reason: `slack: ${why}; ${w.meanInUse.toFixed(1)} in use on average (${rate(w.rate)}/s × ${ms(w.latencyMs)} ms)` };
}

function steadyBuffer(state: PolicyState, value: number, bounds: Bounds, w: Window, base: Window, name: string): Change | undefined {
  const starving = w.idle >= INPUT_BOUND && inputBound(w);
  if (!starving && w.sinkWait !== undefined && w.sinkWait < INPUT_BOUND && w.saturated >= SATURATED) {
    // Full and the sink fed: the producer keeps ahead, and a shallower buffer may do as well
    // (elements held for nothing are memory spent). Tried after a few such windows, judged like
    // any lowering, and never below a floor a failed trim left.
    if (++state.quiet < BUFFER_QUIET || value <= bounds.min) return undefined;
    const to = Math.max(bounds.min, state.floor?.at ?? bounds.min, Math.floor(value / 2));
    if (to >= value) return undefined;
    state.quiet = 0;
    state.probe = { kind: 'trim', from: value, to, baseRate: base.rate, baseSinkWait: base.sinkWait, baseIdle: base.idle, baseInUse: base.meanInUse, afterPlateau: false };
    return { to, action: 'lower', reason: `full ${pct(w.saturated)} of the time while the sink waited ${pct(w.sinkWait)}: the producer keeps ahead; a shallower buffer may do as well` };
  }
  state.quiet = 0;
  if (!(starving && w.saturated >= 0.05)) return undefined;
  const seen = `${name}: empty ${pct(w.idle)} of the time${sinkPart(w)}, yet full ${pct(w.saturated)}: a bursty producer`;
  if (state.plateau && value >= state.plateau.at) return hold(state, value, `deepening past ${state.plateau.at} did not help`, seen);
  if (value >= bounds.cap) return hold(state, value, bounds.cap < bounds.max ? `stopped at the memory budget (${bounds.cap} elements fit)` : `at the ceiling (${bounds.max})`, seen);
  const to = Math.min(bounds.cap, value + Math.max(1, Math.ceil(value / 2)));
  state.held = undefined;
  state.probe = { kind: 'raise', from: value, to, baseRate: base.rate, baseSinkWait: base.sinkWait, baseIdle: base.idle, baseInUse: base.meanInUse, afterPlateau: false };
  return { to, action: 'raise', reason: 'a deeper buffer absorbs the bursts', bottleneck: seen };
}

/** Judges the change made after the previous window. */
function judge(kind: 'parallelism' | 'buffer', state: PolicyState, bounds: Bounds, w: Window): Change | undefined {
  const probe = state.probe!;
  state.probe = undefined;
  const gained = w.rate >= probe.baseRate * GAIN;
  if (probe.kind === 'raise') {
    let kept: boolean;
    if (kind === 'buffer') {
      // Only more throughput pays for the elements a deeper buffer holds (a sink that waits
      // less but takes no more is noise, or a slower producer that no buffer fixes).
      kept = gained;
    } else {
      // The bottleneck moved: the stage below now holds things up, or the sink stopped waiting,
      // or more slots are used than before without all being busy (the source, no longer held
      // back by a closed gate, now sets the pace).
      const moved = w.blocked >= BLOCKED || (w.sinkWait !== undefined && w.sinkWait < INPUT_BOUND) || (!busy(w, probe.to) && w.meanInUse > probe.baseInUse + 0.25);
      // Still the bottleneck: the gain must be a fair share (a quarter) of what the new slots
      // promised, or only part of them work (a pool with fewer threads than slots).
      const gain = w.rate / probe.baseRate;
      const promised = probe.to / probe.from;
      // On a worker pool whose threads were all busy before, the new slots only keep the next
      // call queued for each thread: any gain is what they promised.
      const queueing = w.poolThreads !== undefined && probe.from >= w.poolThreads;
      // Those queued calls cost one element per thread and close each thread's gap between
      // calls; they cannot slow the threads (a queued call does not run), so they stay whatever a
      // window measured (a pool's first calls run cold: scenario 19 once saw 2 → 4 "lose" 14 %).
      const queuedForFree = queueing && probe.to <= PER_POOL_THREAD * w.poolThreads!;
      kept = moved || queuedForFree || (gained && (queueing || gain - 1 >= PART * (promised - 1)));
      if (!kept && gained) {
        // Part of the new slots work: about `from × gain` slots' worth. Keep those (and the
        // headroom), and look for the smallest value with this throughput from there.
        const to = Math.min(probe.to - 1, Math.max(probe.from + 1, Math.ceil(probe.from * gain * HEADROOM)));
        state.plateau = { at: to, latencyMs: w.latencyMs, ageMs: 0 };
        // Fewer than the slots' worth that worked would cost throughput: trims stop there.
        state.floor = { at: Math.max(bounds.min, Math.ceil(probe.from * gain)), latencyMs: w.latencyMs, ageMs: 0 };
        state.bestRate = w.rate;
        state.trimming = true;
        return { to, action: 'lower', reason: `${probe.from} → ${probe.to} gave ×${gain.toFixed(2)} (${rate(probe.baseRate)} → ${rate(w.rate)}/s), not the ×${promised.toFixed(1)} the slots promised: about ${(probe.from * gain).toFixed(1)} slots' worth work at once (cores, a worker pool)` };
      }
    }
    if (kept) {
      state.bestRate = Math.max(w.rate, probe.baseRate);
      return undefined;
    }
    state.plateau = { at: probe.from, latencyMs: w.latencyMs, ageMs: 0 };
    state.bestRate = Math.max(w.rate, probe.baseRate);
    state.trimming = kind === 'parallelism' && probe.from > bounds.min;
    const where = kind === 'buffer' ? 'the producer is slower on average, not bursty' : 'the limit is elsewhere (cores, a worker pool, the source, a shared service)';
    return { to: probe.from, action: 'revert', reason: `${probe.from} → ${probe.to} gave ${rate(probe.baseRate)} → ${rate(w.rate)}/s: ${where}` };
  }
  const sinkWorse = !probe.afterPlateau && w.sinkWait !== undefined && probe.baseSinkWait !== undefined && w.sinkWait > probe.baseSinkWait + INPUT_BOUND;
  if (w.rate >= probe.baseRate * KEEP && !sinkWorse) {
    if (probe.afterPlateau) {
      if (state.plateau) state.plateau.at = probe.to;
      state.trimming = probe.to > bounds.min;
    }
    return undefined;
  }
  state.floor = { at: probe.from, latencyMs: w.latencyMs, ageMs: 0 };
  state.trimming = false;
  if (state.plateau && state.plateau.at < probe.from) state.plateau.at = probe.from;
  const lost = w.rate < probe.baseRate * KEEP;
  const sinkPct = sinkWorse ? `the sink waiting ${pct(probe.baseSinkWait ?? 0)} → ${pct(w.sinkWait ?? 0)}` : '';
  return {
    to: probe.from,
    action: 'revert',
    reason: lost ? `${probe.from} → ${probe.to} cost throughput (${rate(probe.baseRate)} → ${rate(w.rate)}/s${sinkWorse ? `, ${sinkPct}` : ''})` : `${probe.from} → ${probe.to} made the sink wait more (${sinkPct}; ${rate(probe.baseRate)} → ${rate(w.rate)}/s)`,
  };
}
