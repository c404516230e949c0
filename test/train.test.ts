import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, toArray } from 'rxjs';
import { fromIterable } from '../src/fromIterable.js';
import { prefetch } from '../operators/prefetch.js';
import { selectBackend } from '../src/train/backend.js';
import { trainOn, TrainStepError, YIELD_SLICE_MS, type StepResult } from '../src/train/trainOn.js';
import { PipelineStats } from '../src/stats.js';
import { AbortError } from '../src/abort.js';
import type { NDArray } from '../src/types.js';

test.before(async () => {
  await selectBackend('cpu', { log: false });
});

type Batch = { xs: NDArray<Float32Array>; ys: NDArray<Float32Array> };

/** A learnable problem: y = 2·x0 − x1 + 0.5, batches of 16, seeded. */
function makeBatches(count: number, width = 2, seed = 1): Batch[] {
  let s = seed;
  const rand = (): number => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
  return Array.from({ length: count }, () => {
    const xs = new Float32Array(16 * width);
    const ys = new Float32Array(16);
    for (let i = 0; i < 16; i++) {
      for (let j = 0; j < width; j++) xs[i * width + j] = rand();
      ys[i] = 2 * xs[i * width] - xs[i * width + 1] + 0.5;
    }
    return { xs: { data: xs, shape: [16, width] }, ys: { data: ys, shape: [16, 1] } };
  });
}

function regression(optimizer: tf.Optimizer | string = tf.train.sgd(0.1)): tf.LayersModel {
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
  model.compile({ optimizer, loss: 'meanSquaredError' });
  return model;
}

/** A batch generator that counts pulls and notes when it is closed. */
function counted(batches: Batch[]) {
  const state = { pulled: 0, closed: false };
  const source = fromIterable(function* () {
    try {
      for (const b of batches) {
        state.pulled++;
        yield b;
      }
    } finally {
      state.closed = true;
    }
  });
  return { state, source };
}

test.serial('losses fall on a learnable problem, exactly one step per batch', async (t) => {
  const model = regression();
  const { state, source } = counted(makeBatches(60));
  const results = await lastValueFrom(source.pipe(trainOn(model), toArray()));
  t.is(results.length, 60);
  t.is(state.pulled, 60);
  t.deepEqual(
    results.map((r) => r.step),
    Array.from({ length: 60 }, (_, i) => i + 1),
  );
  const first = results.slice(0, 5).reduce((a, r) => a + r.loss, 0) / 5;
  const last = results.slice(-5).reduce((a, r) => a + r.loss, 0) / 5;
  t.true(last < first / 10, `loss fell from ${first} to ${last}`);
  for (const r of results) {
    t.is(r.size, 16);
    t.true(r.stepMs >= 0 && r.waitMs >= 0 && r.inputWait >= 0 && r.inputWait <= 1);
  }
  model.dispose();
});

test.serial('no tensor leak after N steps (numTensors before == after)', async (t) => {
  const model = regression();
  const before = tf.memory().numTensors;
  await lastValueFrom(fromIterable(makeBatches(25)).pipe(trainOn(model), toArray()));
  t.is(tf.memory().numTensors, before);
  model.dispose();
});

test.serial('adam: after its slots exist, steps leak nothing', async (t) => {
  const model = regression(tf.train.adam(0.05));
  const op = trainOn(model);
  await lastValueFrom(fromIterable(makeBatches(1)).pipe(op));
  const before = tf.memory().numTensors;
  await lastValueFrom(fromIterable(makeBatches(20)).pipe(op, toArray()));
  t.is(tf.memory().numTensors, before);
  t.is(op.steps, 21, 'the step counter carries across subscriptions');
  model.dispose();
});

