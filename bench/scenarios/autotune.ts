/**
 * Scenario 19, autotune: `'auto'` against the best hand-tuned configuration found by a grid
 * search in the same run, on three pipelines, plus a change of work mid-run.
 *
 * - guide: scenario 2's tf.data-guide replica (open 20 ms, read 5 ms, map 10 ms, step 20 ms per
 *   batch of 10, async sleeps), `parallelMap(concurrency)` → `batch(10)` → `prefetch(n)`.
 * - cpu: scenario 3's CPU-heavy map (JPEG decode + blur, ~7 ms) on a worker pool with a thread per
 *   core, `parallelMap(pool.run, { concurrency })`.
 * - train: scenario 4's training feed with the parsing on a worker thread: lines → shuffle → batch
 *   → `parallelMap(parse, { concurrency })` → `prefetch(n)` → `trainOn` (tfjs wasm), 20 epochs (a case of 8 ran 1.4 s: one busy moment decided it).
 * - change: the guide replica with the map's cost ×4 after a third of the elements; how long the
 *   tuner takes to raise the concurrency, and the pipeline to get its throughput back.
 *
 * Each `auto` case writes what its tuner chose and why to `bench/results/autotune-<family>.txt`.
 */
import { availableParallelism } from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { count, lastValueFrom, map, toArray } from 'rxjs';
import { batch } from '../../operators/batch.js';
import { consume } from '../../operators/consume.js';
import { parallelMap } from '../../operators/parallelMap.js';
import { prefetch } from '../../operators/prefetch.js';
import { shuffle } from '../../operators/shuffle.js';
import { fromIterable } from '../../src/fromIterable.js';
import { PipelineStats } from '../../src/stats.js';
import { autotuneSummary, tunerFor } from '../../src/autotune/index.js';
import { trainOn } from '../../src/train/trainOn.js';
import type { NDArray } from '../../src/types.js';
import { workerPool, type WorkerPool } from '../../src/workerPool.js';
import { sampleJpeg } from '../tasks/image.js';
import { source, type Element } from './guide.js';
import { InFlight, fmt, sleep, table, useBackend, type CaseResult, type CaseSpec, type RunOptions, type ScenarioDef, type ScenarioRunner, type Summary } from '../lib.js';

const THREADS = availableParallelism();
const resultsDir = fileURLToPath(new URL('../results/', import.meta.url));

/**
 * What every case does after its pipeline, auto or not, so that the processes compared differ
 * only in the knobs: reads the peak RSS so far (the pipeline's, before anything else allocates),
 * formats the statistics, and writes them for a measured auto run (`family` set).
 */
function explain(family: string | undefined, stats: PipelineStats, extra = ''): number {
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  const text = `${extra}${stats.format()}\n`;
  if (family) {
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(`${resultsDir}autotune-${family}.txt`, text);
  }
  return peakRssMiB;
}

/**
 * {@link InFlight} with the time-weighted mean in flight beside the maximum: what a run holds
 * over its length, where the maximum is one instant (a tuner's probe above the value it keeps
 * shows in the maximum, not in the mean).
 */
class Holding extends InFlight {
  private area = 0;
  private since = performance.now();
  private start = this.since;
  private advance(): void {
    const now = performance.now();
    this.area += (this.pulled - this.consumed) * (now - this.since);
    this.since = now;
  }
  /** Starts the mean now (the run's t0). */
  begin(): void {
    this.area = 0;
    this.start = this.since = performance.now();
  }
  override pull(): void {
    this.advance();
    super.pull();
  }
  override consume(n: number): void {
    this.advance();
    super.consume(n);
  }
  get mean(): number {
    this.advance();
    return this.area / Math.max(1e-9, this.since - this.start);
  }
}

/** The memory metrics of a run: peak RSS (before formatting) and the mean in flight. */
const held = (flight: Holding, peakRssMiB: number): Record<string, number> => ({ runPeakRssMiB: peakRssMiB, meanInFlight: flight.mean });

/** The final values of the tuned stages, as metrics. */
function finals(stats: PipelineStats): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of autotuneSummary(stats)?.stages ?? []) out[`final ${s.knob}`] = s.value;
  return out;
}

// ---- guide and change: the tf.data guide replica ----

const MAP_MS = 10;
const STEP_MS = 20;
const BATCH = 10;


/**
 * The guide pipeline with `concurrency` and `depth` ('auto' or numbers); `costOf(i)` is element
 * i's map cost. Returns the run and, per batch, when the step finished (for the change case).
 */
