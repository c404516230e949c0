/**
 * The training sink: one TensorFlow.js step per batch, with the pipeline's demand tied to it.
 */
import * as tf from '@tensorflow/tfjs';
import { defer, finalize, tap, type Observable, type OperatorFunction } from 'rxjs';
import { consume } from '../../operators/consume.js';
import { withSignal } from '../abort.js';
import { trainable } from './model.js';
import { ElementError, messageOf } from '../errors.js';
import { stageFor, type PipelineStats, type StageStats } from '../stats.js';
import { leadingSize, selectArrays, toTensors, type BatchSelector, type FieldSelection, type NDInput, type TensorInput } from './tensors.js';

/** A custom training step: returns the scalar loss to minimise; tensors made inside are freed by tfjs. */
export type StepFn<B> = (tensors: { xs: TensorInput; ys: TensorInput; batch: B }, tfjs: typeof tf) => tf.Scalar;

/** What one step did. */
export interface StepResult {
  /** Steps done so far in the whole run, this one included (1 for the first step). */
  readonly step: number;
  /** The epoch this step belongs to (0-based). */
  readonly epoch: number;
  /** The batch's index within this epoch (0-based). */
  readonly batch: number;
  readonly loss: number;
  /** The model's other metrics for this batch (`acc`…), as tfjs names them. */
  readonly metrics: Readonly<Record<string, number>>;
  /** Samples in the batch. */
  readonly size: number;
  /**
   * Time the sink sat idle waiting for this batch after the previous step ended, ms. The event
   * loop's turn the sink itself took between the steps (`turnMs`) counts only if this batch had
   * not arrived when the turn began (the turn may be what produced it).
   */
  readonly waitMs: number;
  /**
   * Time the event loop ran at the sink's own turn after the previous step (timers, I/O, worker
   * messages, V8's garbage-collection tasks), ms; 0 when it took none. Not input wait when this
   * batch was already in hand.
   */
  readonly turnMs: number;
  /** Time the step took (tensors in, training, tensors freed), ms. */
  readonly stepMs: number;
  /** `waitMs / (waitMs + stepMs)`: this step's input-stall fraction (tf.data calls > 0.05 input-bound). */
  readonly inputWait: number;
}

/** Fires after a step's tensors are freed and before the next step may start; may be async. */
export type StepHook = (result: StepResult) => void | Promise<void>;

export interface TrainOnOptions<B> extends FieldSelection {
  /** A function picking `{ xs, ys }` out of a batch, instead of `inputs`/`labels` field names. */
  select?: (batch: B) => { xs: NDInput; ys: NDInput };
  /** The optimizer a custom {@link StepFn} is minimised with (required then, unused with a model). */
  optimizer?: tf.Optimizer;
  /** Collects statistics for every stage of ours above, and the sink's step gauges. */
  stats?: PipelineStats;
  /** The sink's name in statistics. Default `'trainOn'`. */
  name?: string;
  /** The epoch number written into results. Default 0. */
  epoch?: number;
  /** Steps done before this run (when resuming): the first result has `step` = this + 1. */
  initialStep?: number;
  /** Called before each step, with the batch's index and size (tfjs `onBatchBegin`). */
  beforeStep?: (info: { readonly step: number; readonly epoch: number; readonly batch: number; readonly size: number }) => void | Promise<void>;
  /** Called after each step (tfjs `onBatchEnd`); the next step waits for it. */
  afterStep?: StepHook;
  /**
   * The longest run of steps, in ms, before the event loop gets a turn (I/O, timers, worker
   * results). Default {@link YIELD_SLICE_MS}; 0 turns it after every step, for batches that
   * come from workers or the network through shallow buffers.
   */
  turnEveryMs?: number;
  /**
   * Aborting it errors the output with an `AbortError` naming `trainOn` and unsubscribes the
   * pipeline above; no step starts after it, and the step running then frees its tensors when it
   * ends (`operator.idle()` says when).
   */
  signal?: AbortSignal;
}

/** A training step failed: says which step of which epoch, and stops the pipeline. */
export class TrainStepError extends ElementError {
  override name = 'TrainStepError';
  constructor(
    readonly step: number,
    readonly epoch: number,
    cause: unknown,
  ) {
    super('trainOn', step, cause);
    this.message = `training step ${step} (epoch ${epoch}) failed: ${messageOf(cause)}`;
  }
}

/** The operator `trainOn` returns: also says when no step is running (tensors all freed). */
export interface TrainOperator<B> extends OperatorFunction<B, StepResult> {
  /** Resolves once no step of this operator is in flight (after an unsubscribe mid-step, say). */
  idle(): Promise<void>;
  /** Steps done so far, across subscriptions. */
  readonly steps: number;
}