test.serial('an error inside a step names the step and epoch, stops the pipeline, leaks nothing', async (t) => {
  const model = regression();
  const batches = makeBatches(10);
  batches[4] = makeBatches(1, 3)[0]; // the 5th batch has 3 features: the model takes 2
  const { state, source } = counted(batches);
  const before = tf.memory().numTensors;
  const seen: StepResult[] = [];
  const error = await t.throwsAsync(
    lastValueFrom(source.pipe(trainOn(model, { epoch: 2, afterStep: (r) => void seen.push(r) }))),
    { instanceOf: TrainStepError },
  );
  t.is(error?.step, 5);
  t.is(error?.epoch, 2);
  t.regex(error?.message ?? '', /training step 5 \(epoch 2\) failed/);
  t.is(seen.length, 4);
  t.true(state.closed, 'the source was released');
  t.true(state.pulled <= 6, `pulled ${state.pulled}: at most one batch beyond the failing one`);
  t.is(tf.memory().numTensors, before);
  model.dispose();
});

test.serial('a NaN loss is an error of that step', async (t) => {
  const model = regression();
  const batches = makeBatches(3);
  batches[1].xs.data[0] = Number.NaN;
  const error = await t.throwsAsync(lastValueFrom(fromIterable(batches).pipe(trainOn(model))), { instanceOf: TrainStepError });
  t.is(error?.step, 2);
  model.dispose();
});

test.serial('unsubscribe mid-step releases the source and every tensor', async (t) => {
  const model = regression();
  const { state, source } = counted(makeBatches(50));
  const before = tf.memory().numTensors;
  const results: StepResult[] = [];
  let interrupted!: () => void;
  const fourthStep = new Promise<void>((resolve) => (interrupted = resolve));
  const op = trainOn<Batch>(model, {
    beforeStep: ({ step }) => {
      if (step !== 4) return;
      subscription.unsubscribe();
      interrupted();
    },
  });
  const subscription = source.pipe(op).subscribe((r) => results.push(r));
  await fourthStep;
  await op.idle(); // the interrupted step still runs to its end, then frees its tensors
  t.is(results.length, 3, 'the interrupted step emits nothing');
  t.true(state.closed);
  t.true(state.pulled <= 5);
  t.is(tf.memory().numTensors, before);
  model.dispose();
});

test.serial('custom step function with an optimizer (custom training loop)', async (t) => {
  const w = tf.variable(tf.zeros([2, 1]));
  const b = tf.variable(tf.zeros([1]));
  const optimizer = tf.train.sgd(0.1);
  const before = tf.memory().numTensors;
  const results = await lastValueFrom(
    fromIterable(makeBatches(80)).pipe(
      trainOn<Batch>(({ xs, ys }, tfjs) => tfjs.losses.meanSquaredError(ys as tf.Tensor, tfjs.add(tfjs.matMul(xs as tf.Tensor2D, w), b)) as tf.Scalar, { optimizer }),
      toArray(),
    ),
  );
  t.is(results.length, 80);
  t.true(results.at(-1)!.loss < results[0].loss / 10);
  const learned = Array.from(w.dataSync());
  t.true(Math.abs(learned[0] - 2) < 0.2 && Math.abs(learned[1] + 1) < 0.2, `w = ${learned}`);
  t.is(tf.memory().numTensors, before);
  t.throws(() => trainOn(() => tf.scalar(0)), { message: /optimizer/ });
  w.dispose();
  b.dispose();
  optimizer.dispose();
});

test.serial('input and label fields are configurable (names or a function)', async (t) => {
  const model = regression();
  const renamed = makeBatches(5).map((b) => ({ pixels: b.xs, label: b.ys }));
  const byName = await lastValueFrom(fromIterable(renamed).pipe(trainOn(model, { inputs: 'pixels', labels: 'label' }), toArray()));
  t.is(byName.length, 5);
  const byFn = await lastValueFrom(fromIterable(renamed).pipe(trainOn(model, { select: (b) => ({ xs: b.pixels, ys: b.label }) }), toArray()));
  t.is(byFn.length, 5);
  const error = await t.throwsAsync(lastValueFrom(fromIterable(renamed).pipe(trainOn(model))));
  t.regex(error?.message ?? '', /field 'xs' is not an NDArray/);
  model.dispose();
});

