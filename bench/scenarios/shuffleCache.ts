/**
 * Scenario 5, shuffle and cache: throughput and memory of a windowed shuffle at windows of 10³,
 * 10⁴ and 10⁵ elements; and the second epoch's speed-up when `cache()` holds parsed records.
 */
import { readFileSync } from 'node:fs';
import { count, lastValueFrom, map, type Observable } from 'rxjs';
import { batch } from '../../operators/batch.js';
import { cache } from '../../operators/cache.js';
import { consume } from '../../operators/consume.js';
import { shuffle } from '../../operators/shuffle.js';
import { fromIterable } from '../../src/fromIterable.js';
import { mulberry32 } from '../../src/random.js';
import type { NDArray } from '../../src/types.js';
import { InFlight, fmt, memoryCells, memoryHeader, table, type CaseResult, type CaseSpec, type RunOptions, type ScenarioDef, type ScenarioRunner, type Summary } from '../lib.js';

const WINDOWS = [1_000, 10_000, 100_000];
const BATCH = 256;
/** Elements per run: fewer for the largest window, where tfjs-data's shuffle costs O(window) per element. */
const shuffleElements = (o: RunOptions, window: number): number => (o.warmup ? 20_000 : window >= 100_000 ? (o.quick ? 120_000 : 200_000) : o.quick ? 200_000 : 500_000);
/** Rows per cached epoch: optdigits' lines, repeated. */
const cacheRows = (o: RunOptions): number => (o.warmup ? 5_000 : o.quick ? 20_000 : 40_000);

type Row = { x: Float32Array; y: number };
const toRow = (i: number): Row => ({ x: new Float32Array(4).fill(i), y: i & 7 });

function counting<T>(n: number, flight: InFlight, make: (i: number) => T): () => Generator<T> {
  return function* () {
    for (let i = 0; i < n; i++) {
      flight.pull();
      yield make(i);
    }
  };
}

/** Where steps put what they read, so the work cannot be optimised away. */
const sink = { value: 0 };
const noop = (flight: InFlight) => (b: { y: NDArray }): void => {
  sink.value += b.y.data[0];
  flight.consume(b.y.shape[0]);
};

async function shuffleCase(impl: string, window: number, n: number): Promise<CaseResult> {
  const flight = new InFlight();
  const t0 = performance.now();
  if (impl === 'rxdata') {
    await lastValueFrom(fromIterable(counting(n, flight, (i) => i)).pipe(map(toRow), shuffle(window, { seed: 1 }), batch(BATCH), consume(noop(flight)), count()));
  } else if (impl === 'tfjs-data') {
    const tf = await import('@tensorflow/tfjs');
    await tf.setBackend('cpu');
    await tf.data
      .generator(counting(n, flight, (i) => i))
      .map((i) => toRow(i as number) as unknown as import('@tensorflow/tfjs').TensorContainer)
      .shuffle(window, '1')
      .batch(BATCH)
      .forEachAsync((b) => {
        const { x, y } = b as { x: import('@tensorflow/tfjs').Tensor; y: import('@tensorflow/tfjs').Tensor };
        flight.consume(y.shape[0]);
        tf.dispose([x, y]);
      });
  } else {
    const random = mulberry32(1);
    const win: Row[] = [];
    let held: Row[] = [];
    const put = (r: Row): void => {
      held.push(r);
      if (held.length === BATCH) flush();
    };
    const flush = (): void => {
      const x = new Float32Array(held.length * 4);
      const y = new Float32Array(held.length);
      held.forEach((r, j) => (x.set(r.x, j * 4), (y[j] = r.y)));
      noop(flight)({ y: { data: y, shape: [held.length] } });
      held = [];
    };
    for (let i = 0; i < n; i++) {
      flight.pull();
      const r = toRow(i);
      if (win.length < window) {
        win.push(r);
        continue;
      }
      const j = Math.floor(random() * window);
      put(win[j]);
      win[j] = r;
    }
    for (let i = win.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [win[i], win[j]] = [win[j], win[i]];
    }
    win.forEach(put);
    if (held.length) flush();
  }
  return { ms: performance.now() - t0, items: flight.consumed, maxInFlight: flight.max, metrics: { elementsPerS: (n / (performance.now() - t0)) * 1000 } };
}

let lines: string[] | undefined;
function line(i: number): string {
  lines ??= readFileSync(new URL('../../examples/data/optdigits/optdigits.tra.csv', import.meta.url), 'utf8')
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '');
  return lines[i % lines.length];
}
/** The work a cache saves: parsing a CSV line into 64 features and a label. */
function parse(text: string): Row {
  const parts = text.split(',');
  const x = new Float32Array(64);
  for (let i = 0; i < 64; i++) x[i] = Number(parts[i]) / 16;
  return { x, y: Number(parts[64]) };
}

