import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { defer, toArray, lastValueFrom, type Observable } from 'rxjs';
import { fromIterable } from '../src/fromIterable.js';
import { prefetch } from '../operators/prefetch.js';
import { selectBackend } from '../src/train/backend.js';
import { fit, type FitCallback, type FitEvent } from '../src/train/fit.js';
import { TrainStepError } from '../src/train/trainOn.js';
import type { NDArray } from '../src/types.js';

test.before(async () => {
  await selectBackend('cpu', { log: false });
});

type Batch = { xs: NDArray<Float32Array>; ys: NDArray<Float32Array> };

/** Batches of y = 2·x0 − x1 + 0.5 (or its negation, `sign` −1, which a model fit to the first gets wrong). */
function makeBatches(count: number, seed = 1, sign = 1): Batch[] {
  let s = seed;
  const rand = (): number => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
  return Array.from({ length: count }, () => {
    const xs = new Float32Array(32);
    const ys = new Float32Array(16);
    for (let i = 0; i < 16; i++) {
      xs[2 * i] = rand();
      xs[2 * i + 1] = rand();
      ys[i] = sign * (2 * xs[2 * i] - xs[2 * i + 1] + 0.5);
    }
    return { xs: { data: xs, shape: [16, 2] }, ys: { data: ys, shape: [16, 1] } };
  });
}

function regression(): tf.LayersModel {
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2], kernelInitializer: tf.initializers.zeros() })] });
  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
  return model;
}

/** A cold pipeline that counts its subscriptions (epochs). */
function counting(batches: Batch[]): { subscriptions: () => number; source: Observable<Batch> } {
  let n = 0;
  return { subscriptions: () => n, source: defer(() => (n++, fromIterable(batches))) };
}

test.serial('each epoch re-subscribes the pipeline; validation runs each epoch; history and events agree', async (t) => {
  const model = regression();
  const train = counting(makeBatches(10));
  const val = counting(makeBatches(3, 7));
  const before = tf.memory().numTensors;
  const run = fit(model, train.source.pipe(prefetch(2)), { epochs: 3, validation: val.source, progress: 'silent' });
  const events = lastValueFrom(run.events$.pipe(toArray()));
  const history = await run.history;
  t.is(train.subscriptions(), 3);
  t.is(val.subscriptions(), 3);
  t.is(history.epochs.length, 3);
  t.is(history.steps.length, 30);
  t.deepEqual(
    history.epochs.map((e) => e.step),
    [10, 20, 30],
  );
  t.is(history.history.loss.length, 3);
  t.is(history.history.val_loss.length, 3);
  t.true(history.history.val_loss[2] < history.history.val_loss[0]);
  t.is(history.stopped, 'completed');
  t.is(history.backend, 'cpu');
  const types = (await events).map((e: FitEvent) => e.type);
  t.is(types.filter((x) => x === 'step').length, 30);
  t.is(types.filter((x) => x === 'epochEnd').length, 3);
  t.is(types.at(-1), 'end');
  t.is(run.stats.get('trainOn')?.in, 30);
  t.is(run.stats.get('trainOn.step')?.extra.steps, 30);
  t.truthy(run.stats.get('prefetch'));
  for (const e of history.epochs) t.true(e.inputWait >= 0 && e.inputWait <= 1);
  t.is(tf.memory().numTensors, before, 'training and validation freed every tensor');
  model.dispose();
});

test.serial('tf.callbacks.earlyStopping stops training; plain callback objects get tfjs hooks', async (t) => {
  const model = regression();
  const calls = { trainBegin: 0, epochBegin: 0, epochEnd: 0, batchBegin: 0, batchEnd: 0, trainEnd: 0 };
  const plain: FitCallback = {
    onTrainBegin: () => void calls.trainBegin++,
    onEpochBegin: () => void calls.epochBegin++,
    onEpochEnd: (_epoch, logs) => {
      calls.epochEnd++;
      t.is(typeof logs?.val_loss, 'number');
    },
    onBatchBegin: () => void calls.batchBegin++,
    onBatchEnd: (_batch, logs) => {
      calls.batchEnd++;
      t.is(typeof logs?.loss, 'number');
    },
    onTrainEnd: () => void calls.trainEnd++,
  };
  // Validation labels are negated: the better the fit, the worse val_loss, so patience 1 stops at epoch 2.
  const run = fit(model, fromIterable(makeBatches(5)), {
    epochs: 20,
    validation: fromIterable(makeBatches(2, 3, -1)),
    callbacks: [tf.callbacks.earlyStopping({ monitor: 'val_loss', patience: 1 }), plain],
    progress: 'silent',
  });
  const history = await run.history;
  t.is(history.stopped, 'stopTraining');
  t.is(history.epochs.length, 2);
  t.deepEqual(calls, { trainBegin: 1, epochBegin: 2, epochEnd: 2, batchBegin: 10, batchEnd: 10, trainEnd: 1 });
  model.dispose();
});

