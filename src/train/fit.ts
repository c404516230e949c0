/**
 * Keras-style training over a cold pipeline: epochs, validation, callbacks, checkpoints, progress
 * and a report, on top of {@link trainOn}.
 */
import * as tf from '@tensorflow/tfjs';
import { Subject, take, takeWhile, lastValueFrom, type Observable } from 'rxjs';
import { consume } from '../../operators/consume.js';
import { restoreCheckpoint, saveCheckpoint } from './checkpoint.js';
import { PipelineStats } from '../stats.js';
import { cardinalityWithin } from '../cardinality.js';
import { Progress, type EpochSummary, type ProgressOptions, type ProgressMode } from './progress.js';
import { writeReport } from './report.js';
import { makeTrainer, type StepFn, type StepResult, type TrainContext } from './trainOn.js';
import { leadingSize, selectArrays, toTensors, type BatchSelector, type FieldSelection, type NDInput, type TensorInput } from './tensors.js';

/** A tfjs callback (`tf.callbacks.earlyStopping(…)`, a `tf.CustomCallback`) or a plain object of hooks. */
export interface FitCallback {
  setModel?(model: tf.LayersModel): void;
  setParams?(params: Record<string, number | string | boolean>): void;
  onTrainBegin?(logs?: tf.Logs): void | Promise<void>;
  onTrainEnd?(logs?: tf.Logs): void | Promise<void>;
  onEpochBegin?(epoch: number, logs?: tf.Logs): void | Promise<void>;
  onEpochEnd?(epoch: number, logs?: tf.Logs): void | Promise<void>;
  onBatchBegin?(batch: number, logs?: tf.Logs): void | Promise<void>;
  onBatchEnd?(batch: number, logs?: tf.Logs): void | Promise<void>;
}

export interface CheckpointOptions {
  /** The directory checkpoints go to (`ckpt-<step>/` folders and `latest.json`). */
  dir: string;
  /** Save at the end of every N-th epoch. Default 1 unless `everySteps` is given. */
  everyEpochs?: number;
  /** Save after every N-th step. */
  everySteps?: number;
  /** Checkpoints kept. Default 3. */
  keep?: number;
}

export interface FitOptions<B> extends FieldSelection {
  /** Epochs to run in all (a resumed run continues up to this number). Default 1. */
  epochs?: number;
  /** Batches per epoch: takes that many from each subscription (for endless pipelines). */
  batchesPerEpoch?: number;
  /** Validation batches (a cold Observable, re-subscribed at each epoch's end); needs a LayersModel. */
  validation?: Observable<B>;
  /** A function picking `{ xs, ys }` out of a batch, instead of `inputs`/`labels`. */
  select?: (batch: B) => { xs: NDInput; ys: NDInput };
  /** tfjs callbacks or plain hook objects; `model.stopTraining = true` stops after the current step. */
  callbacks?: FitCallback | readonly FitCallback[];
  /** For a custom step function instead of a model. */
  optimizer?: tf.Optimizer;
  /** How often steps let the event loop turn, ms: see `trainOn`'s `turnEveryMs`. */
  turnEveryMs?: number;
  /** Pipeline statistics; `fit` makes one when not given (see `FitRun.stats`). */
  stats?: PipelineStats;
  /** Progress display: a mode or options; `false` is `'silent'`. Default `'auto'`. */
  progress?: ProgressMode | ProgressOptions | false;
  /** Save checkpoints while training. */
  checkpoint?: CheckpointOptions;
  /** A checkpoint (or checkpoint root) to restore weights and counters from before training. */
  resumeFrom?: string;
  /** Write a self-contained HTML report with charts here when training ends. */
  report?: string;
  /** The report's title. */
  reportTitle?: string;
  /** Step records kept in the history; past this, every other one is dropped (curves stay whole). Default 100 000. */
  maxStepLogs?: number;
}

/** One epoch's record. Metric keys as tfjs names them (`acc`, `val_loss`, `val_acc`). */
export interface EpochLog extends EpochSummary {
  readonly samples: number;
  /** Time the sink waited for input during the epoch, ms. */
  readonly waitMs: number;
  /** The global step count at the end of the epoch. */
  readonly step: number;
}

/** One step's record, for curves. */
export interface StepLog {
  readonly step: number;
  readonly epoch: number;
  readonly loss: number;
  readonly waitMs: number;
  readonly stepMs: number;
  readonly size: number;
}

export interface FitHistory {
  /** Per epoch, in order (resumed runs start at `initialEpoch`). */
  readonly epochs: EpochLog[];
  /** Per step (every `stride`-th step once a long run passed `maxStepLogs`). */
  readonly steps: StepLog[];
  /** Keras-style: every logged quantity per epoch (`loss`, `acc`, `val_loss`, …). */
  readonly history: Record<string, number[]>;
  readonly initialEpoch: number;
  /** Why training ended. */
  readonly stopped: 'completed' | 'stopTraining' | 'stopped';
  /** The tfjs backend that trained. */
  readonly backend: string;
  readonly wallMs: number;
}

