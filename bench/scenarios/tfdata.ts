/**
 * Scenario 7, against tf.data itself: the same files, written by TensorFlow (bench/tfdata/tfdata.py
 * write), read by each side's best pipeline, alternating case by case.
 *
 * - TFRecord: 4 shards of tf.train.Examples (64 floats `x`, int64 `label`) → interleave 4 →
 *   shuffle(10,000) → batch(256) → parse the batch → prefetch. tf.data: AUTOTUNE everywhere,
 *   `parse_example` on the batch. rxdata: raw records shuffled, `parseExampleBatch` on the batch
 *   (and, beside it, the Example decoded in the source, record by record).
 * - CSV: the same rows as 4 CSV shards; tf.data `decode_csv` on the batch; rxdata's numeric CSV
 *   fast path (`format: 'csv', labels`) → shuffle → batch.
 * - Image: JPEG (320×240) decode + resize to 224×224, batch 32: tf.data `decode_jpeg` +
 *   `resize` (AUTOTUNE parallel map) vs `fromImageFolder({ size })`.
 * - Training feed: a 64-128-10 MLP (batch 256) fed by the TFRecord pipeline vs trained on the same
 *   batches held in memory, one epoch each, in the same process: stall = 1 − ceiling ÷ fed.
 *   Keras `fit` on CPU TensorFlow vs `trainOn` on tfjs wasm: the backends differ, so only the
 *   stall compares.
 *
 * Python: `RXDATA_PYTHON`, else `.venv/bin/python` in the repository, else `python3`, whichever
 * imports tensorflow. Without one the scenario says so in one line and the rest of the bench runs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bufferCount, defer, lastValueFrom, map, mergeMap, take, toArray, type Observable } from 'rxjs';
import { fromIterable } from '../../src/fromIterable.js';
import { batch } from '../../operators/batch.js';
import { consume } from '../../operators/consume.js';
import { prefetch } from '../../operators/prefetch.js';
import { shuffle } from '../../operators/shuffle.js';
import { fromFiles, fromImageFolder } from '../../connectors/files/index.js';
import { parseExampleBatch } from '../../connectors/files/exampleBatch.js';
import { readdir, readFile } from 'node:fs/promises';
import { parallelMap } from '../../operators/parallelMap.js';
import { decodeImageAsync, imageFolderClasses } from '../../connectors/files/images.js';
import { trainOn, type StepResult } from '../../src/train/trainOn.js';
import { fromWorkers } from '../../src/workers/fromWorkers.js';
import type { TFRecordHeadArgs, XY as HeadXY } from '../tasks/tfrecordHead.js';
import type { CountedBatch, FilesBatchHeadArgs } from '../tasks/filesBatchHead.js';
import { availableCores } from '../../src/workers/cores.js';
import type { NDArray } from '../../src/types.js';
import { InFlight, fmt, memoryCells, memoryHeader, ratio, table, useBackend, type CaseResult, type CaseSpec, type RunOptions, type ScenarioDef, type ScenarioRunner, type Summary } from '../lib.js';

const FEATURES = 64;
const CLASSES = 10;
const BATCH = 256;
const WINDOW = 10_000;
const IMAGE_BATCH = 32;
/** Images decoded at once in the parallel image case: libuv's pool has 4 threads. */
const IMAGE_CONCURRENCY = 4;
const rows = (quick: boolean): number => (quick ? 40_000 : 200_000);
const images = (quick: boolean): number => (quick ? 120 : 480);
const spec = { x: { type: 'float', shape: [FEATURES] }, label: { type: 'int64', shape: [] } } as const;

const repo = fileURLToPath(new URL('../..', import.meta.url));
const script = fileURLToPath(new URL('../tfdata/tfdata.py', import.meta.url));
const dataDir = (quick: boolean): string => join(tmpdir(), `rxdata-bench-tfdata-${rows(quick)}-${images(quick)}`);