async function cacheCase(impl: string, n: number): Promise<CaseResult> {
  const flight = new InFlight();
  const times: number[] = [];
  const timed = async (run: () => Promise<unknown>): Promise<void> => {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  };
  if (impl === 'rxdata' || impl === 'rxdata-nocache') {
    const cached = impl === 'rxdata' ? cache<Row>() : undefined;
    let rows$: Observable<Row> = fromIterable(counting(n, flight, line)).pipe(map(parse));
    if (cached) rows$ = rows$.pipe(cached);
    const epoch$ = rows$.pipe(shuffle(1000, { seed: 1 }), batch(64), consume(noop(flight)), count());
    for (let e = 0; e < 2; e++) await timed(() => lastValueFrom(epoch$));
  } else if (impl === 'tfjs-data') {
    const tf = await import('@tensorflow/tfjs');
    await tf.setBackend('cpu');
    const ds = tf.data
      .generator(counting(n, flight, line))
      .map((l) => parse(l as unknown as string) as unknown as import('@tensorflow/tfjs').TensorContainer)
      .shuffle(1000, '1')
      .batch(64);
    for (let e = 0; e < 2; e++) {
      await timed(() =>
        ds.forEachAsync((b) => {
          const { x, y } = b as { x: import('@tensorflow/tfjs').Tensor; y: import('@tensorflow/tfjs').Tensor };
          flight.consume(y.shape[0]);
          tf.dispose([x, y]);
        }),
      );
    }
  } else {
    // By hand: parse into an array in epoch 1, shuffle the array in epoch 2.
    const random = mulberry32(1);
    const kept: Row[] = [];
    const emit = (rows: Row[]): void => {
      for (let i = 0; i < rows.length; i += 64) {
        const part = rows.slice(i, i + 64);
        const x = new Float32Array(part.length * 64);
        const y = new Float32Array(part.length);
        part.forEach((r, j) => (x.set(r.x, j * 64), (y[j] = r.y)));
        noop(flight)({ y: { data: y, shape: [part.length] } });
      }
    };
    await timed(async () => {
      for (const l of counting(n, flight, line)()) kept.push(parse(l));
      emit(kept);
    });
    await timed(async () => {
      const order = [...kept];
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      emit(order);
    });
  }
  return { ms: times[1], items: flight.consumed, maxInFlight: undefined, metrics: { epoch1Ms: times[0], epoch2Ms: times[1], speedup: times[0] / times[1] } };
}

export const runner: ScenarioRunner = {
  async run(caseName, options) {
    const [kind, impl] = caseName.split(':');
    if (kind === 'cache') {
      const n = cacheRows(options);
      const result = await cacheCase(impl, n);
      if (result.items !== 2 * n) throw new Error(`${caseName}: ${result.items} of ${2 * n}`);
      return result;
    }
    const window = Number(kind.slice('shuffle-'.length));
    const n = shuffleElements(options, window);
    const result = await shuffleCase(impl, window, n);
    if (result.items !== n) throw new Error(`${caseName}: ${result.items} of ${n}`);
    return result;
  },
};

const shuffleSpecs: CaseSpec[] = WINDOWS.flatMap((w) => [
  { name: `shuffle-${w}:rxdata`, impl: 'rxdata', label: `map → shuffle(${w}) → batch(${BATCH}) → consume` },
  { name: `shuffle-${w}:tfjs-data`, impl: 'tfjs-data', label: `map → shuffle(${w}) → batch(${BATCH}) → forEachAsync` },
  { name: `shuffle-${w}:loop`, impl: 'loop', label: `hand-written window of ${w}` },
]);
const cacheSpecs: CaseSpec[] = [
  { name: 'cache:rxdata', impl: 'rxdata', label: 'lines → map(parse) → cache() → shuffle(1000) → batch(64)' },
  { name: 'cache:rxdata-nocache', impl: 'rxdata', label: 'the same without cache()' },
  { name: 'cache:tfjs-data', impl: 'tfjs-data', label: 'generator → map(parse) → shuffle → batch (tfjs-data has no cache)' },
  { name: 'cache:loop', impl: 'loop', label: 'hand-written: parsed rows kept in an array' },
];

export const shuffleCache: ScenarioDef = {
  id: 5,
  title: 'Shuffle windows and cache',
  // A quick run leaves out tfjs-data at 10⁵ (O(window) per element there: seconds per run).
  cases: (quick) => [...shuffleSpecs.filter((c) => !quick || c.name !== 'shuffle-100000:tfjs-data'), ...cacheSpecs],
  report(by, quick) {
    const shuffleRows = WINDOWS.flatMap((w) => {
      const rx = by.get(`shuffle-${w}:rxdata`)!;
      return ['rxdata', 'tfjs-data', 'loop'].map((impl) => {
        const s = by.get(`shuffle-${w}:${impl}`);
        if (!s) return [fmt(w), impl, 'skipped in a quick run', '–', '–', '–', '–'];
        return [fmt(w), impl, fmt(s.items), fmt(s.metrics.elementsPerS), `${(rx.metrics.elementsPerS / s.metrics.elementsPerS).toFixed(2)}×`, ...memoryCells(s)];
      });
    });
    const cacheRow = (s: Summary): string[] => [s.spec.name, s.spec.label, fmt(s.metrics.epoch1Ms), fmt(s.metrics.epoch2Ms), `${s.metrics.speedup.toFixed(2)}×`, fmt(s.peakRssMiB)];
    const speedup = by.get('cache:rxdata')!.metrics.speedup;
    return {
      title: `Shuffle windows (${fmt(quick ? 200_000 : 500_000)} elements; ${fmt(quick ? 120_000 : 200_000)} at 10⁵) and cache (${fmt(quick ? 20_000 : 40_000)} parsed rows, 2 epochs)`,
      table: [
        table(['window', 'contender', 'elements', 'elements/s', 'rxdata ÷ this', ...memoryHeader], shuffleRows),
        '',
        table(['case', 'pipeline', 'epoch 1 ms', 'epoch 2 ms', 'epoch 1 ÷ epoch 2', 'peak RSS MiB'], cacheSpecs.map((c) => cacheRow(by.get(c.name)!))),
      ].join('\n'),
      verdicts: [{ target: 'cache: second epoch faster than the first (no target set)', measured: `${speedup.toFixed(2)}×`, holds: speedup > 1 }],
      notes: ['In flight for shuffle is the window plus a batch: the window is what a shuffle must hold.'],
    };
  },
};
