/**
 * `resumable(dataset$)`: a pipeline whose position can be saved at a training step and restored
 * in another process, so training resumes mid-epoch with exactly the elements it had left.
 */
import { Observable, Subscriber } from 'rxjs';
import { currentScope, produce } from '../flow.js';
import { CheckpointError, StateRegistry, subscribeWithRegistry, type SavedStage } from './registry.js';

/** A pipeline's position: what `checkpoint()` returns and `restore()` takes. Plain data (V8-serialisable). */
export interface PipelineCheckpoint {
  readonly format: 'rxdata-pipeline-state';
  readonly version: 1;
  /** `'start'`: the next subscription runs epoch `epoch` from its beginning. `'mid'`: it continues epoch `epoch` from `stages`. */
  readonly at: 'start' | 'mid';
  /** The epoch (the pipeline's subscription number, 0-based) the position is in. */
  readonly epoch: number;
  /** Elements of this epoch the consumer had finished with. */
  readonly consumed: number;
  /** Elements delivered to the consumer and not yet consumed: handed to it first on restore. */
  readonly pending: readonly unknown[];
  /** Every registered stage's state, in subscription order (demand end first). */
  readonly stages: readonly SavedStage[];
  /** The epoch's source side had ended (completed, or cut by `take`): a restore emits `pending` and completes. */
  readonly sourceDone?: boolean;
  /** Elements each stage holds in its state (a shuffle window, a prefetch buffer): the checkpoint's size is theirs plus positions. */
  readonly held: Readonly<Record<string, number>>;
}

export interface ResumableOptions {
  /** The end's name in messages. Default `'resumable'`. */
  name?: string;
  /**
   * Elements delivered to the consumer that are kept (by reference) in case a checkpoint says
   * they were not consumed yet: the consumer's own lookahead (trainOn: 1). Default 4.
   */
  maxPending?: number;
}

export interface CheckpointOptions {
  /**
   * Elements of the current subscription the consumer has finished with (trainOn: the step
   * result's `batch + 1`). Default: every element delivered so far (right for a consumer that
   * takes the next element only after finishing the last one).
   */
  consumed?: number;
}

/** A cold pipeline with `checkpoint()` and `restore()`; each subscription is one epoch. */
export interface ResumablePipeline<T> extends Observable<T> {
  /**
   * The position now: the states of every stage of ours, and the elements delivered but not
   * consumed. Call it between steps (in trainOn's `afterStep`, or from fit). Throws a
   * {@link CheckpointError} naming the stage when the pipeline holds state it cannot save.
   */
  checkpoint(options?: CheckpointOptions): PipelineCheckpoint;
  /** The next subscription resumes from `state` (once; later subscriptions are the following epochs). */
  restore(state: PipelineCheckpoint): void;
  /** The epoch the next subscription will run. */
  readonly nextEpoch: number;
}

/** One subscription's bookkeeping. */
interface Run {
  readonly registry: StateRegistry;
  /** Elements of the epoch consumed before this subscription (a restored one). */
  readonly base: number;
  /** Elements delivered to the consumer by this subscription. */
  delivered: number;
  /** The last `maxPending` delivered elements, oldest first. */
  readonly recent: unknown[];
  status: 'running' | 'complete' | 'ended';
}

/**
 * Makes `source` resumable: its stages of ours (sources, `interleave`/`fromFiles`, `shuffle`,
 * `batch`, `prefetch`, `parallelMap`, `cache`) register at subscription and save their positions
 * on `checkpoint()`; `restore(state)` makes the next subscription continue from there.
 *
 * ```
 * run 1:  b0 b1 b2 b3 ✕ (killed after checkpoint at b2 consumed)
 * run 2:           b3 b4 … (restore: exactly the rest, same order)
 * ```
 *
 * @example
 * ```ts
 * const data = resumable(fromFiles('d/*.csv', { format: 'csv', cycleLength: 2 }).pipe(shuffle(1000, { seed: 1 }), batch(32), prefetch(2)));
 * if (existsSync('ckpt/data.bin')) data.restore(await loadPipelineState('ckpt/data.bin'));
 * data.pipe(trainOn(model, { afterStep: (r) => savePipelineState('ckpt/data.bin', data.checkpoint({ consumed: r.batch + 1 })) }));
 * ```
 */