async function guide(n: number, concurrency: number | 'auto', depth: number | 'auto', costOf: (i: number) => number, family: string | undefined): Promise<CaseResult & { ends: number[]; stats: PipelineStats; t0: number }> {
  const flight = new Holding();
  const stats = new PipelineStats();
  const ends: number[] = [];
  const t0 = performance.now();
  flight.begin();
  await lastValueFrom(
    fromIterable(source(n, flight)).pipe(
      parallelMap(async (e: Element) => {
        await sleep(costOf(e.x[0]));
        return e;
      }, { concurrency }),
      batch(BATCH),
      prefetch(depth),
      consume(async (b) => {
        await sleep(STEP_MS);
        flight.consume(b.y.shape[0]);
        ends.push(performance.now() - t0);
      }, { stats }),
      count(),
    ),
  );
  const ms = performance.now() - t0;
  const memory = held(flight, explain(family, stats));
  return { ms, items: flight.consumed, maxInFlight: flight.max, ends, stats, t0, metrics: { elementsPerS: (flight.consumed / ms) * 1000, ...memory, ...finals(stats) } };
}

/** The change case: the map's cost ×4 after the first third; when the tuner raised, when the rate came back. */
async function change(n: number, concurrency: number | 'auto', family: string | undefined): Promise<CaseResult> {
  const at = Math.floor(n / 3);
  /** When the first call at the new cost started (performance.now()). */
  let changedAbs = 0;
  const r = await guide(n, concurrency, 'auto', (i) => {
    if (i < at) return MAP_MS;
    if (!changedAbs) changedAbs = performance.now();
    return 4 * MAP_MS;
  }, undefined);
  const changedAt = changedAbs - r.t0;
  /** Elements per second whose step ended in (from, to], ms since the start. */
  const rateOver = (from: number, to: number): number => (r.ends.filter((t) => t > from && t <= to).length * BATCH * 1000) / (to - from);
  // The pace before the change (settled, source-bound): the rate to get back to.
  const before = rateOver(changedAt - 2000, changedAt);
  // Recovered: the first 1-s window (stepped by 100 ms) after the change at ≥ 90 % of that.
  let recoverMs = NaN;
  for (let t = changedAt; t + 1000 <= r.ends.at(-1)!; t += 100) {
    if (rateOver(t, t + 1000) >= 0.9 * before) {
      recoverMs = t + 1000 - changedAt;
      break;
    }
  }
  const tuner = tunerFor(r.stats);
  const raise = tuner.decisions.find((d) => d.stage === 'parallelMap' && d.action === 'raise' && tuner.startedAt + d.atMs >= changedAbs);
  const retuneMs = raise ? tuner.startedAt + raise.atMs - changedAbs : NaN;
  explain(family, r.stats, `work changed at +${(changedAt / 1000).toFixed(2)} s (element ${at}); rate before ${before.toFixed(0)}/s; first raise ${(retuneMs / 1000).toFixed(2)} s later; back to 90 % of it ${(recoverMs / 1000).toFixed(2)} s later\n\n`);
  return { ms: r.ms, items: r.items, maxInFlight: r.maxInFlight, metrics: { ...r.metrics, retuneMs, recoverMs, rateBefore: before } };
}

// ---- cpu: the CPU-heavy map on a worker pool ----

const imageTaskUrl = new URL('../tasks/image.ts', import.meta.url);
let imagePool: WorkerPool<Uint8Array, Float32Array> | undefined;
let jpeg: Uint8Array | undefined;

async function cpu(n: number, concurrency: number | 'auto', family: string | undefined): Promise<CaseResult> {
  imagePool ??= workerPool<Uint8Array, Float32Array>(imageTaskUrl, { threads: THREADS });
  jpeg ??= sampleJpeg();
  const bytes = jpeg;
  const pool = imagePool;
  const flight = new Holding();
  const stats = new PipelineStats();
  let sum = 0;
  const t0 = performance.now();
  flight.begin();
  await lastValueFrom(
    fromIterable(function* () {
      for (let i = 0; i < n; i++) {
        flight.pull();
        yield bytes.slice();
      }
    }).pipe(
      parallelMap((b: Uint8Array) => pool.run(b, { transfer: [b.buffer as ArrayBuffer] }), { concurrency }),
      consume((x: Float32Array) => {
        sum += x[0];
        flight.consume(1);
      }, { stats }),
      count(),
    ),
  );
  const ms = performance.now() - t0;
  const memory = held(flight, explain(family, stats));
  return { ms, items: flight.consumed, maxInFlight: flight.max, metrics: { elementsPerS: (n / ms) * 1000, checksum: Number.isFinite(sum) ? 0 : 1, ...memory, ...finals(stats) } };
}

