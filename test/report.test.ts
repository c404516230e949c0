import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromIterable } from '../src/fromIterable.js';
import { selectBackend } from '../src/train/backend.js';
import { fit } from '../src/train/fit.js';
import { renderReport } from '../src/train/report.js';
import type { NDArray } from '../src/types.js';

let dir: string;
test.before(async () => {
  await selectBackend('cpu', { log: false });
  dir = mkdtempSync(join(tmpdir(), 'rxdata-report-'));
});
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

function batches(n: number): { xs: NDArray; ys: NDArray }[] {
  return Array.from({ length: n }, (_, k) => {
    const xs = Float32Array.from({ length: 16 }, (_, i) => ((i * 7 + k * 3) % 11) / 11);
    const ys = Float32Array.from({ length: 8 }, (_, i) => (xs[2 * i] > xs[2 * i + 1] ? 1 : 0));
    return { xs: { data: xs, shape: [8, 2] }, ys: { data: ys, shape: [8, 1] } };
  });
}

test.serial('fit writes a self-contained HTML report with SVG loss, validation and input-wait curves', async (t) => {
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2], activation: 'sigmoid' })] });
  model.compile({ optimizer: tf.train.adam(0.05), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  const path = join(dir, 'sub', 'report.html');
  const run = fit(model, fromIterable(batches(6)), { epochs: 3, validation: fromIterable(batches(2)), report: path, reportTitle: 'A <tiny> run', progress: 'silent' });
  await run.history;
  const html = readFileSync(path, 'utf8');
  t.true(html.startsWith('<!doctype html>'));
  t.regex(html, /<title>A &#60;tiny&#62; run<\/title>/, 'the title is escaped');
  const svgs = html.match(/<svg /g) ?? [];
  t.is(svgs.length, 4, 'loss, metrics, input wait, throughput');
  for (const name of ['loss / step', 'loss / epoch', 'val_loss', 'val_acc', 'input wait / step']) t.true(html.includes(name), name);
  t.regex(html, /<path d="M[\d.]+ [\d.]+L/, 'curves are drawn');
  t.true(html.includes('Pipeline statistics') && html.includes('trainOn'));
  t.false(/<script|https?:\/\/(?!www\.w3\.org)/.test(html), 'no scripts, no network');
  model.dispose();
});

test('renderReport copes with a run without validation or metrics, and with one step', (t) => {
  const html = renderReport({
    epochs: [{ epoch: 0, steps: 1, samples: 8, loss: 0.7, metrics: {}, samplesPerSec: 80, inputWait: 0.2, wallMs: 100, waitMs: 20, step: 1 }],
    steps: [{ step: 1, epoch: 0, loss: 0.7, waitMs: 20, stepMs: 80, size: 8 }],
    history: { loss: [0.7] },
    initialEpoch: 0,
    stopped: 'completed',
    backend: 'cpu',
    wallMs: 100,
  });
  t.is((html.match(/<svg /g) ?? []).length, 3);
  t.false(html.includes('NaN'));
  t.true(html.includes('input-bound'));
});