export function resumable<T>(source: Observable<T>, options: ResumableOptions = {}): ResumablePipeline<T> {
  const name = options.name ?? 'resumable';
  const maxPending = options.maxPending ?? 4;
  if (!(Number.isInteger(maxPending) && maxPending >= 0)) throw new RangeError(`resumable: maxPending must be an integer >= 0, got ${maxPending}`);
  let nextEpoch = 0;
  let restoreFrom: PipelineCheckpoint | undefined;
  let current: Run | undefined;

  const pipeline = new Observable<T>((subscriber) => {
    const scope = currentScope();
    const from = restoreFrom;
    restoreFrom = undefined;
    const epoch = from ? from.epoch : nextEpoch;
    nextEpoch = epoch + 1;
    const mid = from?.at === 'mid' && !expired(from, name) ? from : undefined;
    const registry = new StateRegistry(epoch, mid?.stages, name);
    const run: Run = { registry, base: mid?.consumed ?? 0, delivered: 0, recent: [], status: 'running' };
    current = run;
    const keep = (value: unknown): void => {
      run.delivered++;
      if (maxPending === 0) return;
      if (run.recent.length === maxPending) run.recent.shift();
      run.recent.push(value);
    };
    // Delivered but not consumed before the checkpoint: first, as the consumer had them.
    for (const value of mid?.pending ?? []) {
      if (subscriber.closed) return;
      keep(value);
      produce(scope, name, subscriber, value as T);
    }
    if (mid?.sourceDone) {
      run.status = 'complete';
      subscriber.complete();
      return;
    }
    const end = registry.endHandle;
    const counted = new Subscriber<T>({
      next(value) {
        end.received();
        keep(value);
        subscriber.next(value);
      },
      error: (error: unknown) => subscriber.error(error),
      complete() {
        run.status = 'complete';
        subscriber.complete();
      },
    });
    subscriber.add(counted);
    subscribeWithRegistryChecked(registry, source, counted);
    return () => {
      counted.unsubscribe();
      if (run.status === 'running') run.status = 'ended';
    };
  });

  const checkpoint = (opts: CheckpointOptions = {}): PipelineCheckpoint => {
    const base = { format: 'rxdata-pipeline-state', version: 1 } as const;
    if (!current) return startOfEpoch(nextEpoch);
    const run = current;
    const consumed = opts.consumed ?? run.delivered;
    if (!(Number.isInteger(consumed) && consumed >= 0 && consumed <= run.delivered)) {
      throw new RangeError(`checkpoint: consumed must be an integer between 0 and ${run.delivered} (elements delivered by this subscription), got ${consumed}`);
    }
    const pending = run.delivered - consumed;
    // An epoch over and all consumed: the next subscription starts the next one, whatever the stages.
    if (run.status !== 'running' && pending === 0) return startOfEpoch(run.registry.epoch + 1);
    // What the stages can save is the more fundamental question: asked before the pending count.
    run.registry.check();
    const stages = run.status === 'running' ? run.registry.save() : [];
    if (pending > run.recent.length) {
      throw new CheckpointError(`${pending} elements were delivered and not consumed, more than maxPending=${maxPending} kept for a checkpoint; raise resumable's maxPending`);
    }
    if (run.status !== 'running') {
      // Completed, or unsubscribed (take, a stop): the source side of this epoch is over. What the
      // consumer still has comes first on restore; the subscription after it starts the next epoch.
      return { ...base, at: 'mid', epoch: run.registry.epoch, consumed: run.base + consumed, pending: run.recent.slice(run.recent.length - pending), stages: [], held: {}, sourceDone: true };
    }
    return {
      ...base,
      at: 'mid',
      epoch: run.registry.epoch,
      consumed: run.base + consumed,
      pending: run.recent.slice(run.recent.length - pending),
      stages,
      held: run.registry.held(),
    };
  };

  const restore = (state: PipelineCheckpoint): void => {
    if (state?.format !== 'rxdata-pipeline-state' || state.version !== 1) {
      throw new TypeError('restore: not an rxdata pipeline state (format rxdata-pipeline-state, version 1)');
    }
    restoreFrom = state;
  };

  Object.defineProperty(pipeline, 'nextEpoch', { get: () => (restoreFrom ? restoreFrom.epoch : nextEpoch) });
  return Object.assign(pipeline, { checkpoint, restore }) as ResumablePipeline<T>;
}

/**
 * Whether a stage's saved position has expired (a BigQuery read session, kept 6 hours): then the
 * epoch restarts from its beginning, and a warning says why (the elements of the epoch trained
 * before the checkpoint are trained again).
 */
function expired(state: PipelineCheckpoint, name: string): boolean {
  const now = Date.now();
  for (const stage of state.stages) {
    const at = (stage.state as { expiresAt?: unknown } | null)?.expiresAt;
    if (typeof at === 'number' && at <= now) {
      process.emitWarning(`${name}: the position of '${stage.name}' expired at ${new Date(at).toISOString()}; epoch ${state.epoch} restarts from its beginning`, { code: 'RXDATA_STATE_EXPIRED' });
      return true;
    }
  }
  return false;
}

/** The position at the beginning of `epoch`: restoring it makes the next subscription that epoch (its shuffle order), from its start. */
export function startOfEpoch(epoch: number): PipelineCheckpoint {
  return { format: 'rxdata-pipeline-state', version: 1, at: 'start', epoch, consumed: 0, pending: [], stages: [], held: {} };
}

/** Subscribes with the registry visible, then checks a restored pipeline matched the checkpoint. */
function subscribeWithRegistryChecked<T>(registry: StateRegistry, source: Observable<T>, subscriber: Subscriber<T>): void {
  subscribeWithRegistry(registry, () => source.subscribe(subscriber));
  try {
    registry.checkRestored();
  } catch (error) {
    subscriber.error(error);
  }
}