// ---- train: the training feed with parsing on a worker ----

const FEATURES = 64;
const CLASSES = 10;
const TRAIN_BATCH = 64;
const parseTaskUrl = new URL('../tasks/parseBatch.ts', import.meta.url);
let parsePool: WorkerPool<string, Float32Array> | undefined;
let csv: string[] | undefined;

function batchOf(buf: Float32Array): { xs: NDArray; ys: NDArray } {
  const rows = buf.length / (FEATURES + CLASSES);
  return { xs: { data: buf.subarray(0, rows * FEATURES), shape: [rows, FEATURES] }, ys: { data: buf.subarray(rows * FEATURES), shape: [rows, CLASSES] } };
}

async function train(epochs: number, concurrency: number | 'auto', depth: number | 'auto', family: string | undefined): Promise<CaseResult> {
  const tf = await useBackend('wasm');
  csv ??= readFileSync(new URL('../../examples/data/optdigits/optdigits.tra.csv', import.meta.url), 'utf8')
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '');
  const lines = csv;
  const pool = (parsePool ??= workerPool<string, Float32Array>(parseTaskUrl, { threads: 1 }));
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [FEATURES], units: 128, activation: 'relu' }), tf.layers.dense({ units: CLASSES, activation: 'softmax' })] });
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  const flight = new Holding();
  const stats = new PipelineStats();
  // One operator chain for every epoch, so the tuned values carry from epoch to epoch (as in fit).
  const epoch$ = fromIterable(function* () {
    for (const l of lines) {
      flight.pull();
      yield l;
    }
  }).pipe(
    shuffle(1000, { seed: 1 }),
    batch(TRAIN_BATCH),
    parallelMap((rows: string[]) => pool.run(rows.join('\n')), { concurrency }),
    map(batchOf),
    prefetch(depth),
  );
  const sink = trainOn(model, { stats, turnEveryMs: 0, afterStep: (r) => flight.consume(r.size) });
  let waitMs = 0;
  let stepMs = 0;
  const t0 = performance.now();
  flight.begin();
  for (let e = 0; e < epochs; e++) {
    for (const r of await lastValueFrom(epoch$.pipe(sink, toArray()))) {
      waitMs += r.waitMs;
      stepMs += r.stepMs;
    }
  }
  const ms = performance.now() - t0;
  const memory = held(flight, explain(family, stats));
  model.dispose();
  return { ms, items: flight.consumed, maxInFlight: flight.max, metrics: { elementsPerS: (flight.consumed / ms) * 1000, stallPct: (100 * waitMs) / (waitMs + stepMs), ...memory, ...finals(stats) } };
}

// ---- cases ----

const GUIDE_GRID = [1, 2, 4, 8].flatMap((c) => [1, 2].map((p) => [c, p] as const));
const CPU_GRID = [...new Set([1, THREADS, 2 * THREADS, 4 * THREADS])];
const TRAIN_GRID = [1, 2, 4].flatMap((c) => [1, 4].map((p) => [c, p] as const));

// Full runs of about 3–12 s each on a quiet 2-core machine (the auto runs include their search);
// `npm run bench -- --scenario 19 --runs 2` takes about 11 minutes there.
const guideN = (o: RunOptions): number => (o.warmup ? 30 : o.quick ? 400 : 600);
const cpuN = (o: RunOptions): number => (o.warmup ? 8 * THREADS : (o.quick ? 120 : 200) * THREADS);
const trainEpochs = (o: RunOptions): number => (o.warmup ? 1 : o.quick ? 4 : 20);
const changeN = (o: RunOptions): number => (o.warmup ? 30 : o.quick ? 1500 : 2100);

