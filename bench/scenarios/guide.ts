/**
 * Scenario 2, a replica of tf.data's performance guide: a source with an open latency and a
 * per-element read latency, a map with a cost, a training step with a cost; epoch time ÷ the
 * ideal (the slowest stage's total) for naive, +prefetch, +parallel map and +cache.
 *
 * Every cost is an async sleep: reads wait on I/O, the map stands for work done off the main
 * thread (a worker pool, native decoding), the step for a device (GPU) step. A busy-wait would
 * hold the one JavaScript thread, and nothing could overlap it: CPU-bound maps are scenario 3.
 */
import { count, lastValueFrom, type Observable } from 'rxjs';
import { batch } from '../../operators/batch.js';
import { cache } from '../../operators/cache.js';
import { consume } from '../../operators/consume.js';
import { parallelMap } from '../../operators/parallelMap.js';
import { prefetch } from '../../operators/prefetch.js';
import { fromIterable } from '../../src/fromIterable.js';
import { InFlight, fmt, memoryCells, memoryHeader, sleep, table, type CaseResult, type CaseSpec, type RunOptions, type ScenarioDef, type ScenarioRunner, type Summary } from '../lib.js';

export const OPEN_MS = 20;
export const READ_MS = 5;
const MAP_MS = 10;
const STEP_MS = 20;
const BATCH = 10;
const PARALLEL = 4;
const elements = (o: RunOptions): number => (o.warmup ? 20 : o.quick ? 60 : 300);

export type Element = { x: Float32Array; y: number };

/** The replica's source: opening a file, then a slow sequential read per element. */
export function source(n: number, flight: InFlight): () => AsyncGenerator<Element> {
  return async function* () {
    await sleep(OPEN_MS);
    for (let i = 0; i < n; i++) {
      await sleep(READ_MS);
      flight.pull();
      yield { x: new Float32Array(8).fill(i), y: i % 10 };
    }
  };
}
const mapFn = async (e: Element): Promise<Element> => {
  await sleep(MAP_MS);
  return e;
};
const step = (flight: InFlight) => async (size: number): Promise<void> => {
  await sleep(STEP_MS);
  flight.consume(size);
};

async function rxdata(variant: string, n: number): Promise<CaseResult> {
  const flight = new InFlight();
  const train = step(flight);
  const concurrency = variant === 'naive' || variant === 'prefetch' ? 1 : PARALLEL;
  const cached = variant === 'cache' ? cache<Element>() : undefined;
  const epoch = (): Observable<number> => {
    let mapped = fromIterable(source(n, flight)).pipe(parallelMap(mapFn, { concurrency }));
    if (cached) mapped = mapped.pipe(cached);
    const batches = mapped.pipe(batch(BATCH));
    return (variant === 'naive' ? batches : batches.pipe(prefetch(2))).pipe(
      consume((b) => train(b.y.shape[0])),
      count(),
    );
  };
  if (cached) {
    // Epoch 1 fills the cache; epoch 2, measured, never touches the source or the map.
    await lastValueFrom(epoch());
    flight.pulled = flight.consumed = flight.max = 0;
  }
  const t0 = performance.now();
  await lastValueFrom(epoch());
  return { ms: performance.now() - t0, items: flight.consumed, maxInFlight: cached ? undefined : flight.max };
}