/** The Python that imports tensorflow, or undefined. */
function findPython(): string | undefined {
  const candidates = [process.env.RXDATA_PYTHON, join(repo, '.venv/bin/python'), 'python3'].filter((c): c is string => !!c);
  for (const python of candidates) {
    if (python.includes('/') && !existsSync(python)) continue;
    // Finds the package without importing it (an import takes seconds, minutes on a loaded machine).
    const probe = spawnSync(python, ['-c', 'import importlib.util, sys; sys.exit(importlib.util.find_spec("tensorflow") is None)'], { stdio: 'ignore', timeout: 60_000 });
    if (probe.status === 0) return python;
  }
  return undefined;
}

function python(): string {
  const found = process.env.RXDATA_PYTHON ?? findPython();
  if (!found) throw new Error('no Python with tensorflow');
  return found;
}

/** Runs tfdata.py with `args`; resolves its `@@tfdata` JSON line (or undefined for `write`). */
function runPython(args: string[]): Promise<Record<string, number> | undefined> {
  return new Promise((resolve, reject) => {
    const child = spawn(python(), [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('@@tfdata '));
      if (code !== 0) reject(new Error(`tfdata.py ${args.join(' ')} exited ${code}: ${err.slice(-1500)}`));
      else resolve(line ? (JSON.parse(line.slice(9)) as Record<string, number>) : undefined);
    });
  });
}

/** Writes the data set with TensorFlow, once per size (kept in the temp directory across runs). */
async function ensureData(quick: boolean): Promise<string> {
  const dir = dataDir(quick);
  if (!existsSync(join(dir, 'done'))) await runPython(['write', dir, String(rows(quick)), String(images(quick))]);
  return dir;
}

/** Counts elements at the sink; `n` per batch. */
async function drain<B>(batches$: Observable<B>, size: (b: B) => number, flight: InFlight): Promise<number> {
  let n = 0;
  await lastValueFrom(
    batches$.pipe(
      consume((b: B) => {
        const k = size(b);
        n += k;
        flight.consume(k);
      }),
      toArray(),
    ),
  );
  return n;
}

type XY = { x: NDArray; label: NDArray };

/** rxdata's pipelines, by case. `limit` cuts the warm-up short. */
function pipeline(caseName: string, dir: string, flight: InFlight, limit: number): Observable<{ n: number; batch: unknown }> {
  const counted = <T>(source: Observable<T>): Observable<T> =>
    source.pipe(
      take(limit),
      map((r) => {
        flight.pull();
        return r;
      }),
    );
  switch (caseName) {
    case 'rxdata-tfrecord': {
      const parse = parseExampleBatch(spec);
      return counted(fromFiles(join(dir, '*.tfrecord'), { format: 'tfrecord', cycleLength: 4 })).pipe(
        shuffle(WINDOW),
        bufferCount(BATCH),
        map((records) => parse(records)),
        prefetch(2),
        map((b) => ({ n: b.label.shape[0], batch: b })),
      );
    }
    case 'rxdata-tfrecord-elementwise':
      return counted(fromFiles(join(dir, '*.tfrecord'), { format: 'tfrecord', cycleLength: 4, example: spec })).pipe(
        shuffle(WINDOW),
        batch(BATCH),
        prefetch(2),
        map((b) => ({ n: b.label.shape[0], batch: b })),
      );
    case 'rxdata-csv':
      return counted(fromFiles(join(dir, '*.csv'), { format: 'csv', labels: ['label'], columns: { label: { type: 'int' } }, cycleLength: 4 })).pipe(
        shuffle(WINDOW),
        batch(BATCH),
        prefetch(2),
        map((b) => ({ n: b.ys.shape[0], batch: b })),
      );
    case 'rxdata-tfrecord-workers':
    case 'rxdata-csv-workers':
      return onEveryCore(caseName, dir, flight, limit);
    case 'rxdata-image':
      return counted(fromImageFolder(join(dir, 'images'), { size: [224, 224], channels: 3 })).pipe(
        map(({ image, label }) => ({ image, label })),
        batch(IMAGE_BATCH),
        prefetch(2),
        map((b) => ({ n: b.label.shape[0], batch: b })),
      );
    case 'rxdata-image-parallel': {
      // Several images in flight: sharp decodes on libuv's thread pool, so both cores work.
      const root = join(dir, 'images');
      const files = defer(async () => {
        const classes = await imageFolderClasses(root);
        const all: { path: string; label: number }[] = [];
        for (const [label, name] of classes.entries()) for (const f of (await readdir(join(root, name))).sort()) all.push({ path: join(root, name, f), label });
        return all;
      }).pipe(mergeMap((all) => fromIterable(all)));
      return counted(files).pipe(
        parallelMap(async ({ path, label }) => ({ image: await decodeImageAsync(await readFile(path), { size: [224, 224], channels: 3, origin: path }), label }), { concurrency: IMAGE_CONCURRENCY }),
        batch(IMAGE_BATCH),
        prefetch(2),
        map((b) => ({ n: b.label.shape[0], batch: b })),
      );
    }
    default:
      throw new Error(`no case ${caseName}`);
  }
}

