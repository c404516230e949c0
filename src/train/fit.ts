/**
 * Keras-style training over a cold pipeline: epochs, validation, callbacks, checkpoints, progress
 * and a report, on top of {@link trainOn}. This module only composes; each job has its module:
 *
 * ```
 * fitRun.ts            the handle: events$, history, stats, stop()
 * epochLoop.ts         one epoch through the trainer; stop at a step boundary
 * callbacks.ts         tfjs callbacks, in order
 * validation.ts        model.evaluate over the validation pipeline
 * checkpointPolicy.ts  resumeFrom, and when to save
 * historyRecorder.ts   epoch logs, the bounded step log, Keras' history
 * reportSink.ts        the HTML report at the end
 * ```
 */
import * as tf from '@tensorflow/tfjs';
import { take, type Observable } from 'rxjs';
import { withSignal } from '../abort.js';
import { PipelineStats } from '../stats.js';
import { cardinalityWithin } from '../cardinality.js';
import { CallbackList } from './callbacks.js';
import { CheckpointPolicy } from './checkpointPolicy.js';
import { resumedPipeline } from './resumePipeline.js';
import { epochLog, runEpoch, StopControl } from './epochLoop.js';
import { lazyRun } from './fitRun.js';
import type { FitEvent, FitHistory, FitOptions, FitRun } from './fitTypes.js';
import { HistoryRecorder } from './historyRecorder.js';
import { trainable } from './model.js';
import { Progress, progressOptions } from './progress.js';
import { writeRunReport } from './reportSink.js';
import { makeTrainer, type StepFn, type TrainContext } from './trainOn.js';
import type { BatchSelector } from './tensors.js';
import { validate } from './validation.js';

export type { CheckpointOptions, EpochLog, FitCallback, FitEvent, FitHistory, FitOptions, FitRun, StepLog } from './fitTypes.js';
export type { ReplayOptions } from './eventReplay.js';
export { evaluateBatches } from './validation.js';

/**
 * Trains `model` on a cold pipeline of batches for a number of epochs, Keras style.
 *
 * ```
 * epoch e:  subscribe dataset$ ─▶ trainOn ─▶ step events ─▶ complete
 *           └▶ evaluate(validation$) ─▶ callbacks.onEpochEnd ─▶ checkpoint? ─▶ stop? ─▶ epoch e+1
 * returns:  FitRun { events$, history, stats, stop() }, lazy: trains once someone subscribes or awaits
 * signal:   abort ─▶ stop at the next step boundary, free, unsubscribe ─▶ rejects with AbortError
 * ```
 *
 * Each epoch re-subscribes `dataset$` (so `cache`, `shuffle` and friends see a new epoch), runs
 * one step per batch (or `batchesPerEpoch` batches), then evaluates `validation` with
 * `model.evaluate`. Callbacks get tfjs' hooks and logs (`loss`, `acc`, `val_loss`, `val_acc`);
 * `tf.callbacks.earlyStopping()` works as in `model.fit`, and `model.stopTraining = true` stops
 * after the current step. Checkpoints save every N epochs or steps; `resumeFrom` restores weights
 * and the epoch and step counters. The pipeline's statistics collect into `stats`.
 *
 * The run is lazy, like a cold Observable: training starts on the first subscription to
 * `events$`, the first read of `run.history`, or `await run`; and it runs once. `events$`
 * replays to late subscribers every run-level event and the newest 100 step events (see
 * `replay`). When `signal` aborts, training stops at the next step boundary, the pipeline is
 * unsubscribed, every tensor is freed, and the run rejects with an `AbortError` (not a history
 * marked aborted: a caller awaiting the run must not mistake an interrupted run for a finished
 * one, as with sources given a signal). `stop()` instead ends the run with its history.
 *
 * @example
 * ```ts
 * const run = fit(model, train$, { epochs: 10, validation: test$, callbacks: tf.callbacks.earlyStopping({ patience: 2 }) });
 * const history = await run; // or run.history
 * console.log(run.stats.format());
 * ```
 */
export function fit<B>(model: tf.LayersModel | StepFn<B>, dataset$: Observable<B>, options: FitOptions<B> = {}): FitRun {
  const stats = options.stats ?? new PipelineStats();
  const stop = new StopControl(options.signal);
  return lazyRun(stats, stop, (emit) => train(model, dataset$, options, stats, emit, stop), options.replay);
}