/** What `fit` emits on `events$`. */
export type FitEvent =
  | { readonly type: 'epochBegin'; readonly epoch: number }
  | ({ readonly type: 'step' } & StepResult)
  | ({ readonly type: 'epochEnd' } & EpochLog)
  | { readonly type: 'checkpoint'; readonly path: string; readonly step: number; readonly epoch: number }
  | { readonly type: 'end'; readonly history: FitHistory };

/** A running `fit`. */
export interface FitRun {
  /** Progress events. Hot: training starts on the next tick, so subscribe right away to see all. */
  readonly events$: Observable<FitEvent>;
  /** The history once training ends; rejects with the step's error when a step fails. */
  readonly history: Promise<FitHistory>;
  /** The pipeline statistics, readable during and after training. */
  readonly stats: PipelineStats;
  /** Stops after the current step; `history` then resolves with `stopped: 'stopped'`. */
  stop(): void;
}

const isModel = (x: unknown): x is tf.LayersModel => x instanceof tf.LayersModel;

/** `evaluate` takes no name map: order named tensors as the model's inputs or outputs. */
function asList(input: TensorInput, names: readonly string[]): tf.Tensor | tf.Tensor[] {
  if (input instanceof tf.Tensor || Array.isArray(input)) return input;
  return names.map((n) => {
    const t = input[n];
    if (!t) throw new TypeError(`fit: no field for the model's '${n}' (have ${Object.keys(input).join(', ')})`);
    return t;
  });
}

/**
 * Evaluates `model` on validation batches: tensors per batch, `model.evaluate`, freed at once.
 *
 * ```
 * val$ ─▶ [batch → tensors → evaluate → numbers, dispose] ─▶ size-weighted means { loss, acc }
 * ```
 *
 * @example
 * ```ts
 * const { loss, acc } = await evaluateBatches(model, test$.pipe(batch(256)));
 * ```
 */
export async function evaluateBatches<B>(model: tf.LayersModel, batches$: Observable<B>, selector: BatchSelector<B> = {}): Promise<Record<string, number>> {
  const sums: Record<string, number> = {};
  let samples = 0;
  const names = model.metricsNames;
  const evaluateOne = async (batch: B): Promise<void> => {
    const made: tf.Tensor[] = [];
    let out: tf.Scalar | tf.Scalar[] = [];
    try {
      const arrays = selectArrays(batch, selector);
      const size = leadingSize(arrays.xs);
      const xs = asList(toTensors(arrays.xs, made), model.inputNames);
      const ys = asList(toTensors(arrays.ys, made), model.outputNames);
      out = model.evaluate(xs, ys, { batchSize: Math.max(size, 1) });
      const values = await Promise.all((Array.isArray(out) ? out : [out]).map(async (s) => (await s.data())[0]));
      values.forEach((v, i) => (sums[names[i] ?? `metric${i}`] = (sums[names[i] ?? `metric${i}`] ?? 0) + v * size));
      samples += size;
    } finally {
      for (const t of made) t.dispose();
      tf.dispose(out);
    }
  };
  await lastValueFrom(batches$.pipe(consume(evaluateOne, { name: 'evaluate' })), { defaultValue: undefined });
  return Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / Math.max(samples, 1)]));
}

/**
 * Trains `model` on a cold pipeline of batches for a number of epochs, Keras style.
 *
 * ```
 * epoch e:  subscribe dataset$ ─▶ trainOn ─▶ step events ─▶ complete
 *           └▶ evaluate(validation$) ─▶ callbacks.onEpochEnd ─▶ checkpoint? ─▶ stop? ─▶ epoch e+1
 * returns:  { events$ (hot), history: Promise<FitHistory>, stats, stop() }
 * ```
 *
 * Each epoch re-subscribes `dataset$` (so `cache`, `shuffle` and friends see a new epoch), runs
 * one step per batch (or `batchesPerEpoch` batches), then evaluates `validation` with
 * `model.evaluate`. Callbacks get tfjs' hooks and logs (`loss`, `acc`, `val_loss`, `val_acc`);
 * `tf.callbacks.earlyStopping()` works as in `model.fit`, and `model.stopTraining = true` stops
 * after the current step. Checkpoints save every N epochs or steps; `resumeFrom` restores weights
 * and the epoch and step counters. The pipeline's statistics collect into `stats`.
 *
 * @example
 * ```ts
 * const run = fit(model, train$, { epochs: 10, validation: test$, callbacks: tf.callbacks.earlyStopping({ patience: 2 }) });
 * const history = await run.history;
 * console.log(run.stats.format());
 * ```
 */