export const runner: ScenarioRunner = {
  async run(caseName, options) {
    const [family, variant] = caseName.split(':');
    const auto = variant === 'auto';
    // Only the measured run writes its explanation.
    const explainAs = auto && !options.warmup ? family : undefined;
    const num = (prefix: string): number => Number(new RegExp(`${prefix}(\\d+)`).exec(variant)?.[1]);
    switch (family) {
      case 'guide': {
        const { ms, items, maxInFlight, metrics } = await guide(guideN(options), auto ? 'auto' : num('c'), auto ? 'auto' : num('p'), () => MAP_MS, explainAs);
        return { ms, items, maxInFlight, metrics };
      }
      case 'cpu':
        return cpu(cpuN(options), auto ? 'auto' : num('c'), explainAs);
      case 'train':
        return train(trainEpochs(options), auto ? 'auto' : num('c'), auto ? 'auto' : num('p'), explainAs);
      case 'change':
        return change(changeN(options), auto ? 'auto' : num('c'), explainAs);
      default:
        throw new Error(`no case ${caseName}`);
    }
  },
};

function cases(): readonly CaseSpec[] {
  return [
    { name: 'guide:auto', impl: 'rxdata', label: "guide replica: parallelMap({ concurrency: 'auto' }) → batch(10) → prefetch('auto')" },
    ...GUIDE_GRID.map(([c, p]): CaseSpec => ({ name: `guide:c${c}p${p}`, impl: 'rxdata', label: `guide replica: parallelMap(${c}) → batch(10) → prefetch(${p})` })),
    { name: 'cpu:auto', impl: 'rxdata', label: `JPEG decode on ${THREADS} pool threads: parallelMap(pool.run, { concurrency: 'auto' })` },
    ...CPU_GRID.map((c): CaseSpec => ({ name: `cpu:c${c}`, impl: 'rxdata', label: `JPEG decode on ${THREADS} pool threads: parallelMap(pool.run, ${c})` })),
    { name: 'train:auto', impl: 'rxdata', label: "training feed: parallelMap(parse on a worker, 'auto') → prefetch('auto') → trainOn" },
    ...TRAIN_GRID.map(([c, p]): CaseSpec => ({ name: `train:c${c}p${p}`, impl: 'rxdata', label: `training feed: parallelMap(parse on a worker, ${c}) → prefetch(${p}) → trainOn` })),
    { name: 'change:auto', impl: 'rxdata', label: "guide replica, map cost ×4 after a third: concurrency 'auto'" },
    { name: 'change:c4', impl: 'rxdata', label: 'guide replica, map cost ×4 after a third: concurrency 4 (best before the change)' },
  ];
}

/**
 * How much the peak RSS of one case varies from run to run (GC timing, tfjs' and the worker
 * threads' heaps) at least: measured here at up to 6 % between two runs of the same training
 * case. A pipeline holding a few hundred small elements more or less moves it by far less; the
 * in-flight columns show what the pipeline itself held. With several runs, the verdict allows the
 * largest spread between runs of one case that this run measured, if larger.
 */
const RSS_NOISE = 0.03;

/** The grid's best case of a family (most elements per second), and the auto case. */
function pick(by: ReadonlyMap<string, Summary>, family: string): { auto: Summary; best: Summary } {
  const grid = [...by.values()].filter((s) => s.spec.name.startsWith(`${family}:`) && !s.spec.name.endsWith(':auto'));
  const best = grid.reduce((a, b) => (b.metrics.elementsPerS > a.metrics.elementsPerS ? b : a));
  return { auto: by.get(`${family}:auto`)!, best };
}