async function tfjsData(variant: string, n: number): Promise<CaseResult> {
  const tf = await import('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  const flight = new InFlight();
  const train = step(flight);
  const t0 = performance.now();
  type TC = import('@tensorflow/tfjs').TensorContainer;
  let ds = tf.data.generator(source(n, flight) as unknown as () => AsyncIterator<TC>).mapAsync((e) => mapFn(e as unknown as Element) as unknown as Promise<TC>);
  // tfjs-data has no parallel map; a prefetch right after mapAsync asks for several elements at
  // once, and its iterators do not serialise mapAsync, so calls overlap: the nearest it gets.
  if (variant === 'parallel') ds = ds.prefetch(PARALLEL);
  ds = ds.batch(BATCH);
  if (variant !== 'naive') ds = ds.prefetch(2);
  // Pulled with iterator.next() and each step awaited, as fitDataset does (forEachAsync would
  // not wait for an async step).
  const it = await ds.iterator();
  for (let r = await it.next(); !r.done; r = await it.next()) {
    const { x, y } = r.value as { x: import('@tensorflow/tfjs').Tensor; y: import('@tensorflow/tfjs').Tensor };
    const size = y.shape[0];
    tf.dispose([x, y]);
    await train(size);
  }
  return { ms: performance.now() - t0, items: flight.consumed, maxInFlight: flight.max };
}

/** The sequential loop a first attempt would write: read, map, batch, step, one after another. */
async function loop(n: number): Promise<CaseResult> {
  const flight = new InFlight();
  const train = step(flight);
  const t0 = performance.now();
  let held: Element[] = [];
  for await (const e of source(n, flight)()) {
    held.push(await mapFn(e));
    if (held.length === BATCH) {
      await train(held.length);
      held = [];
    }
  }
  if (held.length) await train(held.length);
  return { ms: performance.now() - t0, items: flight.consumed, maxInFlight: flight.max };
}

/** Each stage alone, as fast as it goes: the slowest of these is the ideal epoch. */
async function stage(which: string, n: number): Promise<CaseResult> {
  const flight = new InFlight();
  const t0 = performance.now();
  if (which === 'read') {
    for await (const _ of source(n, flight)()) flight.consume(1);
  } else if (which === 'map') {
    // The map at the parallel variants' concurrency.
    const e: Element = { x: new Float32Array(8), y: 0 };
    for (let i = 0; i < n; i += PARALLEL) await Promise.all(Array.from({ length: Math.min(PARALLEL, n - i) }, () => mapFn(e)));
    flight.consume(n);
  } else {
    const train = step(flight);
    for (let i = 0; i < n; i += BATCH) await train(Math.min(BATCH, n - i));
  }
  return { ms: performance.now() - t0, items: n };
}

export const runner: ScenarioRunner = {
  async run(caseName, options) {
    const n = elements(options);
    const [impl, variant] = caseName.split(':');
    // The near-ideal variants measure their ideal stage alone right before, in the same process,
    // so that machine load hits both: a ratio of two runs minutes apart would mostly show noise.
    const paired = impl === 'stage' || options.warmup ? undefined : variant === 'parallel' ? await stage('read', n) : variant === 'cache' ? await stage('train', n) : undefined;
    const result = impl === 'rxdata' ? await rxdata(variant, n) : impl === 'tfjs-data' ? await tfjsData(variant, n) : impl === 'loop' ? await loop(n) : await stage(variant, n);
    if (result.items !== n) throw new Error(`${caseName}: ${result.items} of ${n}`);
    return paired ? { ...result, metrics: { pairedMs: paired.ms, pairedRatio: result.ms / paired.ms } } : result;
  },
};

const cases: readonly CaseSpec[] = [
  { name: 'stage:read', impl: 'stage', label: `source alone: open ${OPEN_MS} ms + ${READ_MS} ms per element, sequential` },
  { name: 'stage:map', impl: 'stage', label: `map alone: ${MAP_MS} ms per element, ${PARALLEL} at a time` },
  { name: 'stage:train', impl: 'stage', label: `steps alone: ${STEP_MS} ms per batch of ${BATCH}` },
  { name: 'loop:naive', impl: 'loop', label: 'hand-written sequential loop' },
  { name: 'rxdata:naive', impl: 'rxdata', label: 'fromIterable → parallelMap(1) → batch → consume' },
  { name: 'rxdata:prefetch', impl: 'rxdata', label: '… → batch → prefetch(2) → consume' },
  { name: 'rxdata:parallel', impl: 'rxdata', label: `… → parallelMap(${PARALLEL}) → batch → prefetch(2) → consume` },
  { name: 'rxdata:cache', impl: 'rxdata', label: `… → parallelMap(${PARALLEL}) → cache() → batch → prefetch(2), epoch 2` },
  { name: 'tfjs-data:naive', impl: 'tfjs-data', label: 'generator → mapAsync → batch → iterator.next() + step' },
  { name: 'tfjs-data:prefetch', impl: 'tfjs-data', label: '… → batch → prefetch(2)' },
  { name: 'tfjs-data:parallel', impl: 'tfjs-data', label: `… → mapAsync → prefetch(${PARALLEL}) → batch → prefetch(2)` },
];

export const guide: ScenarioDef = {
  id: 2,
  title: 'tf.data guide replica: simulated open, read, map and step costs',
  cases: () => cases,
  report(by, quick) {
    const n = quick ? 60 : 300;
    const nominal = { read: OPEN_MS + n * READ_MS, map: (n * MAP_MS) / PARALLEL, train: Math.ceil(n / BATCH) * STEP_MS };
    const read = by.get('stage:read')!.ms;
    const mapT = by.get('stage:map')!.ms;
    const train = by.get('stage:train')!.ms;
    const ideal = Math.max(read, mapT, train);
    const row = (s: Summary): string[] => {
      const isCache = s.spec.name.endsWith(':cache');
      const own = isCache ? train : ideal;
      const paired = s.metrics.pairedRatio === undefined ? '' : ` (paired: ${s.metrics.pairedRatio.toFixed(3)}×)`;
      return [s.spec.name, s.spec.label, fmt(s.ms), s.spec.impl === 'stage' ? '–' : `${(s.ms / own).toFixed(3)}×${isCache ? ' of steps alone' : ''}${paired}`, ...memoryCells(s)];
    };
    const par = by.get('rxdata:parallel')!.metrics.pairedRatio;
    const cacheRatio = by.get('rxdata:cache')!.metrics.pairedRatio;
    return {
      title: `${guide.title} (${n} elements)`,
      table: table(['case', 'pipeline', 'median ms', 'epoch ÷ ideal', ...memoryHeader], [...by.values()].map(row)),
      verdicts: [
        { target: 'guide replica, prefetch + parallel map ≤ 1.05× ideal', measured: `${par.toFixed(3)}×`, holds: par <= 1.05 },
        { target: 'guide replica, cached epoch ≤ 1.05× the steps alone', measured: `${cacheRatio.toFixed(3)}×`, holds: cacheRatio <= 1.05 },
      ],
      notes: [
        `Paired = the variant's time ÷ its ideal stage (the read, or the steps for the cached epoch) run alone just before it in the same process, median over runs: the figure the targets use, as it cancels the machine's load drifting between processes. Unpaired: ÷ the stage rows above.`,
        `Ideal = the slowest stage's total, each stage measured alone in the same run (read ${fmt(read)} ms, map ×${PARALLEL} ${fmt(mapT)} ms, steps ${fmt(train)} ms; nominal ${nominal.read} / ${nominal.map} / ${nominal.train} ms, timers add their slack). The cached epoch's ideal is the steps alone.`,
        'All costs are async sleeps (I/O, off-thread map, device step); a busy-wait cannot overlap on one thread.',
        'tfjs-data has no cache (tensorflow/tfjs#1025) and no parallel map operator; a prefetch right after mapAsync overlaps its calls as a side effect, unbounded by any concurrency setting of its own.',
      ],
    };
  },
};