/** The throughput heads' worker threads: every core, as the main thread only counts what arrives. */
const THROUGHPUT_WORKERS = availableCores();
/** Rows the throughput heads handed out, counted in shared memory by the workers. */
const throughputPulls = new Int32Array(new SharedArrayBuffer(4));
/** The throughput cases' workers, made once per process: the warm-up run starts the threads, the measured run reuses them (keepAliveMs), as tf.data's pool is up before its timed epoch. */
const throughputHeads = new Map<string, Observable<CountedBatch>>();

/**
 * The one-thread pipeline on every core: `fromWorkers` runs it on each worker's shard of the
 * files (2 of the 4 on 2 cores), the main thread counts batches. The shuffle window is split
 * between the workers, so the rows held are the one-thread case's.
 */
function onEveryCore(caseName: string, dir: string, flight: InFlight, limit: number): Observable<{ n: number; batch: unknown }> {
  const format = caseName === 'rxdata-csv-workers' ? 'csv' : 'tfrecord';
  let heads = throughputHeads.get(format);
  if (!heads) {
    const args: FilesBatchHeadArgs = { format, pattern: join(dir, `*.${format}`), batch: BATCH, window: Math.ceil(WINDOW / THROUGHPUT_WORKERS), features: FEATURES, pulls: throughputPulls };
    heads = fromWorkers<CountedBatch, FilesBatchHeadArgs>(new URL('../tasks/filesBatchHead.ts', import.meta.url), { workers: THROUGHPUT_WORKERS, credit: 8, keepAliveMs: 600_000, args });
    throughputHeads.set(format, heads);
  }
  Atomics.store(throughputPulls, 0, 0);
  return heads.pipe(
    take(Number.isFinite(limit) ? Math.ceil(limit / BATCH) : Infinity),
    map((b) => {
      flight.pulled = Atomics.load(throughputPulls, 0);
      flight.max = Math.max(flight.max, flight.pulled - flight.consumed);
      return b;
    }),
  );
}

/** Records the fromWorkers head handed out, counted in shared memory by the worker. */
const headPulls = new Int32Array(new SharedArrayBuffer(4));
const headUrl = new URL('../tasks/tfrecordHead.ts', import.meta.url);
/** The feed on worker threads, made once per process: the warm-up run starts its threads, the measured epoch reuses them (keepAliveMs). */
let onWorkers: Observable<HeadXY> | undefined;

/**
 * The training feed: one epoch fed by the TFRecord pipeline, one on the same batches in memory
 * (the ceiling), each on its own model. `workers`: the pipeline runs on worker threads
 * (`fromWorkers`, workers 'auto'), the step on the main thread.
 */