test.serial('model.stopTraining set mid-epoch stops after the current step', async (t) => {
  const model = regression();
  const run = fit(model, fromIterable(makeBatches(10)), {
    epochs: 5,
    callbacks: { onBatchEnd: (batch) => void (batch === 3 && (model.stopTraining = true)) },
    progress: 'silent',
  });
  const history = await run.history;
  t.is(history.steps.length, 4);
  t.is(history.stopped, 'stopTraining');
  model.dispose();
});

test.serial('stop() mid-epoch: history resolves, the source is released, no tensor leaks', async (t) => {
  const model = regression();
  const state = { closed: false };
  const endless = fromIterable(function* () {
    const [b] = makeBatches(1);
    try {
      for (;;) yield b;
    } finally {
      state.closed = true;
    }
  });
  const before = tf.memory().numTensors;
  const run = fit(model, endless, { epochs: 2, progress: 'silent' });
  run.events$.subscribe((e) => e.type === 'step' && e.step === 7 && run.stop());
  const history = await run.history;
  t.is(history.stopped, 'stopped');
  t.true(history.steps.length >= 7 && history.steps.length <= 8);
  t.true(state.closed);
  t.is(tf.memory().numTensors, before);
  model.dispose();
});

test.serial('a long run keeps a bounded, evenly thinned step log', async (t) => {
  const model = regression();
  const history = await fit(model, fromIterable(makeBatches(50)), { epochs: 1, maxStepLogs: 8, progress: false }).history;
  t.true(history.steps.length < 8);
  const gaps = history.steps.slice(1).map((s, i) => s.step - history.steps[i].step);
  t.true(gaps.every((g) => g === gaps[0]), `even gaps ${gaps}`);
  t.is(history.epochs[0].steps, 50, 'epoch figures still count every step');
  model.dispose();
});

test.serial('batchesPerEpoch takes that many batches per epoch from an endless pipeline', async (t) => {
  const model = regression();
  const endless = fromIterable(function* () {
    for (let i = 0; ; i++) yield makeBatches(1, i + 1)[0];
  });
  const history = await fit(model, endless, { epochs: 3, batchesPerEpoch: 4, progress: 'silent' }).history;
  t.deepEqual(
    history.epochs.map((e) => e.steps),
    [4, 4, 4],
  );
  model.dispose();
});

test.serial('a failing step rejects the history with step and epoch; events$ errors; nothing leaks', async (t) => {
  const model = regression();
  const batches = makeBatches(6);
  batches[3] = { xs: { data: new Float32Array(48), shape: [16, 3] }, ys: batches[3].ys };
  const before = tf.memory().numTensors;
  const run = fit(model, fromIterable(batches), { epochs: 1, progress: 'silent' });
  const eventsError = t.throwsAsync(lastValueFrom(run.events$));
  const error = await t.throwsAsync(run.history, { instanceOf: TrainStepError });
  t.is(error?.step, 4);
  t.is(error?.epoch, 0);
  await eventsError;
  t.is(tf.memory().numTensors, before);
  model.dispose();
});

test.serial('a custom step function trains through fit', async (t) => {
  const w = tf.variable(tf.zeros([2, 1]));
  const history = await fit<Batch>(({ xs, ys }, tfjs) => tfjs.losses.meanSquaredError(ys as tf.Tensor, tfjs.matMul(xs as tf.Tensor2D, w)) as tf.Scalar, fromIterable(makeBatches(10)), {
    epochs: 3,
    optimizer: tf.train.sgd(0.1),
    progress: 'silent',
  }).history;
  t.true(history.epochs[2].loss < history.epochs[0].loss);
  await t.throwsAsync(fit(() => tf.scalar(0), fromIterable([]), { progress: 'silent' }).history, { message: /optimizer/ });
  w.dispose();
});