/** Run-time settings `fit` changes between epochs without making a new operator (one stats row). */
export interface TrainContext {
  epoch: number;
}

/** The longest trainOn runs steps back to back without letting the event loop turn, ms. */
export const YIELD_SLICE_MS = 5;

/** The part of tfjs' engine state a failed gradient computation leaves behind. */
interface TapeState {
  gradientDepth: number;
  activeTape: { saved?: tf.Tensor[] }[] | null;
}

/**
 * Runs a gradient computation and, when it throws, frees the tensors tfjs saved for the backward
 * pass. tfjs keeps them (`keep`) outside every tidy scope and frees them only after a successful
 * backward pass, so a step function that throws after a kernel ran leaked 2–8 tensors a failure
 * (`engine.gradients`: the tape is left in `state.activeTape` and replaced by the next one).
 */
export function withTapeCleanup<R>(f: () => R): R {
  try {
    return f();
  } catch (error) {
    const state = (tf.engine() as unknown as { state: TapeState }).state;
    // gradientDepth 0: not inside an outer gradient (higher-order), so the tape is ours alone.
    if (state.gradientDepth === 0 && state.activeTape) {
      for (const node of state.activeTape) for (const t of node.saved ?? []) t.dispose();
      state.activeTape = null;
    }
    throw error;
  }
}

/** The step running through {@link guardedTrainOnBatch} on one optimizer: its loss, once computed. */
interface LossGuard {
  active: boolean;
  loss: tf.Tensor | undefined;
}

/** Optimizers whose gradient methods are wrapped, and the guard each wrapper reads. */
const guards = new WeakMap<tf.Optimizer, LossGuard>();

/**
 * Wraps `optimizer.computeGradients` and `applyGradients` once, for good: while a guarded step
 * runs they note the loss and skip applying gradients when it is not finite; otherwise they pass
 * straight through (a `model.fit` of the user's own on the same optimizer). Once, not per step:
 * adding and deleting own methods every step cost microseconds a step and left the optimizer an
 * object in dictionary mode, whose fields Adam reads on every update.
 */
function lossGuard(optimizer: tf.Optimizer): LossGuard {
  let guard = guards.get(optimizer);
  if (guard) return guard;
  const own = optimizer as unknown as Record<string, unknown>;
  const compute = optimizer.computeGradients;
  const apply = optimizer.applyGradients;
  const state: LossGuard = { active: false, loss: undefined };
  own.computeGradients = function (this: tf.Optimizer, ...args: Parameters<tf.Optimizer['computeGradients']>) {
    if (!state.active) return compute.apply(this, args);
    const out = withTapeCleanup(() => compute.apply(this, args));
    state.loss = out.value;
    return out;
  };
  own.applyGradients = function (this: tf.Optimizer, grads: Parameters<tf.Optimizer['applyGradients']>[0]) {
    const { loss } = state;
    if (state.active && loss && loss.size === 1 && !Number.isFinite(loss.dataSync()[0])) return;
    apply.call(this, grads);
  };
  guards.set(optimizer, (guard = state));
  return guard;
}

/**
 * `model.trainOnBatch`, except that the update is skipped when the loss is not finite: tfjs
 * applies the gradients inside the same call that computes the loss, so a NaN batch would write
 * NaN into the weights and the optimizer's slots (Adam's moments) before anyone saw the loss.
 * The optimizer's gradient methods are wrapped (once, see {@link lossGuard}) to check the loss
 * tensor that `computeGradients` just returned (one scalar read, which trainOnBatch does anyway).
 * No weight copies: cheaper than a snapshot and restore, and it also covers NaNs that finite
 * inputs produce (a diverging model).
 */
async function guardedTrainOnBatch(model: tf.LayersModel, xs: TensorInput, ys: TensorInput): Promise<number | number[]> {
  const optimizer = model.optimizer as tf.Optimizer | undefined;
  if (!optimizer) return model.trainOnBatch(xs, ys);
  const guard = lossGuard(optimizer);
  guard.active = true;
  guard.loss = undefined;
  try {
    return await model.trainOnBatch(xs, ys);
  } finally {
    guard.active = false;
    guard.loss = undefined;
  }
}