test.serial('backpressure: batches pulled ahead of the steps stay bounded; stats record the sink', async (t) => {
  const model = regression();
  const { state, source } = counted(makeBatches(40));
  const stats = new PipelineStats();
  let maxAhead = 0;
  await lastValueFrom(
    source.pipe(
      prefetch(2),
      trainOn(model, {
        stats,
        afterStep: (r) => {
          maxAhead = Math.max(maxAhead, state.pulled - r.step);
        },
      }),
      toArray(),
    ),
  );
  // prefetch holds 2, the sink holds 1 ahead: never more than that beyond the step running.
  t.true(maxAhead <= 4, `max ahead ${maxAhead}`);
  const sink = stats.get('trainOn');
  t.is(sink?.in, 40);
  const gauges = stats.get('trainOn.step');
  t.is(gauges?.extra.steps, 40);
  t.true((gauges?.extra.inputWait ?? -1) >= 0);
  t.truthy(stats.get('prefetch'));
  model.dispose();
});

/** Counts event-loop turns from `start()` until `stop()`: a setImmediate that re-arms itself. */
function turnCounter() {
  let turns = 0;
  let ticker: NodeJS.Immediate | undefined;
  const tick = (): void => {
    turns++;
    ticker = setImmediate(tick);
  };
  return {
    start: (): void => {
      if (!ticker) tick();
    },
    stop: () => clearImmediate(ticker),
    get turns() {
      return turns;
    },
  };
}

test.serial('steps that hold the thread still let the event loop turn, at least every YIELD_SLICE_MS', async (t) => {
  const model = regression();
  // Batches all buffered ahead: without turns, steps would chain through microtasks alone and
  // timers, I/O and worker messages would wait for the whole run.
  const counter = turnCounter();
  const steps = 8;
  await lastValueFrom(
    fromIterable(makeBatches(steps)).pipe(
      prefetch(steps),
      trainOn(model, {
        afterStep: () => {
          counter.start();
          // Hold the thread past the slice, as a wasm or cpu step does.
          const until = performance.now() + YIELD_SLICE_MS + 1;
          while (performance.now() < until);
        },
      }),
      toArray(),
    ),
  );
  counter.stop();
  // Counted from the first step: every later step found the slice spent and let the loop turn.
  t.true(counter.turns >= steps - 1, `${counter.turns} turns over ${steps} steps`);
  model.dispose();
});

test.serial('the sink\'s own turn between steps is turnMs, not input wait', async (t) => {
  const model = regression();
  // Batches buffered ahead, a turn after every step, and 80 ms of other work queued into the turn
  // after step 1: step 2's batch was ready all along, so that time is the turn's, not a wait.
  const results = await lastValueFrom(
    fromIterable(makeBatches(3)).pipe(
      prefetch(3),
      trainOn(model, {
        turnEveryMs: 0,
        afterStep: (r) => {
          if (r.step === 1) setImmediate(() => {
            const until = performance.now() + 80;
            while (performance.now() < until);
          });
        },
      }),
      toArray(),
    ),
  );
  const { turnMs, waitMs, stepMs, inputWait } = results[1];
  t.true(turnMs >= 80, `turnMs ${turnMs}`);
  // Counted as wait, the turn would be all of it (waitMs ≥ turnMs). What is left is a few
  // microtasks, which a loaded machine can stretch to milliseconds (longer than this tiny step):
  // compared with the turn, not with a fixed bound or with the step.
  t.true(waitMs < turnMs, `waitMs ${waitMs}, turnMs ${turnMs}`);
  t.true(inputWait < turnMs / (turnMs + stepMs), `inputWait ${inputWait} (stepMs ${stepMs})`);
  t.is(results[0].turnMs, 0, 'no turn before the first step');
  // A batch that is not in hand when the turn begins is waited for, the turn included. It comes
  // 100 ms after step 1 ended (timed from the step, so that a slow step cannot use up the wait).
  const [first, second] = makeBatches(2);
  let stepped!: () => void;
  const firstStep = new Promise<void>((resolve) => (stepped = resolve));
  const late = await lastValueFrom(
    fromIterable(async function* () {
      yield first;
      await firstStep;
      await new Promise((resolve) => setTimeout(resolve, 100));
      yield second;
    }).pipe(trainOn(model, { turnEveryMs: 0, afterStep: (r) => void (r.step === 1 && stepped()) }), toArray()),
  );
  t.true(late[1].waitMs >= 30, `waitMs ${late[1].waitMs}`);
  t.true(late[1].waitMs >= late[1].turnMs);
  model.dispose();
});