export function fit<B>(model: tf.LayersModel | StepFn<B>, dataset$: Observable<B>, options: FitOptions<B> = {}): FitRun {
  const stats = options.stats ?? new PipelineStats();
  const events = new Subject<FitEvent>();
  let stopRequested = false;
  let stopNow: (() => void) | undefined;
  const history = new Promise<FitHistory>((resolve, reject) => {
    // Next tick: the caller gets to subscribe to events$ first.
    setImmediate(() => {
      run(model, dataset$, options, stats, events, () => stopRequested, (fn) => (stopNow = fn)).then(
        (h) => {
          events.next({ type: 'end', history: h });
          events.complete();
          resolve(h);
        },
        (error: unknown) => {
          events.error(error);
          reject(error);
        },
      );
    });
  });
  // A run whose history nobody awaits must not crash the process with an unhandled rejection
  // when events$ carries the error; the caller's own `await run.history` still sees it.
  history.catch(() => undefined);
  return {
    events$: events.asObservable(),
    history,
    stats,
    stop() {
      stopRequested = true;
      stopNow?.();
    },
  };
}

async function run<B>(
  model: tf.LayersModel | StepFn<B>,
  dataset$: Observable<B>,
  options: FitOptions<B>,
  stats: PipelineStats,
  events: Subject<FitEvent>,
  stopRequested: () => boolean,
  onStopHandle: (fn: () => void) => void,
): Promise<FitHistory> {
  const startedAt = performance.now();
  const epochs = options.epochs ?? 1;
  const selector: BatchSelector<B> = options.select ?? { inputs: options.inputs, labels: options.labels };
  const layers = isModel(model) ? model : undefined;
  if (options.validation && !layers) throw new TypeError('fit: validation needs a tf.LayersModel (a custom step has no evaluate)');
  if ((options.checkpoint || options.resumeFrom) && !layers) throw new TypeError('fit: checkpoints need a tf.LayersModel');
  const callbacks = options.callbacks ? ([] as FitCallback[]).concat(options.callbacks as FitCallback | FitCallback[]) : [];
  const progressOptions: ProgressOptions =
    options.progress === false ? { mode: 'silent' } : typeof options.progress === 'string' ? { mode: options.progress } : (options.progress ?? {});
  const progress = new Progress(progressOptions);
  const ckpt = options.checkpoint;
  const everyEpochs = ckpt ? (ckpt.everyEpochs ?? (ckpt.everySteps ? 0 : 1)) : 0;

  let initialEpoch = 0;
  let step = 0;
  if (options.resumeFrom && layers) {
    const state = await restoreCheckpoint(layers, options.resumeFrom);
    initialEpoch = state.nextEpoch;
    step = state.step;
    progress.note(`resumed from ${options.resumeFrom}: epoch ${initialEpoch + 1}, step ${step}`);
  }

  const epochLogs: EpochLog[] = [];
  let stepLogs: StepLog[] = [];
  const maxStepLogs = Math.max(2, options.maxStepLogs ?? 100_000);
  /** Keep one step in `stride`: doubles each time the log fills, so memory stays bounded. */
  let stride = 1;
  const keras: Record<string, number[]> = {};
  const stopTraining = (): boolean => stopRequested() || (layers?.stopTraining ?? false);
  let stopped: FitHistory['stopped'] = 'completed';

  const context: TrainContext = { epoch: initialEpoch };
  const saveAt = async (nextEpoch: number): Promise<void> => {
    if (!ckpt || !layers) return;
    const path = await saveCheckpoint(layers, ckpt.dir, { nextEpoch, step: trainer.steps }, ckpt.keep);
    events.next({ type: 'checkpoint', path, step: trainer.steps, epoch: context.epoch });
    progress.note(`checkpoint ${path}`);
  };
  const trainer = makeTrainer<B>(
    model,
    {
      select: typeof selector === 'function' ? selector : undefined,
      inputs: typeof selector === 'function' ? undefined : selector.inputs,
      labels: typeof selector === 'function' ? undefined : selector.labels,
      optimizer: options.optimizer,
      stats,
      turnEveryMs: options.turnEveryMs,
      initialStep: step,
      beforeStep: callbacks.some((c) => c.onBatchBegin)
        ? async ({ batch, size }) => {
            for (const c of callbacks) await c.onBatchBegin?.(batch, { batch, size });
          }
        : undefined,
      async afterStep(result) {
        if (result.step % stride === 0) {
          stepLogs.push({ step: result.step, epoch: result.epoch, loss: result.loss, waitMs: result.waitMs, stepMs: result.stepMs, size: result.size });
          if (stepLogs.length >= maxStepLogs) {
            stride *= 2;
            stepLogs = stepLogs.filter((l) => l.step % stride === 0);
          }
        }
        progress.step(result);
        events.next({ type: 'step', ...result });
        for (const c of callbacks) await c.onBatchEnd?.(result.batch, { batch: result.batch, size: result.size, loss: result.loss, ...result.metrics });
        if (ckpt?.everySteps && result.step % ckpt.everySteps === 0) await saveAt(context.epoch);
      },
    },
    context,
  );

  if (layers) {
    layers.stopTraining = false;
    for (const c of callbacks) c.setModel?.(layers);
  }
  const params = { epochs, initialEpoch, steps: options.batchesPerEpoch ?? 0, verbose: 0, doValidation: Boolean(options.validation), metrics: layers?.metricsNames ?? ['loss'] };
  for (const c of callbacks) c.setParams?.(params as unknown as Record<string, number | string | boolean>);
  for (const c of callbacks) await c.onTrainBegin?.({});
  progress.begin(epochs);
  // Steps per epoch: given, or the pipeline's declared cardinality (src/cardinality.ts) for the bar's total.
  const declared = options.batchesPerEpoch === undefined ? await cardinalityWithin(dataset$) : 'unknown';
  let knownSteps = options.batchesPerEpoch ?? (typeof declared === 'number' ? declared : undefined);

  try {
    for (let epoch = initialEpoch; epoch < epochs && !stopTraining(); epoch++) {
      context.epoch = epoch;
      events.next({ type: 'epochBegin', epoch });
      for (const c of callbacks) await c.onEpochBegin?.(epoch, {});
      progress.epochBegin(epoch, knownSteps);
      const epochStart = performance.now();
      let steps = 0;
      let samples = 0;
      let waitMs = 0;
      let lossSum = 0;
      const metricSums: Record<string, number> = {};
      const batches$ = options.batchesPerEpoch ? dataset$.pipe(take(options.batchesPerEpoch)) : dataset$;
      await new Promise<void>((resolve, reject) => {
        const subscription = batches$.pipe(trainer, takeWhile(() => !stopTraining(), true)).subscribe({
          next(result) {
            steps++;
            samples += result.size;
            waitMs += result.waitMs;
            lossSum += result.loss * result.size;
            for (const [k, v] of Object.entries(result.metrics)) metricSums[k] = (metricSums[k] ?? 0) + v * result.size;
          },
          error: reject,
          complete: resolve,
        });
        onStopHandle(() => {
          subscription.unsubscribe();
          resolve();
        });
      });
      // An unsubscribe mid-step leaves that step running: wait so its tensors are freed.
      await trainer.idle();
      if (stopRequested()) {
        stopped = 'stopped';
        if (steps === 0) break;
      }
      knownSteps = options.batchesPerEpoch ?? steps;
      const metrics = Object.fromEntries(Object.entries(metricSums).map(([k, v]) => [k, v / Math.max(samples, 1)]));
      const validation =
        options.validation && layers && !stopRequested()
          ? Object.fromEntries(Object.entries(await evaluateBatches(layers, options.validation, selector)).map(([k, v]) => [`val_${k}`, v]))
          : undefined;
      const wallMs = performance.now() - epochStart;
      const log: EpochLog = {
        epoch,
        steps,
        samples,
        loss: lossSum / Math.max(samples, 1),
        metrics,
        validation,
        wallMs,
        waitMs,
        inputWait: waitMs / Math.max(wallMs, 1e-9),
        samplesPerSec: (samples / Math.max(wallMs, 1e-9)) * 1000,
        step: trainer.steps,
      };
      epochLogs.push(log);
      const logs: tf.Logs = { loss: log.loss, ...metrics, ...(validation ?? {}) };
      for (const [k, v] of Object.entries(logs)) (keras[k] ??= []).push(v);
      progress.epochEnd(log);
      events.next({ type: 'epochEnd', ...log });
      for (const c of callbacks) await c.onEpochEnd?.(epoch, logs);
      if (everyEpochs && (epoch + 1 - initialEpoch) % everyEpochs === 0) await saveAt(epoch + 1);
      if (stopRequested()) break;
    }
    if (stopped === 'completed' && layers?.stopTraining) {
      stopped = 'stopTraining';
      progress.note(`stopped early by model.stopTraining after epoch ${(epochLogs.at(-1)?.epoch ?? 0) + 1}`);
    }
    for (const c of callbacks) await c.onTrainEnd?.({});
  } finally {
    progress.end();
    await trainer.idle();
  }

  const result: FitHistory = {
    epochs: epochLogs,
    steps: stepLogs,
    history: keras,
    initialEpoch,
    stopped,
    backend: tf.getBackend(),
    wallMs: performance.now() - startedAt,
  };
  if (options.report) {
    await writeReport(options.report, result, { title: options.reportTitle, stats });
    progress.note(`report written to ${options.report}`);
  }
  return result;
}
