/**
 * The tuner's decisions, driven by a simulated pipeline on an injected clock: no timing, so
 * every run takes the same decisions.
 *
 * The simulation is a fluid model of `source → map (c slots, latency L) → sink`: the rate is the
 * slowest of the source, the map (c / L) and the sink; the map's slots are all busy when it is
 * the slowest; its output waits (blocked) when the sink is the slowest; the sink waits for the
 * share of time its input does not keep it busy. It reports to a knob and a sink stage exactly as
 * `parallelMap` and `consume` do, and the tuner looks every 200 ms.
 */
import test from 'ava';
import { PipelineStats, type StageStats } from '../src/stats.js';
import { tunerFor, autotuneSummary, autotuneHtml, decide, initialState, type Knob, type Tuner, type Window } from '../src/autotune/index.js';
import { decideWorkers } from '../src/autotune/workers.js';

interface Work {
  /** ms per call of the map. */
  latency: number;
  /** ms the sink takes per element. */
  sinkMs: number;
  /** ms the source takes per element (default: infinitely fast). */
  sourceMs?: number;
  /** Slots that really run at once (a worker pool of that many threads); calls beyond queue. */
  cores?: number;
  /** Bytes of one element. */
  bytes?: number;
}

class Sim {
  now = 0;
  readonly stats: PipelineStats;
  readonly tuner: Tuner;
  readonly knob: Knob;
  readonly sink: StageStats;
  private done = 0;
  /** Elements done per simulated ms, last value. */
  rate = 0;

  constructor(options: { ramBudget?: number; max?: number } = {}) {
    this.stats = new PipelineStats({ autotune: { manual: true, clock: () => this.now, ramBudget: options.ramBudget ?? 2 ** 30, cores: 1 } });
    this.tuner = tunerFor(this.stats);
    this.sink = this.stats.stage({}, 'consume', 'sink');
    const stage = this.stats.stage({}, 'parallelMap', 'operator');
    this.knob = this.tuner.attach({}, stage, { kind: 'parallelism', label: 'concurrency', min: 1, max: options.max ?? 16, initial: 1 });
  }

  /** Runs `ms` simulated milliseconds of `work`, the tuner looking every 200 ms. */
  run(ms: number, work: Work): void {
    for (let i = 0; i < ms; i++) {
      const c = this.knob.value;
      const cores = work.cores ?? Infinity;
      // A pool of `cores` threads: calls beyond them wait, so the latency seen grows with c.
      const latency = work.latency * Math.max(1, c / cores);
      const mapRate = c / latency;
      const sourceRate = work.sourceMs ? 1 / work.sourceMs : Infinity;
      const sinkRate = 1 / work.sinkMs;
      const rate = Math.min(mapRate, sourceRate, sinkRate);
      const mapLimits = mapRate <= Math.min(sourceRate, sinkRate);
      const sinkLimits = sinkRate < Math.min(mapRate, sourceRate);
      const running = rate * latency;
      this.knob.observe(running, mapLimits ? c : running, sinkLimits ? 1 : 0);
      if (work.bytes) this.knob.sample(new Uint8Array(work.bytes));
      this.now++;
      this.done += rate;
      const whole = Math.floor(this.done);
      if (whole > 0) {
        this.knob.complete(whole);
        this.done -= whole;
      }
      this.sink.waitMs += 1 - rate / sinkRate;
      this.rate = rate;
      if (this.now % 200 === 0) this.tuner.tick();
    }
  }

  /** Decisions after simulated time `from`. */
  since(from: number) {
    return this.tuner.decisions.filter((d) => d.atMs > from);
  }
}