/**
 * Trains on every batch: exactly one TensorFlow.js step per batch, one at a time, emitting each
 * step's result.
 *
 * ```
 * batches:  -[b0]-[b1]----------[b2]-|      (pulled on demand: b1 is asked for as step 0 starts)
 * steps:      [step 0 ][step 1 ]  [step 2 ]
 * output:   ---------r0-------r1---------r2|   ({ step, epoch, loss, metrics, waitMs, stepMs… })
 * ```
 *
 * Takes a compiled `tf.LayersModel` (trained with `trainOnBatch`) or a custom step
 * `({ xs, ys, batch }, tf) => loss` with `options.optimizer`. Each batch's arrays become tensors
 * with one copy, and every tensor is freed after the step, also after an error or unsubscribe:
 * `tf.memory().numTensors` ends where it started (once the optimizer has made its slots).
 * The next batch is requested as a step starts, so preparing it overlaps training. A failing step
 * errors the output with a {@link TrainStepError} naming the step and epoch, which unsubscribes
 * the pipeline above. Built on `consume(fn, { concurrency: 1, lookahead: 1 })`.
 *
 * @example
 * ```ts
 * const results = await lastValueFrom(rows$.pipe(batch(32), prefetch(2), trainOn(model, { stats }), toArray()));
 * ```
 */
export function trainOn<B>(model: tf.LayersModel | StepFn<B>, options: TrainOnOptions<B> = {}): TrainOperator<B> {
  const trainer = makeTrainer(model, options, { epoch: options.epoch ?? 0 });
  const { signal } = options;
  if (!signal) return trainer;
  const operator = ((source: Observable<B>) => withSignal(trainer(source), signal, 'trainOn')) as TrainOperator<B>;
  operator.idle = trainer.idle;
  Object.defineProperty(operator, 'steps', { get: () => trainer.steps });
  return operator;
}