export const autotune: ScenarioDef = {
  id: 19,
  title: "Autotune: 'auto' against the best of a grid search, same run",
  cases: () => cases(),
  report(by, quick) {
    const rows = [...by.values()].map((s) => [
      s.spec.name,
      s.spec.label,
      fmt(s.ms),
      fmt(s.metrics.elementsPerS),
      Object.entries(s.metrics)
        .filter(([k]) => k.startsWith('final '))
        .map(([k, v]) => `${k.slice(6)} ${fmt(v)}`)
        .join(', ') || '–',
      fmt(s.metrics.runPeakRssMiB),
      s.maxInFlight === undefined ? '–' : fmt(s.maxInFlight),
      fmt(s.metrics.meanInFlight),
    ]);
    // The run-to-run noise of peak RSS, as this run measured it (the largest spread of one case).
    const rssNoise = Math.max(RSS_NOISE, ...[...by.values()].map((s) => s.spread.runPeakRssMiB ?? 0));
    // With --cases, only the families that ran.
    const ran = (family: string): boolean => by.has(`${family}:auto`) && [...by.keys()].some((n) => n.startsWith(`${family}:`) && n !== `${family}:auto`);
    const verdicts = ['guide', 'cpu', 'train'].filter(ran).map((family) => {
      const { auto, best } = pick(by, family);
      const share = auto.metrics.elementsPerS / best.metrics.elementsPerS;
      const a = auto.metrics.runPeakRssMiB;
      const b = best.metrics.runPeakRssMiB;
      // Peak memory is the process's peak RSS, no higher within the spread two runs of one case
      // showed in this run; the elements in flight say what the knobs themselves held (a slot or
      // a batch more is kilobytes here, far below that spread).
      const rssOk = a <= b * (1 + rssNoise);
      return {
        target: `${family}: autotuned ≥ 95 % of the grid's best, peak memory no higher (median peak RSS, within the ${(100 * rssNoise).toFixed(1)} % runs of one case varied by in this run)`,
        measured: `${(100 * share).toFixed(1)} % of ${best.spec.name} (${fmt(auto.metrics.elementsPerS)} vs ${fmt(best.metrics.elementsPerS)}/s); in flight max ${fmt(auto.maxInFlight)} vs ${fmt(best.maxInFlight)}, mean ${fmt(auto.metrics.meanInFlight)} vs ${fmt(best.metrics.meanInFlight)}; peak RSS ${fmt(a)} vs ${fmt(b)} MiB (medians, ${(100 * (a / b - 1)).toFixed(1)} %)`,
        holds: share >= 0.95 && rssOk,
      };
    });
    const fixed = by.get('change:c4');
    if (ran('change') && fixed) {
      const ch = by.get('change:auto')!.metrics;
      verdicts.push({
        target: 'work change (map cost ×4) re-tuned within 5 s',
        measured: `first raise ${fmt(ch.retuneMs / 1000)} s after the change, throughput back to 90 % after ${fmt(ch.recoverMs / 1000)} s (concurrency 4 fixed: ${Number.isFinite(fixed.metrics.recoverMs) ? `${fmt(fixed.metrics.recoverMs / 1000)} s` : 'never'}; epoch ${fmt(by.get('change:auto')!.ms)} vs ${fmt(fixed.ms)} ms)`,
        holds: ch.retuneMs <= 5000 && ch.recoverMs <= 5000,
      });
    }
    return {
      title: `${autotune.title}${quick ? ' (quick)' : ''}`,
      table: table(['case', 'pipeline', 'median ms', 'elements/s', 'tuned to (median)', 'peak RSS MiB (median)', 'max in flight', 'mean in flight'], rows),
      verdicts,
      notes: [
        "The auto cases start from the tuner's defaults (concurrency at the cores, prefetch at 1, nothing measured yet): their time includes finding the values. The auto and grid cases of a family run the same code but for the knobs. The train case carries the values from epoch to epoch (one operator chain, as fit does).",
        `Grid: guide concurrency ${[...new Set(GUIDE_GRID.map(([c]) => c))].join(', ')} × prefetch ${[...new Set(GUIDE_GRID.map(([, p]) => p))].join(', ')}; cpu concurrency ${CPU_GRID.join(', ')}; train concurrency ${[...new Set(TRAIN_GRID.map(([c]) => c))].join(', ')} × prefetch ${[...new Set(TRAIN_GRID.map(([, p]) => p))].join(', ')}. The decisive run: \`npm run bench -- --scenario 19 --runs 2\` on a quiet machine (about 11 minutes on 2 cores), and \`--runs 5 --cases train\` (the training feed's runs of one configuration differ by up to 40 %).`,
        'What each auto run chose, when and why (its stats.format()): bench/results/autotune-guide.txt, -cpu.txt, -train.txt, -change.txt (the last measured run).',
        `Change: the guide replica with the map's cost going from ${MAP_MS} to ${4 * MAP_MS} ms after a third of the elements; "back to 90 %" = the first 1-s window after the change whose rate is ≥ 90 % of the rate over the 2 s before it.`,
        'Peak RSS: the child process\'s maximum resident set (Node, tsx, the warm-up run and the pipeline), read as each pipeline ends, before the statistics are formatted; the median over the runs. Every case runs the same code around its pipeline (the same statistics object, formatted after the run; an auto case only also writes the text), so the processes differ only in the knobs.',
        '"In flight": elements pulled from the source and not yet consumed; max = its worst instant over the runs (a tuner\'s probe above the value it keeps shows here), mean = its time-weighted mean over the run (median over the runs).',
      ],
    };
  },
};
