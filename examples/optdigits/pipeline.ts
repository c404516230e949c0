/**
 * The demo's core: a digit classifier on UCI optdigits, trained through a real rxdata pipeline.
 *
 *   CSV on disk ─readline─▶ parse ─▶ parallelMap(normalise) ─▶ cache ─▶ shuffle
 *     ─▶ parallelMap(augment, seeded per epoch) ─▶ batch ─▶ prefetch ─▶ fit (validation: test file)
 *
 * Augmentation comes after `cache` (tf.data's advice for random maps), so each epoch sees fresh
 * noise and shifts while parsing and normalising happen once.
 */
import * as tf from '@tensorflow/tfjs';
import { defer, map, type Observable } from 'rxjs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { batch } from '../../operators/batch.js';
import { cache } from '../../operators/cache.js';
import { parallelMap } from '../../operators/parallelMap.js';
import { prefetch } from '../../operators/prefetch.js';
import { shuffle } from '../../operators/shuffle.js';
import { mixSeed, mulberry32 } from '../../src/random.js';
import { PipelineStats } from '../../src/stats.js';
import type { Batched } from '../../src/types.js';
import { selectBackend, type BackendInfo, type BackendName } from '../../src/train/backend.js';
import { evaluateBatches, fit, type FitHistory } from '../../src/train/fit.js';
import type { ProgressMode } from '../../src/train/progress.js';
import { readDigits, type DigitRow } from './readRows.js';

export const DATA_DIR = join(fileURLToPath(new URL('.', import.meta.url)), '../data/optdigits');

export interface OptdigitsOptions {
  epochs?: number;
  batchSize?: number;
  backend?: BackendName;
  /** Write the HTML training report here. */
  report?: string;
  progress?: ProgressMode;
  seed?: number;
  /** Where optdigits.tra.csv and optdigits.tes.csv are. */
  dataDir?: string;
  /** Where to say which backend is in use; `false` for nothing. */
  log?: ((line: string) => void) | false;
}

export interface OptdigitsResult {
  readonly testAccuracy: number;
  readonly testLoss: number;
  readonly history: FitHistory;
  readonly backend: BackendInfo;
  readonly stats: PipelineStats;
}

/** One training example: 64 pixels in 0..1 and the class. */
type Example = { readonly xs: Float32Array; readonly ys: number };

const normalise = (row: DigitRow): Example => ({ xs: row.pixels.map((v) => v / 16), ys: row.label });

/** A one-pixel shift (half the time) and light uniform noise, from a per-element seeded generator. */
function augment(example: Example, random: () => number): Example {
  const src = example.xs;
  const out = new Float32Array(64);
  const shift = random() < 0.25;
  const dx = shift ? Math.floor(random() * 3) - 1 : 0;
  const dy = shift ? Math.floor(random() * 3) - 1 : 0;
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) {
      const sx = x - dx;
      const sy = y - dy;
      const v = sx >= 0 && sx < 8 && sy >= 0 && sy < 8 ? src[sy * 8 + sx] : 0;
      out[y * 8 + x] = Math.min(1, Math.max(0, v + (random() - 0.5) * 0.06));
    }
  }
  return { xs: out, ys: example.ys };
}

/** A small MLP: 64 → 128 → 64 → 10. */
export function buildModel(seed: number): tf.LayersModel {
  const init = (k: number) => tf.initializers.glorotUniform({ seed: seed + k });
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units: 128, activation: 'relu', inputShape: [64], kernelInitializer: init(1) }),
      tf.layers.dropout({ rate: 0.1, seed: seed + 2 }),
      tf.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init(3) }),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(4) }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(0.005), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

/** The training pipeline: re-subscribed once per epoch by `fit`, each time a new shuffle and new augmentations. */
export function trainingPipeline(path: string, batchSize: number, seed: number): Observable<Batched<Example>> {
  let epoch = -1;
  const epoch$ = readDigits(path).pipe(
    parallelMap(normalise, { name: 'normalise' }),
    cache({ name: 'cache' }),
    shuffle<Example>(4096, { seed }),
    parallelMap((e: Example, i) => augment(e, mulberry32(mixSeed(mixSeed(seed, epoch), i))), { name: 'augment' }),
    batch(batchSize),
    prefetch(2),
  );
  // The same operator instances every epoch (one statistics row each); only the seed moves on.
  return defer(() => {
    epoch++;
    return epoch$;
  });
}

/**
 * Trains the optdigits classifier and evaluates it on the held-out test file.
 *
 * ```
 * selectBackend ─▶ buildModel ─▶ fit(train pipeline, validation: test file) ─▶ evaluate ─▶ result
 * ```
 *
 * @example
 * ```ts
 * const { testAccuracy, stats } = await trainOptdigits({ epochs: 5, progress: 'silent' });
 * ```
 */
export async function trainOptdigits(options: OptdigitsOptions = {}): Promise<OptdigitsResult> {
  const { epochs = 20, batchSize = 32, seed = 42, dataDir = DATA_DIR } = options;
  const backend = await selectBackend(options.backend ?? 'auto', { log: options.log });
  const model = buildModel(seed);
  try {
    const train$ = trainingPipeline(join(dataDir, 'optdigits.tra.csv'), batchSize, seed);
    const test$ = readDigits(join(dataDir, 'optdigits.tes.csv')).pipe(
      map(normalise),
      cache({ name: 'test.cache' }),
      batch(512),
    );
    const stats = new PipelineStats();
    const run = fit(model, train$, {
      epochs,
      validation: test$,
      stats,
      progress: options.progress ?? 'auto',
      report: options.report,
      reportTitle: 'optdigits · MLP 64-128-64-10 · rxdata',
    });
    const history = await run.history;
    const { loss, acc } = await evaluateBatches(model, test$);
    return { testAccuracy: acc, testLoss: loss, history, backend, stats };
  } finally {
    model.dispose();
  }
}