async function feed(dir: string, flight: InFlight, limit: number, workers: boolean): Promise<CaseResult> {
  const tf = await useBackend('wasm');
  const model = (): ReturnType<typeof tf.sequential> => {
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [FEATURES], units: 128, activation: 'relu' }), tf.layers.dense({ units: CLASSES, activation: 'softmax' })] });
    m.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
    return m;
  };
  const parse = parseExampleBatch(spec);
  const toXY = (b: XY): { xs: NDArray; ys: NDArray } => {
    const n = b.label.shape[0];
    const ys = new Float32Array(n * CLASSES);
    for (let i = 0; i < n; i++) ys[i * CLASSES + b.label.data[i]] = 1;
    return { xs: b.x, ys: { data: ys, shape: [n, CLASSES] } };
  };
  const local$ = fromFiles(join(dir, '*.tfrecord'), { format: 'tfrecord', cycleLength: 4 }).pipe(
    take(limit),
    map((r) => (flight.pull(), r)),
    shuffle(WINDOW),
    bufferCount(BATCH),
    map((records) => toXY(parse(records))),
    prefetch(2),
  );
  onWorkers ??= workers
    ? fromWorkers<HeadXY, TFRecordHeadArgs>(headUrl, {
        workers: 'auto',
        credit: 8,
        keepAliveMs: 600_000,
        args: { pattern: join(dir, '*.tfrecord'), batch: BATCH, window: WINDOW, features: FEATURES, classes: CLASSES, pulls: headPulls },
      })
    : undefined;
  const epoch$ = workers ? onWorkers!.pipe(take(Number.isFinite(limit) ? Math.ceil(limit / BATCH) : Infinity)) : local$;
  // The ceiling's batches: the same pipeline collected before the clock starts, as tensors.
  const held = (await lastValueFrom(local$.pipe(toArray()))).map((b) => ({ xs: tf.tensor2d(b.xs.data as Float32Array, [b.xs.shape[0], FEATURES]), ys: tf.tensor2d(b.ys.data as Float32Array, [b.ys.shape[0], CLASSES]) }));
  const ceilingModel = model();
  const fedModel = model();
  let t0 = performance.now();
  for (const b of held) await ceilingModel.trainOnBatch(b.xs, b.ys);
  const ceilingMs = performance.now() - t0;
  flight.pulled = flight.consumed = flight.max = 0;
  Atomics.store(headPulls, 0, 0);
  const counted = (r: StepResult): void => {
    if (workers) {
      flight.pulled = Atomics.load(headPulls, 0);
      flight.max = Math.max(flight.max, flight.pulled - flight.consumed);
    }
    flight.consume(r.size);
  };
  const elu0 = performance.eventLoopUtilization();
  t0 = performance.now();
  const steps = await lastValueFrom(epoch$.pipe(trainOn(fedModel, { afterStep: counted }), toArray()));
  const ms = performance.now() - t0;
  const mainBusy = performance.eventLoopUtilization(elu0).utilization;
  tf.dispose(held.flatMap((b) => [b.xs, b.ys]));
  ceilingModel.dispose();
  fedModel.dispose();
  const items = steps.reduce((a, s) => a + s.size, 0);
  const waitMs = steps.reduce((a, s) => a + s.waitMs, 0);
  const stepMs = steps.reduce((a, s) => a + s.stepMs, 0);
  return {
    ms,
    items,
    maxInFlight: flight.max,
    // stallPct: the epoch's time over the ceiling's; waitPct: trainOn's own count of time spent waiting for a batch.
    metrics: { perS: (items / ms) * 1000, ceilingMs, stallPct: 100 * Math.max(0, 1 - ceilingMs / ms), waitPct: (100 * waitMs) / (waitMs + stepMs), stepMs: stepMs / steps.length, ceilingStepMs: ceilingMs / held.length, mainBusy },
  };
}