test('raises concurrency when the map is the bottleneck, to what the sink can take', (t) => {
  const sim = new Sim();
  // 10 ms per call, the sink takes an element per ms: 10 calls in flight keep it busy.
  sim.run(3000, { latency: 10, sinkMs: 1 });
  t.true(sim.knob.value >= 10, `concurrency ${sim.knob.value}`);
  t.true(sim.rate >= 0.99, `the sink is fed (rate ${sim.rate}/ms)`);
  const raise = sim.tuner.decisions.find((d) => d.action === 'raise');
  t.truthy(raise);
  t.is(raise!.from, 1);
  t.true(raise!.to > 1);
  t.regex(raise!.bottleneck ?? '', /parallelMap: all 1 slots busy 100 %.*sink waiting 90 %/);
  // Converged: within 2 s of simulated time, and no change in the last second.
  const lastChange = sim.tuner.decisions.filter((d) => d.action !== 'hold').at(-1)!;
  t.true(lastChange.atMs <= 2000, `last change at ${lastChange.atMs} ms`);
});

test('does not raise when the source or the sink sets the pace', (t) => {
  const bySource = new Sim();
  // The source gives an element every 5 ms; one 3 ms call at a time keeps up.
  bySource.run(3000, { latency: 3, sinkMs: 1, sourceMs: 5 });
  t.is(bySource.knob.value, 1);
  t.is(bySource.tuner.decisions.filter((d) => d.action === 'raise').length, 0);
  const bySink = new Sim();
  bySink.run(3000, { latency: 4, sinkMs: 10 });
  t.is(bySink.knob.value, 1);
});

test('stops at the memory budget and says so', (t) => {
  // 4,000-byte elements (plus the estimate's 64-byte header), a budget for 5 of them.
  const sim = new Sim({ ramBudget: 5 * 4064 });
  sim.run(3000, { latency: 10, sinkMs: 1, bytes: 4000 });
  t.is(sim.knob.value, 5);
  const hold = sim.tuner.decisions.find((d) => d.action === 'hold');
  t.truthy(hold);
  t.regex(hold!.reason, /memory budget \(5 elements fit\)/);
  t.true(sim.tuner.heldBytes() <= 5 * 4064);
});

test('lowers when the elements grow past the memory budget', (t) => {
  const sim = new Sim({ ramBudget: 64 * 1024 });
  sim.run(3000, { latency: 10, sinkMs: 1, bytes: 1000 });
  t.true(sim.knob.value >= 10);
  // The elements become 8 KiB: 64 KiB holds 7 of them.
  sim.run(600, { latency: 10, sinkMs: 1, bytes: 8192 });
  t.true(sim.knob.value <= 7, `concurrency ${sim.knob.value}`);
  t.true(sim.tuner.heldBytes() <= 64 * 1024);
  const lower = sim.since(3000).find((d) => d.action === 'lower');
  t.truthy(lower);
  t.regex(lower!.reason, /over the memory budget/);
});

test('re-tunes after the map cost changes ×4, within 5 s', (t) => {
  const sim = new Sim({ max: 64 });
  // The sink takes an element every 2 ms: 10 ms calls need 5 in flight, 40 ms calls 20.
  sim.run(4000, { latency: 10, sinkMs: 2 });
  const before = sim.knob.value;
  t.true(before >= 5 && before < 20, `before: ${before}`);
  t.true(sim.rate >= 0.49);
  sim.run(5000, { latency: 40, sinkMs: 2 });
  t.true(sim.knob.value >= 20, `after: ${sim.knob.value}`);
  const recovered = sim.since(4000).filter((d) => d.action === 'raise');
  t.true(recovered.length >= 1);
  t.true(recovered.at(-1)!.atMs <= 4000 + 5000, 'the last raise came within 5 s');
  t.regex(recovered[0].reason, /at 40 ms per element/);
  t.true(sim.rate >= 0.49, 'the sink is fed again');
});

test('finds a plateau (a pool of 2 threads) and settles on the smallest value that keeps its throughput', (t) => {
  const sim = new Sim();
  sim.run(6000, { latency: 10, sinkMs: 1, cores: 2 });
  t.true(sim.knob.value >= 2 && sim.knob.value <= 3, `concurrency ${sim.knob.value}`);
  const revert = sim.tuner.decisions.find((d) => d.action === 'revert' && /limit is elsewhere/.test(d.reason));
  t.truthy(revert, 'a raise that gave nothing was taken back');
  t.true(sim.rate >= 0.19, 'the pool stays busy');
});

