import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { defer, toArray, lastValueFrom, firstValueFrom, filter, tap, type Observable } from 'rxjs';
import { fromIterable } from '../src/fromIterable.js';
import { prefetch } from '../operators/prefetch.js';
import { selectBackend } from '../src/train/backend.js';
import { fit, type FitCallback, type FitEvent } from '../src/train/fit.js';
import { TrainStepError } from '../src/train/trainOn.js';
import { AbortError } from '../src/abort.js';
import { trainOn } from '../src/train/trainOn.js';
import { isLayersModel } from '../src/train/model.js';
import { createRequire } from 'node:module';
import { getEventListeners } from 'node:events';
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

const ticks = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

test.serial('fit is lazy: nothing trains until events$ is subscribed, history read or the run awaited; it runs once', async (t) => {
  const model = regression();
  const a = counting(makeBatches(4));
  const run = fit(model, a.source, { epochs: 2, progress: 'silent' });
  await ticks(5);
  t.false(run.started);
  t.is(a.subscriptions(), 0, 'no pull before anyone asks');
  const history = await run;
  t.true(run.started);
  t.is(history.epochs.length, 2);
  t.is(await run.history, history, 'the same run, not a second one');
  t.is(a.subscriptions(), 2);

  // A signal is listened to only while the run runs.
  const controller = new AbortController();
  const withSignal = fit(model, counting(makeBatches(2)).source, { progress: 'silent', signal: controller.signal });
  t.is(getEventListeners(controller.signal, 'abort').length, 0, 'not before it starts');
  await withSignal;
  t.is(getEventListeners(controller.signal, 'abort').length, 0, 'not after it ended');

  const b = counting(makeBatches(4));
  const viaEvents = fit(model, b.source, { epochs: 1, progress: 'silent' });
  await ticks(5);
  t.is(b.subscriptions(), 0);
  const last = await lastValueFrom(viaEvents.events$);
  t.is(last.type, 'end');
  t.is(b.subscriptions(), 1, 'subscribing to events$ started it');
  await lastValueFrom(viaEvents.events$);
  t.is(b.subscriptions(), 1, 'a second subscriber gets the replay, training does not rerun');
  model.dispose();
});

test.serial('a late subscriber gets a bounded replay: every run-level event, the newest N steps, in order; then live', async (t) => {
  const model = regression();
  const run = fit(model, fromIterable(makeBatches(10)), { epochs: 3, progress: 'silent', replay: { steps: 4 } });
  // One subscriber from the start; a second joins once step 15 went by.
  const early: FitEvent[] = [];
  const late: FitEvent[] = [];
  run.events$.subscribe((e) => early.push(e));
  await firstValueFrom(run.events$.pipe(filter((e) => e.type === 'step' && e.step === 15)));
  run.events$.subscribe((e) => late.push(e));
  await run;
  t.is(early.filter((e) => e.type === 'step').length, 30, 'the first subscriber saw every step');
  const lateSteps = late.flatMap((e) => (e.type === 'step' ? [e.step] : []));
  t.deepEqual(lateSteps.slice(0, 4), [12, 13, 14, 15], 'replay: the newest 4 steps');
  t.deepEqual(lateSteps.slice(4), Array.from({ length: 15 }, (_, i) => 16 + i), 'then every live step, none missed');
  t.deepEqual(
    late.filter((e) => e.type !== 'step').map((e) => e.type + ('epoch' in e ? e.epoch : '')),
    ['epochBegin0', 'epochEnd0', 'epochBegin1', 'epochEnd1', 'epochBegin2', 'epochEnd2', 'end'],
  );
  // In the order they happened: epochEnd0 (after step 10) comes before step 12.
  const order = late.map((e) => (e.type === 'step' ? `s${e.step}` : e.type + ('epoch' in e ? e.epoch : '')));
  t.deepEqual(order.slice(0, 7), ['epochBegin0', 'epochEnd0', 'epochBegin1', 's12', 's13', 's14', 's15']);

  // After the end: the same bounded replay, then complete.
  const after = await lastValueFrom(run.events$.pipe(toArray()));
  t.is(after.filter((e) => e.type === 'step').length, 4);
  t.is(after.at(-1)?.type, 'end');
  t.throws(() => fit(model, fromIterable([]), { replay: { steps: -1 } }), { instanceOf: RangeError, message: /replay\.steps/ });
  model.dispose();
});