/** The whole run, top to bottom: set up, epochs, wrap up. */
async function train<B>(
  model: tf.LayersModel | StepFn<B>,
  dataset$: Observable<B>,
  options: FitOptions<B>,
  stats: PipelineStats,
  emit: (event: FitEvent) => void,
  stop: StopControl,
): Promise<FitHistory> {
  const startedAt = performance.now();
  const epochs = options.epochs ?? 1;
  const selector: BatchSelector<B> = options.select ?? { inputs: options.inputs, labels: options.labels };
  const { layers } = trainable(model, 'fit');
  if (options.validation && !layers) throw new TypeError('fit: validation needs a tf.LayersModel (a custom step has no evaluate)');
  if ((options.checkpoint || options.resumeFrom) && !layers) throw new TypeError('fit: checkpoints need a tf.LayersModel');

  // Set up: progress, callbacks, history, checkpoints (and where a resumed run starts), the trainer.
  const progress = new Progress(progressOptions(options.progress));
  const callbacks = new CallbackList(options.callbacks);
  const recorder = new HistoryRecorder(options.maxStepLogs);
  const checkpoints = new CheckpointPolicy(layers, options.checkpoint, ({ path, step, epoch }) => {
    emit({ type: 'checkpoint', path, step, epoch });
    progress.note(`checkpoint ${path}`);
  });
  const { initialEpoch, step, pipeline: savedPipeline } = await checkpoints.resume(options.resumeFrom);
  // The pipeline's position, saved with checkpoints and restored from them (src/state/).
  const data = resumedPipeline(dataset$, options, initialEpoch, savedPipeline, (message) => progress.note(message));
  if (options.resumeFrom && layers) progress.note(`resumed from ${options.resumeFrom}: epoch ${initialEpoch + 1}, step ${step}`);
  const context: TrainContext = { epoch: initialEpoch };
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
      beforeStep: callbacks.batchBeginHook(),
      async afterStep(result) {
        recorder.step(result);
        progress.step(result);
        emit({ type: 'step', ...result });
        await callbacks.batchEnd(result);
        // A step cut short by an abort still ends (its tensors freed), but saves nothing.
        if (!stop.aborted) await checkpoints.afterStep(result.step, context.epoch, data.state(result.batch + 1));
      },
    },
    context,
  );
  const stopTraining = (): boolean => stop.requested || (layers?.stopTraining ?? false);
  let stopped: FitHistory['stopped'] = 'completed';

  if (layers) layers.stopTraining = false;
  await callbacks.trainBegin(layers, {
    epochs,
    initialEpoch,
    steps: options.batchesPerEpoch ?? 0,
    doValidation: Boolean(options.validation),
    metrics: layers?.metricsNames ?? ['loss'],
  });
  progress.begin(epochs);
  // Steps per epoch: given, or the pipeline's declared cardinality (src/cardinality.ts) for the bar's total.
  const declared = options.batchesPerEpoch === undefined ? await cardinalityWithin(dataset$) : 'unknown';
  let knownSteps = options.batchesPerEpoch ?? (typeof declared === 'number' ? declared : undefined);
  const batchesOf = (n: number | undefined): Observable<B> => (n !== undefined ? data.source$.pipe(take(n)) : data.source$);

  // Epochs: train, validate, log, call back, checkpoint; a stop ends the run at a step boundary.
  try {
    for (let epoch = initialEpoch; epoch < epochs && !stopTraining(); epoch++) {
      context.epoch = epoch;
      emit({ type: 'epochBegin', epoch });
      await callbacks.epochBegin(epoch);
      progress.epochBegin(epoch, knownSteps);
      // A resumed epoch with batchesPerEpoch takes what was left of it.
      const perEpoch = options.batchesPerEpoch !== undefined ? options.batchesPerEpoch - (epoch === initialEpoch ? data.consumed : 0) : undefined;
      const totals = await runEpoch(trainer, batchesOf(perEpoch), () => !stopTraining(), stop);
      if (stop.requested) {
        stop.throwIfAborted();
        stopped = 'stopped';
        if (totals.steps === 0) break;
      }
      knownSteps = options.batchesPerEpoch ?? totals.steps;
      const validation = options.validation && layers && !stop.requested ? await validate(layers, withSignal(options.validation, options.signal, 'fit'), selector) : undefined;
      const log = epochLog(epoch, totals, validation, trainer.steps);
      const logs = recorder.epoch(log);
      progress.epochEnd(log);
      emit({ type: 'epochEnd', ...log });
      await callbacks.epochEnd(epoch, logs);
      if (!stop.aborted) await checkpoints.afterEpoch(epoch, trainer.steps, data.state());
      if (stop.requested) break;
    }
    stop.throwIfAborted();
    if (stopped === 'completed' && layers?.stopTraining) {
      stopped = 'stopTraining';
      progress.note(`stopped early by model.stopTraining after epoch ${(recorder.epochs.at(-1)?.epoch ?? 0) + 1}`);
    }
    await callbacks.trainEnd();
  } finally {
    progress.end();
    await trainer.idle();
  }

  // Wrap up: the history, and the report when asked for.
  const history = recorder.result({ initialEpoch, stopped, backend: tf.getBackend(), wallMs: performance.now() - startedAt });
  await writeRunReport(options, history, stats, progress);
  return history;
}