test('a raise that only partly pays (a pool of 6 threads) keeps the slots that work', (t) => {
  const sim = new Sim();
  sim.run(8000, { latency: 10, sinkMs: 1, cores: 6 });
  t.true(sim.knob.value >= 6 && sim.knob.value <= 7, `concurrency ${sim.knob.value}`);
  t.true(sim.rate >= 0.59, `rate ${sim.rate}/ms`);
  // 4 → 8 paid (×1.5 of the ×2 promised), 8 → 16 did not: back to 8, then trimmed to the 6 that work.
  t.true(sim.tuner.decisions.some((d) => d.action === 'revert' && d.from === 16 && d.to === 8));
  t.true(sim.tuner.decisions.some((d) => d.action === 'revert' && d.from === 5 && d.to === 6 && /cost throughput/.test(d.reason)));
});

test('explains its choices: stats.format(), the summary and the HTML section', (t) => {
  const sim = new Sim();
  sim.run(2000, { latency: 10, sinkMs: 1 });
  const text = sim.stats.format();
  t.regex(text, /autotune: memory budget 1\.00 GiB/);
  t.regex(text, /parallelMap\s+concurrency\s+\d+\s+1–16/);
  t.regex(text, /\+0\.\d\d s {2}parallelMap\.concurrency {2}raise 1 → \d+: bottleneck: .*Little's law/);
  t.regex(text, /\[saw parallelMap: all 1 slots busy/);
  const summary = autotuneSummary(sim.stats)!;
  t.is(summary.stages.length, 1);
  t.is(summary.stages[0].value, sim.knob.value);
  t.is(summary.stages[0].last?.action, 'raise');
  t.true(summary.decisions.length >= 2);
  const html = autotuneHtml(sim.stats);
  t.regex(html, /<h2>Autotune<\/h2>/);
  t.regex(html, /<td>parallelMap\.concurrency<\/td><td>raise<\/td><td>1 → \d+<\/td>/);
  t.is(autotuneHtml(new PipelineStats()), '', 'nothing tuned, no section');
  t.false(new PipelineStats().format().includes('autotune'), 'no tuner, no section');
});

test('a buffer deepens for a bursty producer and stops when deepening stops helping', (t) => {
  const state = initialState();
  // `rate` follows from `completed` over 200 ms (the judge merges windows by their counts).
  const w = (over: Partial<Window>): Window => {
    const base: Window = { ms: 200, completed: 40, rate: 200, latencyMs: 0, meanInUse: 1, saturated: 0.2, blocked: 0.5, idle: 0.3, sinkWait: 0.25, ...over };
    return { ...base, rate: (base.completed * 1000) / base.ms };
  };
  const bounds = { min: 1, max: 16, cap: 16 };
  const first = decide('buffer', state, 1, bounds, w({}), 'prefetch');
  t.is(first?.action, 'raise');
  t.is(first?.to, 2);
  t.regex(first?.bottleneck ?? '', /empty 30 % of the time, the sink waiting 25 %, yet full 20 %/);
  // More throughput at depth 2 (two windows make a judgement): kept.
  t.is(decide('buffer', state, 2, bounds, w({ sinkWait: 0.1, completed: 46 }), 'prefetch'), undefined);
  t.is(decide('buffer', state, 2, bounds, w({ sinkWait: 0.1, completed: 46 }), 'prefetch'), undefined);
  const second = decide('buffer', state, 2, bounds, w({ sinkWait: 0.1, completed: 46 }), 'prefetch');
  t.is(second?.to, 3);
  // No better at 3: back to 2, and 2 is where it stays.
  t.is(decide('buffer', state, 3, bounds, w({ sinkWait: 0.1, completed: 46 }), 'prefetch'), undefined);
  const back = decide('buffer', state, 3, bounds, w({ sinkWait: 0.1, completed: 46 }), 'prefetch');
  t.is(back?.action, 'revert');
  t.is(back?.to, 2);
  t.is(decide('buffer', state, 2, bounds, w({ sinkWait: 0.1, completed: 46 }), 'prefetch')?.action, 'hold');
  t.is(decide('buffer', state, 2, bounds, w({ sinkWait: 0.1, completed: 46 }), 'prefetch'), undefined, 'a hold is said once');
  // Never full: a slow producer, not a bursty one; a deeper buffer would not help.
  t.is(decide('buffer', initialState(), 1, bounds, w({ saturated: 0 }), 'prefetch'), undefined);
});

test('a deeper buffer whose sink waits less but takes no more is taken back', (t) => {
  const state = initialState();
  const w = (over: Partial<Window>): Window => ({ ms: 200, completed: 40, rate: 200, latencyMs: 0, meanInUse: 1, saturated: 0.2, blocked: 0.5, idle: 0.3, sinkWait: 0.25, ...over });
  const bounds = { min: 1, max: 16, cap: 16 };
  t.is(decide('buffer', state, 1, bounds, w({}), 'prefetch')?.to, 2);
  t.is(decide('buffer', state, 2, bounds, w({ sinkWait: 0.1 }), 'prefetch'), undefined);
  const back = decide('buffer', state, 2, bounds, w({ sinkWait: 0.1 }), 'prefetch');
  t.is(back?.action, 'revert', 'the same 200/s: the elements it holds buy nothing');
  t.is(back?.to, 1);
});

test('a full buffer whose sink is fed is trimmed, judged, and kept no deeper than it needs', (t) => {
  const state = initialState();
  // The producer keeps ahead: full 90 % of the time, never empty, the sink never waiting.
  const w = (over: Partial<Window>): Window => ({ ms: 200, completed: 40, rate: 200, latencyMs: 0, meanInUse: 7, saturated: 0.9, blocked: 0.9, idle: 0, sinkWait: 0.01, ...over });
  const bounds = { min: 1, max: 16, cap: 16 };
  t.is(decide('buffer', state, 8, bounds, w({}), 'prefetch'), undefined, 'one window is not enough');
  t.is(decide('buffer', state, 8, bounds, w({}), 'prefetch'), undefined);
  const trim = decide('buffer', state, 8, bounds, w({}), 'prefetch');
  t.is(trim?.action, 'lower');
  t.is(trim?.to, 4);
  t.regex(trim?.reason ?? '', /full 90 % of the time while the sink waited 1 %: the producer keeps ahead/);
  // Same throughput at 4: kept; three more such windows halve it again.
  t.is(decide('buffer', state, 4, bounds, w({}), 'prefetch'), undefined);
  t.is(decide('buffer', state, 4, bounds, w({}), 'prefetch'), undefined);
  t.is(decide('buffer', state, 4, bounds, w({}), 'prefetch'), undefined);
  t.is(decide('buffer', state, 4, bounds, w({}), 'prefetch'), undefined);
  t.is(decide('buffer', state, 4, bounds, w({}), 'prefetch')?.to, 2);
  // At 2 the sink starts waiting and the rate drops: back to 4, which becomes the floor.
  t.is(decide('buffer', state, 2, bounds, w({ completed: 30, rate: 150, sinkWait: 0.3 }), 'prefetch'), undefined);
  const back = decide('buffer', state, 2, bounds, w({ completed: 30, rate: 150, sinkWait: 0.3 }), 'prefetch');
  t.is(back?.action, 'revert');
  t.is(back?.to, 4);
  for (let i = 0; i < 6; i++) t.is(decide('buffer', state, 4, bounds, w({}), 'prefetch'), undefined, 'never below the floor');
});

test('a raise that brings nothing is taken back (a synchronous map gains nothing from more slots)', (t) => {
  const state = initialState();
  const bounds = { min: 1, max: 16, cap: 16 };
  const w = (over: Partial<Window>): Window => ({ ms: 200, completed: 40, rate: 200, latencyMs: 4.5, meanInUse: 0.9, saturated: 0.9, blocked: 0, idle: 0.1, sinkWait: 0.5, ...over });
  const raise = decide('parallelism', state, 1, bounds, w({}), 'parallelMap');
  t.is(raise?.action, 'raise');
  // One call at a time all the same: nothing gained, the new slots unused.
  t.is(decide('parallelism', state, raise!.to, bounds, w({ saturated: 0, rate: 199 }), 'parallelMap'), undefined);
  const revert = decide('parallelism', state, raise!.to, bounds, w({ saturated: 0, rate: 201 }), 'parallelMap');
  t.is(revert?.action, 'revert');
  t.is(revert?.to, 1);
  t.is(decide('parallelism', state, 1, bounds, w({}), 'parallelMap')?.action, 'hold');
});

test("fromWorkers workers 'auto': fewer workers when they waited for credit and the sink never waited; all back when input-bound", (t) => {
  const w = (over: Partial<Window>): Window => ({ ms: 10_000, completed: 4000, rate: 400, latencyMs: 0, meanInUse: 3, saturated: 0.5, blocked: 0.9, idle: 0, sinkWait: 0.01, ...over });
  // 7 workers busy 30 % of the time: 3 keep up (7 × 0.3 × 1.2 = 2.5 → 3).
  const lower = decideWorkers(w({}), 7, 7, 0.3);
  t.is(lower?.action, 'lower');
  t.is(lower?.to, 3);
  t.regex(lower?.reason ?? '', /waited for credit 70 % of the time while the sink waited 1 %: 3 keep up/);
  // Input-bound with busy workers: every core but one again.
  const raise = decideWorkers(w({ sinkWait: 0.3 }), 3, 7, 0.95);
  t.is(raise?.to, 7);
  // Input-bound but the workers idle: more would not help.
  t.is(decideWorkers(w({ sinkWait: 0.3 }), 3, 7, 0.4), undefined);
  // Busy and the sink fed: as it is.
  t.is(decideWorkers(w({}), 4, 7, 0.9), undefined);
  // The memory budget fits fewer.
  t.is(decideWorkers(w({}), 7, 2, 0.9)?.to, 2);
});

test('the CPU model: calls that spend part of their time on the main thread overlap at most latency ÷ main', (t) => {
  const state = initialState();
  const bounds = { min: 1, max: 16, cap: 16 };
  // 10 ms per call, 2 of them synchronous (parsing before an await): at most 5 overlap.
  const w = (over: Partial<Window>): Window => ({ ms: 200, completed: 80, rate: 400, latencyMs: 10, mainMs: 2, meanInUse: 4, saturated: 0.9, blocked: 0, idle: 0, sinkWait: 0.5, ...over });
  const raise = decide('parallelism', state, 4, bounds, w({}), 'parallelMap');
  t.is(raise?.action, 'raise');
  t.is(raise?.to, 5, "Little's law wants more, the main thread allows 5");
  t.regex(raise?.reason ?? '', /the main thread's limit 5/);
  t.is(decide('parallelism', state, 5, bounds, w({ completed: 100, rate: 500, meanInUse: 5 }), 'parallelMap'), undefined);
  t.is(decide('parallelism', state, 5, bounds, w({ completed: 100, rate: 500, meanInUse: 5 }), 'parallelMap'), undefined, 'the raise paid: kept');
  const hold = decide('parallelism', state, 5, bounds, w({ completed: 100, rate: 500, meanInUse: 5 }), 'parallelMap');
  t.is(hold?.action, 'hold');
  t.regex(hold?.reason ?? '', /^CPU: the calls run 2\.0 of their 10 ms per element on the main thread, which runs one at a time: at most 5 overlap/);
  // Without the synchronous part the same window would double.
  t.is(decide('parallelism', initialState(), 4, bounds, w({ mainMs: 0 }), 'parallelMap')?.to, 8);
});

test('the CPU model: a synchronous map above 1 is lowered to 1 at the first look, and not raised again', (t) => {
  const state = initialState();
  const bounds = { min: 1, max: 16, cap: 16 };
  // Every call runs its 3 ms on the main thread: one at a time, however many slots.
  const w: Window = { ms: 200, completed: 60, rate: 300, latencyMs: 3, mainMs: 3, meanInUse: 0.9, saturated: 0, blocked: 0, idle: 0.1, sinkWait: 0.5 };
  const lower = decide('parallelism', state, 4, bounds, w, 'parallelMap');
  t.is(lower?.action, 'lower');
  t.is(lower?.to, 1);
  t.regex(lower?.reason ?? '', /^CPU: the calls run 3\.0 of their 3\.0 ms per element on the main thread/);
  t.is(lower?.bottleneck, 'parallelMap: the main thread');
  // Judged like any lowering: the same throughput at 1, kept; then held, busy as it is.
  t.is(decide('parallelism', state, 1, bounds, w, 'parallelMap'), undefined);
  t.is(decide('parallelism', state, 1, bounds, w, 'parallelMap'), undefined);
  const busy = { ...w, meanInUse: 0.95, saturated: 0.95 };
  t.is(decide('parallelism', state, 1, bounds, busy, 'parallelMap')?.action, 'hold');
  for (let i = 0; i < 5; i++) t.not(decide('parallelism', state, 1, bounds, busy, 'parallelMap')?.action, 'raise');
});

test('the pool model: calls on a worker pool of k threads are not raised past 2k, and lowered to it', (t) => {
  const state = initialState();
  const bounds = { min: 1, max: 16, cap: 16 };
  // A pool of 2 threads, every slot busy, the sink waiting: Little's law alone would go on raising.
  const w = (over: Partial<Window>): Window => ({ ms: 200, completed: 40, rate: 200, latencyMs: 20, mainMs: 0.05, poolThreads: 2, meanInUse: 4, saturated: 0.9, blocked: 0, idle: 0, sinkWait: 0.5, ...over });
  const hold = decide('parallelism', state, 4, bounds, w({}), 'parallelMap');
  t.is(hold?.action, 'hold');
  t.regex(hold?.reason ?? '', /^pool: the calls run on a worker pool of 2 threads; 4 in flight keep each busy with the next queued/);
  t.is(decide('parallelism', initialState(), 2, bounds, w({ meanInUse: 2 }), 'parallelMap')?.to, 4, 'up to 2 per thread');
  const lower = decide('parallelism', initialState(), 8, bounds, w({ meanInUse: 8 }), 'parallelMap');
  t.is(lower?.action, 'lower');
  t.is(lower?.to, 4);
  t.is(lower?.bottleneck, 'parallelMap: the worker pool');
  // A pool of 1 thread whose calls are mostly synchronous main-thread work: the tighter limit wins.
  const cpu = decide('parallelism', initialState(), 2, bounds, w({ poolThreads: 1, mainMs: 20, meanInUse: 1 }), 'parallelMap');
  t.is(cpu?.to, 1);
  t.regex(cpu?.reason ?? '', /^CPU:/);
});

test('a stage whose slots are all taken a quarter of the time holds its source back: raised', (t) => {
  // The guide replica at 2 slots: the source reads only while a slot is free, so its reads and
  // the calls alternate; every slot is taken 30 % of the time, 1.5 of 2 used on average.
  const w: Window = { ms: 200, completed: 25, rate: 125, latencyMs: 12, meanInUse: 1.5, saturated: 0.3, blocked: 0, idle: 0.05, sinkWait: 0.7 };
  const raise = decide('parallelism', initialState(), 2, { min: 1, max: 16, cap: 16 }, w, 'parallelMap');
  t.is(raise?.action, 'raise');
  t.is(raise?.to, 4);
  // Taken all at once only now and then: not the bottleneck.
  t.is(decide('parallelism', initialState(), 2, { min: 1, max: 16, cap: 16 }, { ...w, saturated: 0.1, meanInUse: 1.2 }, 'parallelMap'), undefined);
});

test("an epoch's first window is start-up: not judged; the next one is", (t) => {
  let now = 0;
  const stats = new PipelineStats({ autotune: { manual: true, clock: () => now, ramBudget: 2 ** 30, cores: 1 } });
  const tuner = tunerFor(stats);
  const sink = stats.stage({}, 'consume', 'sink');
  const stage = stats.stage({}, 'parallelMap', 'operator');
  const key = {};
  const spec = { kind: 'parallelism' as const, label: 'concurrency', min: 1, max: 16, initial: 1 };
  /** 200 ms of a map with every slot busy and the sink waiting half the time. */
  const busyWindow = (knob: Knob): void => {
    knob.observe(knob.value, knob.value, 0);
    now += 200;
    sink.waitMs += 100;
    knob.complete(20 * knob.value);
    knob.observe(knob.value, knob.value, 0);
    tuner.tick();
  };
  let knob = tuner.attach(key, stage, spec);
  busyWindow(knob);
  t.is(knob.value, 2, 'the first epoch: judged at once');
  tuner.detach(knob);
  knob = tuner.attach(key, stage, spec);
  t.is(knob.value, 2, 'the next epoch starts where this one ended');
  const before = tuner.decisions.length;
  // Dropped, then two windows judge the raise 1 → 2 (it paid: kept, nothing said)…
  busyWindow(knob);
  busyWindow(knob);
  busyWindow(knob);
  t.is(tuner.decisions.length, before, "the next epoch's first window is not used");
  // …and the next raise comes one window later than it would have without the drop.
  busyWindow(knob);
  t.is(tuner.decisions.length, before + 1);
  t.like(tuner.decisions.at(-1), { action: 'raise', from: 2, to: 4 });
});

test('a raise after which more slots are used, none of them all busy, is kept: the source sets the pace now', (t) => {
  const state = initialState();
  const bounds = { min: 1, max: 16, cap: 16 };
  const at2: Window = { ms: 200, completed: 25, rate: 125, latencyMs: 12, meanInUse: 1.5, saturated: 0.3, blocked: 0, idle: 0.05, sinkWait: 0.7 };
  t.is(decide('parallelism', state, 2, bounds, at2, 'parallelMap')?.to, 4);
  // At 4 (a busy machine): hardly faster, but 2 slots in use instead of 1.5, all 4 taken only 5 % of the time.
  const at4: Window = { ...at2, completed: 26, rate: 130, meanInUse: 2, saturated: 0.05 };
  t.is(decide('parallelism', state, 4, bounds, at4, 'parallelMap'), undefined);
  t.is(decide('parallelism', state, 4, bounds, at4, 'parallelMap'), undefined, 'kept: neither taken back nor cut to the slots that paid');
  t.is(state.plateau, undefined);
});

test('the pool model: on a pool with every thread busy, a raise to keep the next call queued stays for any real gain', (t) => {
  const bounds = { min: 1, max: 16, cap: 16 };
  const at2: Window = { ms: 200, completed: 14, rate: 70, latencyMs: 28, mainMs: 0.05, poolThreads: 2, meanInUse: 2, saturated: 0.95, blocked: 0, idle: 0, sinkWait: 0.9 };
  const at4: Window = { ...at2, completed: 15.6, rate: 78, latencyMs: 51, meanInUse: 4 };
  const state = initialState();
  t.is(decide('parallelism', state, 2, bounds, at2, 'parallelMap')?.to, 4);
  t.is(decide('parallelism', state, 4, bounds, at4, 'parallelMap'), undefined);
  t.is(decide('parallelism', state, 4, bounds, at4, 'parallelMap'), undefined, '×1.11: kept at 4');
  // Without the pool's word, ×1.11 is far from the ×2 two more slots promise: cut back to 3.
  const unknown = initialState();
  const { poolThreads: _a, ...bare2 } = at2;
  const { poolThreads: _b, ...bare4 } = at4;
  t.is(decide('parallelism', unknown, 2, bounds, bare2, 'parallelMap')?.to, 4);
  t.is(decide('parallelism', unknown, 4, bounds, bare4, 'parallelMap'), undefined);
  t.like(decide('parallelism', unknown, 4, bounds, bare4, 'parallelMap'), { action: 'lower', to: 3 });
});

test('the pool model: calls queued for busy pool threads stay whatever a window measured; a bottleneck on a pool is not trimmed below its threads', (t) => {
  const bounds = { min: 1, max: 16, cap: 16 };
  // Two pool threads, every slot busy, the sink waiting: the stage is the bottleneck.
  const at2: Window = { ms: 200, completed: 26, rate: 130, latencyMs: 15, mainMs: 0.05, poolThreads: 2, meanInUse: 2, saturated: 0.95, blocked: 0, idle: 0, sinkWait: 0.9 };
  // A raise to 4 measured slower (threads still warming up): a queued call cannot slow a thread, kept.
  const state = initialState();
  t.is(decide('parallelism', state, 2, bounds, at2, 'parallelMap')?.to, 4);
  const worse: Window = { ...at2, completed: 22, rate: 110, latencyMs: 36, meanInUse: 4 };
  t.is(decide('parallelism', state, 4, bounds, worse, 'parallelMap'), undefined);
  t.is(decide('parallelism', state, 4, bounds, worse, 'parallelMap'), undefined, 'kept at 4');
  t.is(state.plateau, undefined);
  // Without the pool's word, the same windows take the raise back and trim to 1.
  const bare = initialState();
  const { poolThreads: _p, ...bare2 } = at2;
  const { poolThreads: _q, ...bareWorse } = worse;
  t.is(decide('parallelism', bare, 2, bounds, bare2, 'parallelMap')?.to, 4);
  decide('parallelism', bare, 4, bounds, bareWorse, 'parallelMap');
  t.like(decide('parallelism', bare, 4, bounds, bareWorse, 'parallelMap'), { action: 'revert', to: 2 });
  t.like(decide('parallelism', bare, 2, bounds, bare2, 'parallelMap'), { action: 'lower', to: 1 });
  // On the pool, a trim after a plateau (the raise past 2 per thread gave nothing) stops at the
  // threads: 1 slot would leave one of the 2 idle while the sink waits.
  const trimmed = initialState();
  const at4: Window = { ...at2, completed: 26, rate: 130, latencyMs: 31, meanInUse: 4 };
  t.is(decide('parallelism', trimmed, 4, bounds, at4, 'parallelMap')?.action, 'hold', 'at the pool limit');
  trimmed.plateau = { at: 2, latencyMs: 15, ageMs: 0 };
  trimmed.trimming = true;
  for (let i = 0; i < 4; i++) t.not(decide('parallelism', trimmed, 2, bounds, at2, 'parallelMap')?.action, 'lower');
  const bareTrim = initialState();
  bareTrim.plateau = { at: 2, latencyMs: 15, ageMs: 0 };
  bareTrim.trimming = true;
  bareTrim.bestRate = 130;
  t.like(decide('parallelism', bareTrim, 2, bounds, bare2, 'parallelMap'), { action: 'lower', to: 1 });
});

test('a lowering that makes the sink wait more is taken back, and the log says so (not a loss of throughput)', (t) => {
  const state = initialState();
  const bounds = { min: 1, max: 16, cap: 16 };
  // The sink is the bottleneck (waits 1 %): slack, two windows in a row.
  const slack: Window = { ms: 200, completed: 40, rate: 200, latencyMs: 10, meanInUse: 1, saturated: 0, blocked: 0.5, idle: 0.3, sinkWait: 0.01 };
  t.is(decide('parallelism', state, 8, bounds, slack, 'parallelMap'), undefined);
  const lower = decide('parallelism', state, 8, bounds, slack, 'parallelMap');
  t.is(lower?.action, 'lower');
  const after: Window = { ...slack, sinkWait: 0.2 };
  t.is(decide('parallelism', state, lower!.to, bounds, after, 'parallelMap'), undefined);
  const back = decide('parallelism', state, lower!.to, bounds, after, 'parallelMap');
  t.is(back?.action, 'revert');
  t.is(back?.to, 8);
  t.is(back?.reason, `8 → ${lower!.to} made the sink wait more (the sink waiting 1 % → 20 %; 200 → 200/s)`);
});