test.serial('turnEveryMs: 0 turns the event loop after every step, however short', async (t) => {
  const model = regression();
  const counter = turnCounter();
  const steps = 8;
  await lastValueFrom(fromIterable(makeBatches(steps)).pipe(prefetch(steps), trainOn(model, { turnEveryMs: 0, afterStep: () => counter.start() }), toArray()));
  counter.stop();
  t.true(counter.turns >= steps - 1, `${counter.turns} turns over ${steps} steps`);
  t.throws(() => trainOn(model, { turnEveryMs: -1 }), { instanceOf: RangeError });
  model.dispose();
});

test.serial('a custom step that throws after kernels ran leaks no tensor (tfjs keeps the tape’s saved tensors)', async (t) => {
  const w = tf.variable(tf.tensor2d([[0.5], [-0.5]]));
  const optimizer = tf.train.sgd(0.1);
  const failing = ({ xs, ys }: { xs: tf.Tensor | tf.Tensor[] | Record<string, tf.Tensor>; ys: tf.Tensor | tf.Tensor[] | Record<string, tf.Tensor> }, tfjs: typeof tf): tf.Scalar => {
    // Kernels with gradients run (their inputs are saved for the backward pass), then it throws.
    const pred = tfjs.tanh(tfjs.matMul(xs as tf.Tensor, w));
    tfjs.square(tfjs.sub(pred, ys as tf.Tensor));
    throw new Error('bad batch');
  };
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) {
    await t.throwsAsync(lastValueFrom(fromIterable(makeBatches(2)).pipe(trainOn(failing, { optimizer }))), { instanceOf: TrainStepError, message: /bad batch/ });
  }
  t.is(tf.memory().numTensors, before);
  // A later successful step still trains (the engine's tape state was left clean).
  const ok = ({ xs, ys }: { xs: unknown; ys: unknown }, tfjs: typeof tf): tf.Scalar => tfjs.losses.meanSquaredError(ys as tf.Tensor, tfjs.matMul(xs as tf.Tensor, w));
  const results = await lastValueFrom(fromIterable(makeBatches(3)).pipe(trainOn(ok, { optimizer }), toArray()));
  t.is(results.length, 3);
  w.dispose();
  optimizer.dispose();
});

test.serial('a NaN batch leaves the weights and the Adam moments as they were (LayersModel)', async (t) => {
  const model = regression(tf.train.adam(0.05));
  const batches = makeBatches(4);
  batches[2].xs.data[3] = Number.NaN;
  const snapshot = async (): Promise<number[][]> => [
    ...model.getWeights().map((w) => Array.from(w.dataSync())),
    ...(await model.optimizer.getWeights()).map((w) => Array.from(w.tensor.dataSync())),
  ];
  let before: number[][] = [];
  const error = await t.throwsAsync(
    lastValueFrom(fromIterable(batches).pipe(trainOn(model, { afterStep: async (r) => void (r.step === 2 ? (before = await snapshot()) : undefined) }))),
    { instanceOf: TrainStepError, message: /loss is NaN/ },
  );
  t.is(error?.step, 3);
  const after = await snapshot();
  t.true(before.length > 2, 'Adam has slots by then');
  t.deepEqual(after, before);
  t.true(after.flat().every(Number.isFinite));
  // The model trains on afterwards.
  const results = await lastValueFrom(fromIterable(makeBatches(2)).pipe(trainOn(model), toArray()));
  t.true(results.every((r) => Number.isFinite(r.loss)));
  model.dispose();
});