/** {@link trainOn} with an epoch `fit` can move forward between subscriptions. */
export function makeTrainer<B>(model: tf.LayersModel | StepFn<B>, options: TrainOnOptions<B>, context: TrainContext): TrainOperator<B> {
  const name = options.name ?? 'trainOn';
  const turnEveryMs = options.turnEveryMs ?? YIELD_SLICE_MS;
  if (!(turnEveryMs >= 0)) throw new RangeError(`trainOn: turnEveryMs must be >= 0, got ${turnEveryMs}`);
  const selector: BatchSelector<B> = options.select ?? { inputs: options.inputs, labels: options.labels };
  const { layers, step: custom } = trainable(model, 'trainOn');
  if (custom && !options.optimizer) throw new TypeError('trainOn: a custom step function needs options.optimizer');
  const key = {};
  /** Steps done across subscriptions (epochs), for the `step` counter. */
  let steps = options.initialStep ?? 0;
  /** Steps running now, and who waits for none to run. */
  let inFlight = 0;
  let idleWaiters: (() => void)[] = [];
  const settle = (): void => {
    if (--inFlight > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  };

  /** One training step on tensors made from `batch`; returns the loss and metrics. */
  const runStep = async (batch: B): Promise<{ loss: number; metrics: Record<string, number>; size: number }> => {
    const made: tf.Tensor[] = [];
    try {
      const arrays = selectArrays(batch, selector);
      const size = leadingSize(arrays.xs);
      const xs = toTensors(arrays.xs, made);
      const ys = toTensors(arrays.ys, made);
      if (layers) {
        const out = await guardedTrainOnBatch(layers, xs, ys);
        const values = Array.isArray(out) ? out : [out];
        const names = layers.metricsNames;
        const metrics: Record<string, number> = {};
        for (let i = 1; i < values.length; i++) metrics[names[i] ?? `metric${i}`] = values[i];
        return { loss: values[0], metrics, size };
      }
      // minimize() would apply the gradients before we see the loss: compute, check, then apply,
      // so a NaN batch leaves the weights and the optimizer's slots as they were.
      const { value, grads } = withTapeCleanup(() => options.optimizer!.computeGradients(() => custom!({ xs, ys, batch }, tf)));
      try {
        const loss = (await value.data())[0];
        if (Number.isFinite(loss)) options.optimizer!.applyGradients(grads);
        return { loss, metrics: {}, size };
      } finally {
        value.dispose();
        tf.dispose(grads);
      }
    } finally {
      for (const t of made) t.dispose();
    }
  };

  /** Per-subscription timing, found through the subscription's AbortSignal (one consume for all epochs, so one stats row). */
  interface Run {
    lastEnd: number;
    /** When this run last let the event loop turn. */
    lastYield: number;
    /** How long the turn after the previous step took (reported with the next step). */
    turnMs: number;
    batchIndex: number;
    readonly epoch: number;
  }
  const runs = new WeakMap<AbortSignal, Run>();
  /** The newest subscription's start: its first batch's wait counts from here. */
  let subscribedAt = performance.now();
  let subscribedEpoch = context.epoch;
  /** Totals across subscriptions, for the stats gauges. */
  let waitTotal = 0;
  let stepTotal = 0;
  let samples = 0;
  let counted = 0;
  let wallStart = 0;
  /** Batches the sink received and steps it started (subscriptions one at a time, as `fit`'s epochs): a batch is in hand when more arrived than started. */
  let arrived = 0;
  let started = 0;
  /** Subscriptions running now: with more than one the counts above mix, and a turn counts as wait, as before. */
  let subscriptions = 0;

  const step = async (batch: B, _index: number, signal: AbortSignal): Promise<StepResult> => {
    started++;
    const startedAt = performance.now();
    let run = runs.get(signal);
    if (!run) {
      run = { lastEnd: subscribedAt, lastYield: subscribedAt, turnMs: 0, batchIndex: 0, epoch: subscribedEpoch };
      runs.set(signal, run);
    }
    const { epoch } = run;
    const waitMs = startedAt - run.lastEnd;
    const index = run.batchIndex++;
    const number = steps + 1;
    inFlight++;
    let outcome: { loss: number; metrics: Record<string, number>; size: number };
    try {
      if (options.beforeStep) {
        const size = leadingSize(selectArrays(batch, selector).xs);
        await options.beforeStep({ step: number, epoch, batch: index, size });
      }
      outcome = await runStep(batch);
      if (!Number.isFinite(outcome.loss)) throw new Error(`loss is ${outcome.loss}`);
    } catch (error) {
      throw new TrainStepError(number, epoch, error);
    } finally {
      settle();
    }
    steps = number;
    const stepMs = performance.now() - startedAt;
    // A literal, not a spread of a partial result: spreading cost microseconds a step (profiled).
    const { loss, metrics, size } = outcome;
    const result: StepResult = { step: number, epoch, batch: index, loss, metrics, size, waitMs, turnMs: run.turnMs, stepMs, inputWait: waitMs / Math.max(waitMs + stepMs, 1e-9) };
    waitTotal += waitMs;
    stepTotal += stepMs;
    samples += result.size;
    counted++;
    if (stage) {
      stage.in++;
      stage.out++;
      stage.waitMs = waitTotal;
      const busy = Math.max(waitTotal + stepTotal, 1e-9);
      stage.extra.steps = steps;
      stage.extra.stepMs = stepTotal / counted;
      stage.extra.inputWait = waitTotal / busy;
      stage.extra.samplesPerSec = (samples / Math.max(performance.now() - wallStart, 1e-9)) * 1000;
    }
    if (options.afterStep) {
      try {
        await options.afterStep(result);
      } catch (error) {
        throw new TrainStepError(number, epoch, error);
      }
    }
    run.lastEnd = performance.now();
    run.turnMs = 0;
    // Let the event loop turn at least every YIELD_SLICE_MS: wasm and cpu steps block the thread
    // and chain through microtasks, and without a turn, batches finished by workers or I/O land
    // only once the prefetch buffer runs dry (bench scenario 4: a 16.7 % stall, 2–3 % with turns).
    // Not every step: a turn costs what waits for a task boundary, mostly V8's scavenges, which
    // run as tasks (2.5–3 ms each, every ~40 ms of tfjs training; without turns the same
    // scavenges run inside steps on allocation failure). 5 ms, a scheduler's usual slice. The
    // turn is not input wait: the next batch's wait counts from its end.
    if (run.lastEnd - run.lastYield >= turnEveryMs) {
      // The next batch is in hand (consume's lookahead holds it) when more arrived than started.
      const ready = subscriptions === 1 && arrived > started;
      await new Promise<void>((resolve) => setImmediate(resolve));
      run.lastYield = performance.now();
      run.turnMs = run.lastYield - run.lastEnd;
      if (ready) run.lastEnd = run.lastYield;
    }
    return result;
  };
  const sink = consume(step, { concurrency: 1, lookahead: 1, stats: options.stats, name });
  /** The step gauges' stats row, made on first subscription. */
  let stage: StageStats | undefined;

  const operator = ((source: Observable<B>) =>
    defer(() => {
      stage ??= stageFor(options.stats, key, `${name}.step`, 'sink');
      subscribedAt = performance.now();
      subscribedEpoch = context.epoch;
      if (!wallStart) wallStart = subscribedAt;
      subscriptions++;
      arrived = started = 0;
      return source.pipe(
        tap(() => void arrived++),
        sink,
        finalize(() => void subscriptions--),
      );
    })) as TrainOperator<B>;
  operator.idle = () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve)));
  Object.defineProperty(operator, 'steps', { get: () => steps });
  return operator;
}