export const runner: ScenarioRunner = {
  async run(caseName, options: RunOptions) {
    const dir = await ensureData(options.quick);
    const flight = new InFlight();
    if (caseName.startsWith('tfdata-')) {
      // tf.data warms up inside its own process (tracing, page cache) before its timed epoch.
      if (options.warmup) return { ms: 0, items: 0 };
      const r = (await runPython(['run', dir, caseName.slice(7)]))!;
      return { ms: r.ms, items: r.items, metrics: { perS: r.perS, ...(r.cpuMs !== undefined ? { cores: r.cpuMs / r.ms } : {}), ...(r.stall !== undefined ? { ceilingMs: r.ceilingMs, stallPct: 100 * r.stall } : {}) } };
    }
    // The warm-up pass is long enough for the JIT to reach its optimised code (a quarter epoch, at least 40,000 rows).
    const limit = options.warmup ? (caseName.startsWith('rxdata-image') ? 2 * IMAGE_BATCH : Math.max(40_000, rows(options.quick) / 4)) : Infinity;
    if (caseName === 'rxdata-fit' || caseName === 'rxdata-fit-workers') return feed(dir, flight, limit, caseName === 'rxdata-fit-workers');
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const items = await drain(pipeline(caseName, dir, flight, limit), (b) => b.n, flight);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    // Cores busy on average (the JS thread plus libuv's file reads): near 1 means one thread bound by its own work.
    return { ms, items, maxInFlight: flight.max, metrics: { perS: (items / ms) * 1000, cores: (cpu.user + cpu.system) / 1000 / ms } };
  },
};

/** Cores kept busy on average (process CPU time ÷ wall time), when measured. */
const cores = (s: Summary): string => (s.metrics.cores === undefined ? '–' : s.metrics.cores.toFixed(2));

/** Each work's tf.data case and rxdata's pipelines for it: the row and the verdict take the fastest of those that ran. */
const PAIRS = [
  { work: 'TFRecord → Example → batch', tf: 'tfdata-tfrecord', rx: ['rxdata-tfrecord-workers', 'rxdata-tfrecord'] },
  { work: 'CSV → floats → batch', tf: 'tfdata-csv', rx: ['rxdata-csv-workers', 'rxdata-csv'] },
  { work: `JPEG 320×240 → decode + resize 224 → batch ${IMAGE_BATCH}`, tf: 'tfdata-image', rx: ['rxdata-image-parallel'] },
] as const;

/** rxdata's fastest pipeline for a work, among the cases that ran. */
function fastest(by: ReadonlyMap<string, Summary>, names: readonly string[]): Summary | undefined {
  return names
    .map((n) => by.get(n))
    .filter((s): s is Summary => s !== undefined)
    .reduce<Summary | undefined>((best, s) => (!best || s.metrics.perS > best.metrics.perS ? s : best), undefined);
}

const CASES: readonly CaseSpec[] = [
  { name: 'tfdata-tfrecord', impl: 'loop', label: `tf.data: interleave(4, AUTOTUNE) → shuffle(${WINDOW}) → batch(${BATCH}) → map(parse_example) → prefetch(AUTOTUNE)` },
  { name: 'rxdata-tfrecord', impl: 'rxdata', label: `fromFiles(cycleLength 4) → shuffle(${WINDOW}) → bufferCount(${BATCH}) → map(parseExampleBatch) → prefetch(2)` },
  { name: 'rxdata-tfrecord-elementwise', impl: 'rxdata', label: `fromFiles(cycleLength 4, example) → shuffle(${WINDOW}) → batch(${BATCH}) → prefetch(2)` },
  {
    name: 'rxdata-tfrecord-workers',
    impl: 'rxdata',
    label: `fromWorkers(head: fromFiles(its shard) → shuffle(${WINDOW} ÷ workers) → bufferCount(${BATCH}) → map(parseExampleBatch), a worker per core, credit 8): every core reads and parses`,
  },
  { name: 'tfdata-csv', impl: 'loop', label: `tf.data: interleave(TextLineDataset, 4, AUTOTUNE) → shuffle(${WINDOW}) → batch(${BATCH}) → map(decode_csv) → prefetch(AUTOTUNE)` },
  { name: 'rxdata-csv', impl: 'rxdata', label: `fromFiles(csv, labels, cycleLength 4) → shuffle(${WINDOW}) → batch(${BATCH}) → prefetch(2)` },
  {
    name: 'rxdata-csv-workers',
    impl: 'rxdata',
    label: `fromWorkers(head: fromFiles(csv, labels, its shard) → shuffle(${WINDOW} ÷ workers) → batch(${BATCH}), a worker per core, credit 8): every core reads and parses`,
  },
  { name: 'tfdata-image', impl: 'loop', label: `tf.data: map(read_file → decode_jpeg → resize, AUTOTUNE) → batch(${IMAGE_BATCH}) → prefetch(AUTOTUNE)` },
  { name: 'rxdata-image', impl: 'rxdata', label: `fromImageFolder(size 224×224, decoder auto: sharp where installed) → batch(${IMAGE_BATCH}) → prefetch(2)` },
  { name: 'rxdata-image-parallel', impl: 'rxdata', label: `file list → parallelMap(readFile → decodeImageAsync(size 224×224), ${IMAGE_CONCURRENCY} at once) → batch(${IMAGE_BATCH}) → prefetch(2)` },
  { name: 'tfdata-fit', impl: 'loop', label: 'Keras fit (CPU TensorFlow) on the TFRecord pipeline vs on the same batches cached in memory' },
  { name: 'rxdata-fit', impl: 'rxdata', label: 'trainOn (tfjs wasm) on the TFRecord pipeline, one thread, vs trainOnBatch on the same batches as tensors' },
  { name: 'rxdata-fit-workers', impl: 'rxdata', label: "fromWorkers(TFRecord head, workers 'auto', credit 8) → trainOn (tfjs wasm): the pipeline on a worker, the step on the main thread" },
];