test.serial('an AbortSignal stops fit mid-epoch: AbortError, the source released, no tensor leaks, events$ errors', async (t) => {
  const model = regression();
  const state = { closed: false, pulled: 0 };
  const endless = fromIterable(function* () {
    const [b] = makeBatches(1);
    try {
      for (;;) {
        state.pulled++;
        yield b;
      }
    } finally {
      state.closed = true;
    }
  });
  const controller = new AbortController();
  const before = tf.memory().numTensors;
  const steps: number[] = [];
  const run = fit(model, endless, { epochs: 3, progress: 'silent', signal: controller.signal });
  const eventsError = t.throwsAsync(
    lastValueFrom(run.events$),
    { instanceOf: AbortError },
  );
  run.events$.subscribe({
    next(e) {
      if (e.type !== 'step') return;
      steps.push(e.step);
        // Abort from inside step 5's event: the next step boundary comes before step 6 runs to its end.
      if (e.step === 5) controller.abort(new Error('user hit ^C'));
    },
    error: () => undefined,
  });
  const error = await t.throwsAsync(run.history, { instanceOf: AbortError });
  t.regex(error?.message ?? '', /^fit: aborted/);
  t.is((error?.cause as Error | undefined)?.message, 'user hit ^C');
  await eventsError;
  t.true(state.closed, 'the pipeline was unsubscribed');
  t.true(steps.at(-1)! <= 6, `stopped at a step boundary (last step ${steps.at(-1)})`);
  t.is(tf.memory().numTensors, before, 'every tensor freed');
  const pulled = state.pulled;
  await ticks(5);
  t.is(state.pulled, pulled, 'nothing pulled after the abort');

  // An already-aborted signal: rejects at once, pulls nothing.
  const none = counting(makeBatches(3));
  await t.throwsAsync(fit(model, none.source, { signal: controller.signal, progress: 'silent' }).history, { instanceOf: AbortError });
  t.is(none.subscriptions(), 0);
  model.dispose();
});

test.serial('an abort during validation rejects with AbortError and frees validation tensors', async (t) => {
  const model = regression();
  const controller = new AbortController();
  const before = tf.memory().numTensors;
  let evaluated = 0;
  const validation = fromIterable(makeBatches(50, 5)).pipe(tap(() => ++evaluated === 2 && queueMicrotask(() => controller.abort())));
  await t.throwsAsync(fit(model, fromIterable(makeBatches(3)), { epochs: 2, validation, progress: 'silent', signal: controller.signal }).history, { instanceOf: AbortError });
  t.true(evaluated < 50, `validation cut short (${evaluated} batches)`);
  t.is(tf.memory().numTensors, before);
  model.dispose();
});

test.serial('a LayersModel from a second copy of tfjs-layers trains (checked by shape, not instanceof); a non-model is a clear error', async (t) => {
  // A fresh instance of the tfjs-layers bundle: its own LayersModel class, sharing tfjs-core's global engine.
  const require = createRequire(import.meta.url);
  const path = require.resolve('@tensorflow/tfjs-layers');
  const cached = require.cache[path];
  delete require.cache[path];
  const second = require(path) as typeof tf;
  if (cached) require.cache[path] = cached;
  const foreign = second.sequential({ layers: [second.layers.dense({ units: 1, inputShape: [2], kernelInitializer: 'zeros' })] });
  foreign.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
  t.false(foreign instanceof tf.LayersModel, 'a class of its own');
  t.true(isLayersModel(foreign));
  const history = await fit(foreign, fromIterable(makeBatches(5)), { epochs: 2, validation: fromIterable(makeBatches(2, 3)), progress: 'silent' });
  t.is(history.epochs.length, 2);
  t.true(history.epochs[1].loss < history.epochs[0].loss);
  t.is(typeof history.history.val_loss?.[1], 'number');
  foreign.dispose();

  await t.throwsAsync(fit({ trainOnBatch: () => 0 } as unknown as tf.LayersModel, fromIterable(makeBatches(1)), { progress: 'silent' }).history, {
    instanceOf: TypeError,
    message: /^fit: the model must be a tf\.LayersModel .* or a step function; got an object without evaluate, getWeights, setWeights, save$/,
  });
  t.throws(() => trainOn(42 as unknown as tf.LayersModel), { instanceOf: TypeError, message: /^trainOn: the model must be .*got number$/ });
});
