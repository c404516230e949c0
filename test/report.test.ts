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
import type { EpochLog, FitHistory } from '../src/train/fitTypes.js';

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

/** A three-epoch history: val_acc peaks at epoch 2, the first epoch waited for input half its time. */
function threeEpochs(stepLosses: number[]): FitHistory {
  const perEpoch = stepLosses.length / 3;
  const epoch = (i: number, waitMs: number, val: Record<string, number>): EpochLog => ({
    epoch: i,
    steps: perEpoch,
    samples: perEpoch * 8,
    loss: 1,
    metrics: { acc: 0.5 + i / 10 },
    validation: val,
    samplesPerSec: 100,
    inputWait: waitMs / 1000,
    wallMs: 1000,
    waitMs,
    step: (i + 1) * perEpoch,
  });
  return {
    epochs: [epoch(0, 500, { val_loss: 0.5, val_acc: 0.8 }), epoch(1, 20, { val_loss: 0.2, val_acc: 0.95 }), epoch(2, 20, { val_loss: 0.3, val_acc: 0.9 })],
    steps: stepLosses.map((loss, i) => ({ step: i + 1, epoch: Math.floor(i / perEpoch), loss, waitMs: 1, stepMs: 9, size: 8 })),
    history: {},
    initialEpoch: 0,
    stopped: 'completed',
    backend: 'cpu',
    wallMs: 3000,
  };
}

const cardOf = (html: string, key: string): { v: string; n: string } | undefined => {
  const m = new RegExp(`<div class="card"><div class="k">${key}</div><div class="v">([^<]*)</div>(?:<div class="n">([^<]*)</div>)?</div>`).exec(html);
  return m ? { v: m[1], n: m[2] ?? '' } : undefined;
};
const svgTitled = (html: string, title: string): string => new RegExp(`<svg [^>]*aria-label="${title}"[^>]*>.*?</svg>`, 's').exec(html)?.[0] ?? '';

test('the loss chart marks step losses clipped at the 98th percentile, at the top edge, with a count', (t) => {
  const losses = Array.from({ length: 201 }, (_, i) => ([3, 10, 150].includes(i) ? 50 : 1));
  const html = renderReport(threeEpochs(losses));
  const loss = svgTitled(html, 'Loss');
  t.true(loss.includes('3 points above p98 (1.05), drawn at the top edge'), 'a note counts them');
  const marks = [...loss.matchAll(/<path class="clip" d="M[\d.]+ ([\d.]+)L([\d.]+) ([\d.]+)L/g)];
  t.is(marks.length, 3, 'one marker per clipped point');
  // The chart's top (m.t) is y = 34: each marker's apex sits on it.
  t.true(marks.every((m) => m[3] === '34.0'), 'markers on the top edge');
  const unclipped = renderReport(threeEpochs(Array.from({ length: 201 }, () => 1)));
  t.false(unclipped.includes('above p98'), 'no note when nothing is clipped');
  t.false(unclipped.includes('class="clip"'));
});

test('the metrics chart has a y-axis label naming its quantities', (t) => {
  const html = renderReport(threeEpochs(Array.from({ length: 6 }, () => 1)));
  const metrics = svgTitled(html, 'Metrics per epoch');
  t.regex(metrics, /<text transform="translate\(14 [\d.]+\) rotate\(-90\)" class="al" text-anchor="middle">acc<\/text>/);
});

test('validation cards show the best epoch and the last one', (t) => {
  const html = renderReport(threeEpochs(Array.from({ length: 6 }, () => 1)));
  t.deepEqual(cardOf(html, 'best val_acc'), { v: '95.00%', n: 'epoch 2 · last 90.00% (epoch 3)' });
  t.deepEqual(cardOf(html, 'best val_loss'), { v: '0.2000', n: 'epoch 2 · last 0.3000 (epoch 3)' });
});

test('the input-wait card averages the epochs after the warm-up epoch and shows that one apart', (t) => {
  const html = renderReport(threeEpochs(Array.from({ length: 6 }, () => 1)));
  // 500 ms of 1000 waited in epoch 1, 20 of 1000 in epochs 2 and 3: 2.0 %, not 18.0 %.
  t.deepEqual(cardOf(html, 'input wait'), { v: '2.0%', n: 'compute-bound (≤ 5 %); average of epochs 2–3; warm-up epoch 1 excluded: 50.0%' });
});
