import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { Writable } from 'node:stream';
import { fromIterable } from '../src/fromIterable.js';
import { selectBackend } from '../src/train/backend.js';
import { fit } from '../src/train/fit.js';
import { Progress, formatEpochLine } from '../src/train/progress.js';
import type { StepResult } from '../src/train/trainOn.js';
import type { NDArray } from '../src/types.js';

/** A stream that keeps what is written; `isTTY` as asked, with the cursor calls a terminal has. */
class Capture extends Writable {
  text = '';
  constructor(readonly isTTY: boolean) {
    super();
  }
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
  cursorTo(): boolean {
    return true;
  }
  clearLine(): boolean {
    return true;
  }
  moveCursor(): boolean {
    return true;
  }
  clearScreenDown(): boolean {
    return true;
  }
  get columns(): number {
    return 120;
  }
}

const result = (step: number, loss: number): StepResult => ({ step, epoch: 0, batch: step - 1, loss, metrics: { acc: 0.5 }, size: 32, waitMs: 1, turnMs: 0, stepMs: 9, inputWait: 0.1 });

test.before(async () => {
  await selectBackend('cpu', { log: false });
});

test('lines mode (not a TTY): periodic step lines and a Keras-like epoch line', (t) => {
  const out = new Capture(false);
  const progress = new Progress({ stream: out, intervalMs: 0 });
  t.is(progress.mode, 'lines');
  progress.begin(3);
  progress.epochBegin(0, 2);
  progress.step(result(1, 0.5));
  progress.step(result(2, 0.25));
  progress.epochEnd({ epoch: 0, steps: 2, loss: 0.375, metrics: { acc: 0.5 }, validation: { val_loss: 0.4, val_acc: 0.875 }, samplesPerSec: 1234.5, inputWait: 0.1, wallMs: 1500 });
  progress.note('checkpoint out/ckpt-00000002');
  progress.end();
  const lines = out.text.trimEnd().split('\n');
  t.is(lines.length, 4);
  t.regex(lines[0], /^epoch 1\/3 {2}step 1\/2 {2}loss 0\.5000 {2}\d+ samples\/s {2}input-wait \d+\.\d%$/);
  t.regex(lines[1], /^epoch 1\/3 {2}step 2\/2 {2}loss 0\.2500 /);
  t.is(lines[2], 'epoch 1/3  2 steps  loss 0.3750  acc 0.5000  val_loss 0.4000  val_acc 0.8750  1235 samples/s  input-wait 10.0%  1.5s');
  t.is(lines[3], 'checkpoint out/ckpt-00000002');
});

test('lines mode prints step lines no more often than intervalMs', (t) => {
  const out = new Capture(false);
  const progress = new Progress({ stream: out, intervalMs: 60_000 });
  progress.begin(1);
  progress.epochBegin(0);
  for (let i = 1; i <= 50; i++) progress.step(result(i, 1));
  t.is(out.text, '');
  t.is(formatEpochLine({ epoch: 0, steps: 50, loss: 1, metrics: {}, samplesPerSec: 10, inputWait: 0, wallMs: 61_000 }, 1), 'epoch 1/1  50 steps  loss 1.000  10.00 samples/s  input-wait 0.0%  1m1s');
});

test('bar mode on a TTY draws a bar, then leaves the epoch line', (t) => {
  const out = new Capture(true);
  const progress = new Progress({ stream: out });
  t.is(progress.mode, 'bar');
  progress.begin(2);
  progress.epochBegin(0, 4);
  for (let i = 1; i <= 4; i++) progress.step(result(i, 0.5));
  progress.note('held until the bar is gone');
  progress.epochEnd({ epoch: 0, steps: 4, loss: 0.5, metrics: {}, samplesPerSec: 100, inputWait: 0, wallMs: 100 });
  progress.end();
  t.regex(out.text, /epoch 1\/2 \[/);
  t.regex(out.text, /epoch 1\/2 {2}4 steps {2}loss 0\.5000 .*\n.*held until the bar is gone\n$/);
});

test('fit: silent prints nothing; lines prints one line per epoch', async (t) => {
  const batches = Array.from({ length: 4 }, () => ({
    xs: { data: new Float32Array(16).fill(1), shape: [8, 2] } as NDArray,
    ys: { data: new Float32Array(8).fill(3), shape: [8, 1] } as NDArray,
  }));
  const m = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
  m.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const silent = new Capture(false);
  await fit(m, fromIterable(batches), { epochs: 2, progress: { mode: 'silent', stream: silent } }).history;
  t.is(silent.text, '');
  const lines = new Capture(false);
  await fit(m, fromIterable(batches), { epochs: 2, progress: { stream: lines } }).history;
  const printed = lines.text.trimEnd().split('\n');
  t.is(printed.length, 2);
  t.regex(printed[0], /^epoch 1\/2 {2}4 steps {2}loss [\d.]+ {2}[\d.]+ samples\/s {2}input-wait [\d.]+% {2}[\d.]+s$/);
  m.dispose();
});
