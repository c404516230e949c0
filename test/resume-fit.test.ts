/**
 * fit and the pipeline state: a pipeline that cannot save its position still checkpoints its model
 * ('auto': one warning naming the stage, no pipeline.bin), or fails the run ('required').
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { from } from 'rxjs';
import { batch, fromIterable } from '../src/index.js';
import { fit } from '../src/train/fit.js';
import { CheckpointError } from '../src/state/index.js';

const rows = Array.from({ length: 40 }, (_, i) => ({ xs: new Float32Array([i / 40, 1 - i / 40]), ys: i % 2 }));
function model(): tf.LayersModel {
  const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 2, activation: 'softmax' })] });
  m.compile({ optimizer: tf.train.sgd(0.1), loss: 'sparseCategoricalCrossentropy' });
  return m;
}
test.before(async () => {
  await tf.setBackend('cpu');
});

test.serial("'auto': a foreign source is named once in a warning, and checkpoints are saved without the pipeline", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rxdata-fit-auto-'));
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }): void => void (w.code === 'RXDATA_PIPELINE_STATE' && warnings.push(w.message));
  process.on('warning', onWarning);
  try {
    await fit(model(), from(rows).pipe(batch(4)), { epochs: 1, progress: false, checkpoint: { dir, everySteps: 3 } }).history;
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  t.is(warnings.length, 1);
  t.regex(warnings[0], /the source above 'batch' cannot save its position/);
  const folders = readdirSync(dir).filter((n) => n.startsWith('ckpt-'));
  t.true(folders.length > 0);
  t.true(folders.every((n) => !existsSync(join(dir, n, 'pipeline.bin'))));
});

test.serial("'required': the run fails with the CheckpointError, at the first checkpoint's step", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rxdata-fit-required-'));
  const error = await t.throwsAsync(fit(model(), from(rows).pipe(batch(4)), { epochs: 1, progress: false, checkpoint: { dir, everySteps: 3, pipeline: 'required' } }).history);
  t.regex(error!.message, /training step 3 .*failed: checkpoint: the source above 'batch' cannot save its position/);
  t.true((error as Error & { cause?: unknown }).cause instanceof CheckpointError);
});

test.serial('a pipeline of ours saves pipeline.bin with every checkpoint', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rxdata-fit-ours-'));
  await fit(model(), fromIterable(rows).pipe(batch(4)), { epochs: 1, progress: false, checkpoint: { dir, everySteps: 3, pipeline: 'required' } }).history;
  const folders = readdirSync(dir).filter((n) => n.startsWith('ckpt-'));
  t.true(folders.length > 0);
  t.true(folders.every((n) => existsSync(join(dir, n, 'pipeline.bin'))));
});