let pythonProbe: Promise<string | undefined> | undefined;

export const tfdata: ScenarioDef = {
  id: 7,
  title: 'tf.data itself: the same files written by TensorFlow, each side’s best pipeline',
  async pending() {
    pythonProbe ??= Promise.resolve(findPython());
    const found = await pythonProbe;
    if (!found) return 'Python TensorFlow not found (set RXDATA_PYTHON, or make .venv with tensorflow-cpu): tf.data comparison skipped';
    // The cases' processes inherit it.
    process.env.RXDATA_PYTHON = found;
    return undefined;
  },
  cases: () => CASES,
  report(by, quick) {
    // `--cases` may run any subset: each row, verdict and note reads only the cases that ran.
    const get = (name: string): Summary => by.get(name)!;
    const pairs = PAIRS.map((p) => ({ ...p, t: by.get(p.tf), r: fastest(by, p.rx) })).filter((p): p is typeof p & { t: Summary; r: Summary } => !!p.t && !!p.r);
    const rowsOf = pairs.map(({ work, t, r }) => [`${work} (${r.spec.name})`, fmt(t.metrics.perS), fmt(r.metrics.perS), ratio(r.metrics.perS, t.metrics.perS), cores(t), cores(r), fmt(t.peakRssMiB), ...memoryCells(r)]);
    const fits = ['tfdata-fit', 'rxdata-fit', 'rxdata-fit-workers'].map((n) => by.get(n)).filter((s): s is Summary => s !== undefined);
    const tfFit = by.get('tfdata-fit');
    const rxFit = by.get('rxdata-fit');
    const rxFitWorkers = by.get('rxdata-fit-workers');
    const tfImage = by.get('tfdata-image');
    const rxImage = by.get('rxdata-image-parallel');
    /** CPU per element and the cores kept busy: what bounds a throughput case, measured. */
    const perElement = (s: Summary): string => `${fmt((1e6 * (s.metrics.cores ?? NaN)) / s.metrics.perS)} µs CPU/element on ${cores(s)} cores`;
    const verdict = (target: string, pair: (typeof PAIRS)[number]) => {
      const rx = fastest(by, pair.rx);
      const tf = by.get(pair.tf);
      if (!rx || !tf) return [];
      const x = rx.metrics.perS / tf.metrics.perS;
      // The other pipeline's ratio beside the fastest's, so a reader sees both.
      const others = pair.rx
        .filter((n) => n !== rx.spec.name && by.has(n))
        .map((n) => `; ${n}: ${(get(n).metrics.perS / tf.metrics.perS).toFixed(2)}×`)
        .join('');
      const note = x >= 1 ? undefined : `bounded by CPU: rxdata ${perElement(rx)}, tf.data ${perElement(tf)}`;
      return [{ target, measured: `${x.toFixed(2)}× (${rx.spec.name}: ${fmt(rx.metrics.perS)} vs ${fmt(tf.metrics.perS)} elements/s${others})`, holds: x >= 1, note }];
    };
    const stallOf = (s: Summary | undefined, label: string): string => (s ? `${label} ${s.metrics.stallPct.toFixed(1)} %` : '');
    return {
      title: `${tfdata.title}: ${fmt(rows(quick))} Examples of ${FEATURES} floats + label in 4 shards, ${images(quick)} JPEGs`,
      table: [
        table(['work', 'tf.data elements/s', 'rxdata elements/s', 'rxdata ÷ tf.data', 'tf.data cores busy', 'rxdata cores busy', 'tf.data peak RSS MiB', 'rxdata peak RSS MiB', 'max in flight'], rowsOf),
        '',
        table(
          ['case', 'pipeline', 'median ms', 'elements/s', ...memoryHeader],
          CASES.filter((c) => !c.name.endsWith('-fit') && by.has(c.name)).map((c) => {
            const s = get(c.name);
            return [s.spec.name, s.spec.label, fmt(s.ms), fmt(s.metrics.perS), ...memoryCells(s)];
          }),
        ),
        '',
        table(
          ['training feed', 'pipeline', 'fed epoch ms', 'in-memory epoch ms', 'input stall (1 − in-memory ÷ fed)', 'waiting for a batch', 'main thread busy'],
          fits.map((s) => [
            s.spec.name,
            s.spec.label,
            fmt(s.ms),
            fmt(s.metrics.ceilingMs),
            `${s.metrics.stallPct.toFixed(1)} %`,
            s.metrics.waitPct === undefined ? '–' : `${s.metrics.waitPct.toFixed(1)} %`,
            s.metrics.mainBusy === undefined ? '–' : `${(100 * s.metrics.mainBusy).toFixed(0)} %`,
          ]),
        ),
      ].join('\n'),
      verdicts: [...verdict('TFRecord ≥ 1.0× tf.data elements/s', PAIRS[0]), ...verdict('CSV ≥ 1.0× tf.data elements/s', PAIRS[1])],
      notes: [
        'Both sides read the same files, written by TensorFlow (`bench/tfdata/tfdata.py write`), cached in the temp directory; each timed run is one full epoch after a warm-up pass in the same process.',
        'tf.data runs its pipeline on its own thread pool (all cores). rxdata: the plain cases on the one JavaScript thread; the `-workers` cases run the same pipeline on a worker thread per core (`fromWorkers`, each on its shard of the files), the main thread only counting batches; "cores busy" is process CPU time ÷ wall time. The summary row and the verdict take rxdata\'s fastest pipeline for the work (named in the row). Elements/s count rows (images) out of the last stage.',
        'Medians over runs; tf.data figures come from a fresh Python process per run (TensorFlow start-up not timed).',
        ...(fits.length > 0
          ? [
              `Training feed: input stall = 1 − in-memory epoch ÷ fed epoch, each side on its own backend: ${[stallOf(rxFit, 'rxdata on one thread'), stallOf(rxFitWorkers, 'rxdata with the pipeline on a worker'), stallOf(tfFit, 'Keras on tf.data (its parse threads and its training kernels share the 2 cores)')].filter(Boolean).join(', ')}. "Waiting for a batch" is trainOn's own count (waitMs ÷ (waitMs + stepMs)); the rest of the gap is the step itself running slower than on held tensors (tensors made from arrays, a core shared with the pipeline).`,
            ]
          : []),
        ...(tfImage && rxImage
          ? [
              `Image row, what bounds it (CPU per image, process CPU time ÷ images): tf.data ${perElement(tfImage)}, rxdata ${perElement(rxImage)} (sharp: libvips decode + resize + its per-call set-up, and the RGBA → RGB copy in JS).`,
              'Image row: rxdata\'s best pipeline (several sharp decodes in flight on libuv\'s pool); `fromImageFolder` decodes one image at a time (its row in the case table).',
            ]
          : []),
      ],
    };
  },
};