test.serial('the loss guard wraps the optimizer once and stays out of training done without trainOn', async (t) => {
  const model = regression(tf.train.adam(0.05));
  const optimizer = model.optimizer;
  await lastValueFrom(fromIterable(makeBatches(2)).pipe(trainOn(model), toArray()));
  const keys = Object.keys(optimizer);
  const methods = [(optimizer as unknown as Record<string, unknown>).computeGradients, (optimizer as unknown as Record<string, unknown>).applyGradients];
  await lastValueFrom(fromIterable(makeBatches(3, 2, 7)).pipe(trainOn(model), toArray()));
  t.deepEqual(Object.keys(optimizer), keys, 'no properties added or removed per step');
  t.deepEqual([(optimizer as unknown as Record<string, unknown>).computeGradients, (optimizer as unknown as Record<string, unknown>).applyGradients], methods, 'wrapped once');
  // The user's own trainOnBatch on the same model trains as tfjs does: the wrappers pass through.
  const before = Array.from(model.getWeights()[0].dataSync());
  const [batch] = makeBatches(1, 2, 3);
  const xs = tf.tensor(batch.xs.data, [...batch.xs.shape]);
  const ys = tf.tensor(batch.ys.data, [...batch.ys.shape]);
  t.true(Number.isFinite(await model.trainOnBatch(xs, ys)));
  t.notDeepEqual(Array.from(model.getWeights()[0].dataSync()), before);
  tf.dispose([xs, ys]);
  model.dispose();
});

test.serial('a NaN batch leaves the variables unchanged (custom step)', async (t) => {
  const w = tf.variable(tf.tensor2d([[0.5], [-0.5]]));
  const optimizer = tf.train.adam(0.05);
  const step = ({ xs, ys }: { xs: unknown; ys: unknown }, tfjs: typeof tf): tf.Scalar => tfjs.losses.meanSquaredError(ys as tf.Tensor, tfjs.matMul(xs as tf.Tensor, w));
  const batches = makeBatches(3);
  batches[1].ys.data[0] = Number.NaN;
  let before: number[] = [];
  const memBefore = tf.memory().numTensors;
  await t.throwsAsync(lastValueFrom(fromIterable(batches).pipe(trainOn(step, { optimizer, afterStep: () => void (before = Array.from(w.dataSync())) }))), {
    instanceOf: TrainStepError,
    message: /loss is NaN/,
  });
  t.deepEqual(Array.from(w.dataSync()), before);
  t.true(before.every(Number.isFinite));
  t.is(tf.memory().numTensors, memBefore + 2, "Adam's two moments for w, nothing else");
  w.dispose();
  optimizer.dispose();
});

test.serial('trainOn with an AbortSignal: errors with AbortError, releases the source, starts no step after, frees tensors', async (t) => {
  const model = regression();
  const { state, source } = counted(makeBatches(1000));
  const controller = new AbortController();
  const before = tf.memory().numTensors;
  const operator = trainOn(model, { signal: controller.signal, turnEveryMs: 0 });
  const seen: number[] = [];
  const error = await t.throwsAsync(
    new Promise((resolve, reject) =>
      source.pipe(operator).subscribe({
        next: (r) => {
          seen.push(r.step);
          if (r.step === 3) setImmediate(() => controller.abort());
        },
        error: reject,
        complete: () => resolve(undefined),
      }),
    ),
    { instanceOf: AbortError },
  );
  t.regex(error?.message ?? '', /^trainOn: aborted/);
  t.true(state.closed, 'the pipeline above was unsubscribed');
  await operator.idle();
  const steps = operator.steps;
  t.true(steps < 1000 && steps >= 3, `${steps} steps`);
  await new Promise<void>((resolve) => setTimeout(resolve, 20));
  t.is(operator.steps, steps, 'no step after the abort');
  t.is(tf.memory().numTensors, before, 'every tensor freed');
  model.dispose();
});
