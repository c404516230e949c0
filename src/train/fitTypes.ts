/**
 * The public shapes of `fit`: its options, the records it keeps, the events it emits and the run
 * it returns. Types only, so every module of the training sink can name them without cycles.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Observable } from 'rxjs';
import type { PipelineStats } from '../stats.js';
import type { EpochSummary, ProgressMode, ProgressOptions } from './progress.js';
import type { StepResult } from './trainOn.js';
import type { FieldSelection, NDInput } from './tensors.js';
import type { ReplayOptions } from './eventReplay.js';

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
  /**
   * Save the pipeline's position with each checkpoint (`pipeline.bin`, see docs/resume.md), so
   * `resumeFrom` continues a step checkpoint's epoch exactly where it was. `'auto'` (default):
   * when the pipeline holds state that cannot be saved, say so once (a warning naming the stage)
   * and save without it (the epoch then reruns from its start on resume); `'required'`: fail the
   * run instead; `false`: never.
   */
  pipeline?: 'auto' | 'required' | false;
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
  /**
   * Stops training at the next step boundary when it aborts: the pipeline is unsubscribed, the
   * step's tensors freed, and the run rejects (and `events$` errors) with an `AbortError`.
   */
  signal?: AbortSignal;
  /** What `events$` replays to a late subscriber. Default: the last 100 step events and the last 10 000 others. */
  replay?: ReplayOptions;
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

/**
 * A `fit` run. Lazy: nothing trains until you subscribe to `events$`, read `history`, or await
 * the run itself (`await fit(…)` gives the history); it then runs once, however many listen.
 */
export interface FitRun extends PromiseLike<FitHistory> {
  /**
   * Progress events; subscribing starts training. A subscriber that comes late first gets a
   * bounded replay (every run-level event and the newest step events, see `FitOptions.replay`),
   * then the live ones. Unsubscribing only stops listening.
   */
  readonly events$: Observable<FitEvent>;
  /**
   * The history once training ends; reading it starts training. Rejects with the step's error
   * when a step fails, and with an `AbortError` when `signal` aborts.
   */
  readonly history: Promise<FitHistory>;
  /** Whether training has been started. */
  readonly started: boolean;
  /** The pipeline statistics, readable during and after training. */
  readonly stats: PipelineStats;
  /** Stops after the current step; `history` then resolves with `stopped: 'stopped'`. */
  stop(): void;
}
