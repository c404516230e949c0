/**
 * The pipeline-state registry: how the stages of one subscription of a resumable pipeline find
 * each other, save their positions, and get them back.
 *
 * ```
 * resumable(end) ──subscribe──▶ prefetch ──▶ batch ──▶ shuffle ──▶ interleave(files)
 *      registry:   #0 prefetch   #1 batch    #2 shuffle   #3 interleave   (subscription order)
 * ```
 *
 * Subscription runs synchronously from the demand end up to the source, so a stage of ours that
 * calls {@link registerStage} from its subscribe function gets a deterministic position: the same
 * pipeline registers the same stages in the same order in every process, which is what lets a
 * checkpoint's list of stage states be matched to a rebuilt pipeline. The registry is found
 * through an `AsyncLocalStorage` frame of this module (not the flow scope of `src/flow.ts`) that
 * is live only during that synchronous subscribe call: a stage subscribed later (by `repeat`, a
 * `concat`, a `mergeMap` inner) does not register, and is caught by the foreign-delivery check
 * below instead.
 *
 * Foreign stages: each registered stage marks itself as the active emitter while it hands an
 * element downstream ({@link StageHandle.emitter}); the stage registered just before it (its
 * downstream neighbour) checks, on every arrival ({@link StageHandle.received}), that the element
 * came from inside that call. Ordinary synchronous operators in between (`map`, `filter`, `tap`,
 * `take`) pass that check; an operator that holds elements and delivers them later (`delay`,
 * RxJS `mergeMap`/`concatMap` with async work, `observeOn`) or a source that is not ours fails it,
 * and a checkpoint then fails naming the two stages around it. Not detected (documented in
 * docs/resume.md): a synchronous operator that keeps state across elements and hands it on inside
 * a later element's call (`bufferCount`, `scan`, `pairwise`, `distinct`): use ours (`batch`) or
 * keep such state out of resumable pipelines.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Subscriber } from 'rxjs';

/** A stage's saved state: plain data (structured-clone / V8-serialisable: numbers, strings, typed arrays, plain objects). */
export type StageSnapshot = unknown;

/** One stage's entry in a pipeline checkpoint. */
export interface SavedStage {
  /** What kind of stage saved it (`'shuffle'`, `'batch'`…): a rebuilt pipeline must match. */
  readonly kind: string;
  /** The stage's name (its statistics name), for messages. */
  readonly name: string;
  readonly state: StageSnapshot;
}

/** What a stage of ours tells the registry. */
export interface StageHooks {
  readonly kind: string;
  readonly name: string;
  /**
   * `'source'`: owns the position of everything above it (a source, `interleave` with its inputs
   * and inner sources, `cache` while replaying); the topmost registered stage must be one.
   * `'operator'`: saves only its own buffer; the stage above must save the rest.
   */
  readonly role: 'source' | 'operator';
  /** Returns the stage's state now: plain data; throws a clear error when it cannot. */
  save(): StageSnapshot;
  /** Elements the state holds (a shuffle window, a prefetch buffer), reported with the checkpoint. */
  held?(): number;
  /**
   * Why the stage cannot save its state now (a live source, an operator holding Observables or
   * functions), or undefined when it can: `checkpoint()` then fails with a {@link CheckpointError}
   * naming the stage and the reason. Asked before anything else is checked.
   */
  refuse?(): string | undefined;
  /** Elements held inside the stage by stages of its own (a fan-in's inputs), by their names; reported under the stage. */
  heldParts?(): Record<string, number>;
}

/** The element that is being handed on by a registered stage right now (a stack, restored after each hand-off). */
let activeEmitter: StageHandle | undefined;

/** A registered stage: its restored state, and the two calls that let the registry see foreign stages. */
export class StageHandle {
  /** Elements this stage handed downstream in this subscription. */
  out = 0;
  constructor(
    readonly registry: StateRegistry,
    readonly index: number,
    readonly hooks: StageHooks,
    /** The state to start from, when restoring; undefined for a fresh start. */
    readonly restored: StageSnapshot | undefined,
  ) {}

  /** The epoch (the resumable pipeline's subscription number) this subscription belongs to. */
  get epoch(): number {
    return this.registry.epoch;
  }

  /**
   * `subscriber`, wrapped so that every element handed through it is marked as coming from this
   * stage (and counted); `onEmit` runs before the hand-off (a stage mirroring its outbox).
   */
  emitter<T>(subscriber: Subscriber<T>, onEmit?: (value: T) => void): Subscriber<T> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- read inside the observer's methods
    const self = this;
    const wrapped = new Subscriber<T>({
      next(value) {
        const previous = activeEmitter;
        activeEmitter = self;
        self.out++;
        onEmit?.(value);
        try {
          subscriber.next(value);
        } finally {
          activeEmitter = previous;
        }
      },
      error: (error: unknown) => subscriber.error(error),
      complete: () => subscriber.complete(),
    });
    subscriber.add(wrapped);
    return wrapped;
  }

  /** Call on every element arriving from upstream: notes a delivery that did not come from the registered stage above. */
  received(): void {
    const registry = this.registry;
    if (registry.foreign) return;
    const above = registry.stages[this.index + 1];
    if (above === undefined || activeEmitter === above) return;
    registry.foreign = { below: this.hooks.name, above: above.hooks.name };
  }
}

/** The stages of one subscription of a resumable pipeline, in subscription order (demand end first). */
export class StateRegistry {
  readonly stages: StageHandle[] = [];
  /** A pair of registered stages with something between them that delivered elements on its own (see the module comment). */
  foreign: { below: string; above: string } | undefined;
  /** Stages that cannot be part of a linear chain (a second source registered after a first: a merge or zip). */
  readonly nonLinear: string[] = [];
  /** The end's own delivery check: the element came from the first registered stage. */
  readonly endHandle: StageHandle;

  constructor(
    /** The resumable pipeline's subscription number (0-based): `shuffle`'s permutation follows it. */
    readonly epoch: number,
    /** Saved stage states to restore from (matched by position), when resuming mid-epoch. */
    private readonly restoring: readonly SavedStage[] | undefined,
    endName: string,
  ) {
    this.endHandle = new StageHandle(this, -1, { kind: 'end', name: endName, role: 'operator', save: () => undefined }, undefined);
  }

  /** Stages registered above this position start fresh on restore (a `cache` that must read its source again from the start). */
  private freshAbove: number | undefined;

  /** Stages registered after `handle` get no restored state (see `freshAbove`). */
  startFreshAbove(handle: StageHandle): void {
    this.freshAbove = handle.index;
  }

  /**
   * A registry for one input of a fan-in stage of ours (`zipDatasets`, `sampleFromDatasets`…): the
   * input's stages register there (in their own order, from their own saved list) instead of in
   * this one, and the fan-in saves the input's states inside its own.
   */
  child(restoring: readonly SavedStage[] | undefined, endName: string): StateRegistry {
    return new StateRegistry(this.epoch, restoring, endName);
  }

  /** Registers a stage at the next position and hands it its restored state. Throws when a restored pipeline's stage does not match. */
  register(hooks: StageHooks): StageHandle {
    const index = this.stages.length;
    const last = this.stages[index - 1];
    if (last?.hooks.role === 'source') this.nonLinear.push(`${hooks.name} (above ${last.hooks.name})`);
    let restored: StageSnapshot | undefined;
    if (this.restoring && !(this.freshAbove !== undefined && index > this.freshAbove)) {
      const saved = this.restoring[index];
      if (saved === undefined || saved.kind !== hooks.kind) {
        throw new Error(
          `restore: stage #${index} of the pipeline is '${hooks.name}' (${hooks.kind}), but the checkpoint has ` +
            (saved ? `'${saved.name}' (${saved.kind})` : 'no stage there') + ': the pipeline was built differently',
        );
      }
      restored = saved.state;
    }
    const handle = new StageHandle(this, index, hooks, restored);
    this.stages.push(handle);
    return handle;
  }

  /** Checks, after the subscribe call, that a restored pipeline registered every saved stage. */
  checkRestored(): void {
    if (this.restoring && this.freshAbove === undefined && this.restoring.length !== this.stages.length) {
      throw new Error(`restore: the checkpoint has ${this.restoring.length} stages, the pipeline registered ${this.stages.length}: the pipeline was built differently`);
    }
  }

  /** Every stage's state, or an error naming the stage that makes the pipeline unsaveable. */
  save(): SavedStage[] {
    this.check();
    return this.stages.map((s) => ({ kind: s.hooks.kind, name: s.hooks.name, state: s.hooks.save() }));
  }

  /** Throws a {@link CheckpointError} naming what makes the pipeline unsaveable, if anything. */
  check(): void {
    // A stage that says it cannot save is the most specific answer: first.
    for (const s of this.stages) {
      const reason = s.hooks.refuse?.();
      if (reason !== undefined) throw new CheckpointError(`'${s.hooks.name}' cannot save its state: ${reason}`);
    }
    if (this.nonLinear.length > 0) {
      throw new CheckpointError(`the pipeline merges several sources of ours (${this.nonLinear.join(', ')}): positions of merge, concat and RxJS's zip cannot be saved; use interleave, zipDatasets, sampleFromDatasets or chooseFromDatasets, which save each input's`);
    }
    if (this.foreign) {
      throw new CheckpointError(
        `a stage between '${this.foreign.above}' and '${this.foreign.below}' delivered elements on its own (an RxJS operator that holds elements, such as delay, observeOn or an async mergeMap/concatMap, or a re-subscription by repeat/concat): its state cannot be saved`,
      );
    }
    const top = this.stages[this.stages.length - 1];
    if (top === undefined) throw new CheckpointError('the pipeline has no stage of ours that can save its position (build it from fromIterable, fromFiles or interleave)');
    if (top.hooks.role !== 'source') {
      throw new CheckpointError(`the source above '${top.hooks.name}' cannot save its position (it is not fromIterable, fromFiles, interleave, fromKafka or fromBigQuery)`);
    }
  }

  /** Elements held per stage that holds any (for the checkpoint's size report). */
  held(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.stages) {
      const n = s.hooks.held?.();
      if (n) out[`#${s.index} ${s.hooks.name}`] = n;
      for (const [part, m] of Object.entries(s.hooks.heldParts?.() ?? {})) if (m) out[`#${s.index} ${s.hooks.name}/${part}`] = m;
    }
    return out;
  }
}

/** A pipeline checkpoint was asked for, and the pipeline cannot give one (the message says which stage). */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  constructor(message: string) {
    super(`checkpoint: ${message}`);
  }
}

/** The frame live during one synchronous subscribe call of a resumable pipeline; `registry` is cleared when the call returns. */
interface Frame {
  registry: StateRegistry | undefined;
}
const storage = new AsyncLocalStorage<Frame>();

/** Registers a stage of ours with the resumable pipeline being subscribed, if any. Call it from the subscribe function only. */
export function registerStage(hooks: StageHooks): StageHandle | undefined {
  return storage.getStore()?.registry?.register(hooks);
}

/** Runs `subscribe` with `registry` visible to the stages it subscribes, and hides it again when it returns. */
export function subscribeWithRegistry<R>(registry: StateRegistry, subscribe: () => R): R {
  const frame: Frame = { registry };
  try {
    return storage.run(frame, subscribe);
  } finally {
    // Later subscriptions made from callbacks of this pipeline (which inherit the frame) register nowhere.
    frame.registry = undefined;
  }
}

/** Runs `fn` with no registry visible: a stage that saves the position of what it subscribes (interleave's inputs and inner sources) hides it from them. */
export function withoutRegistry<R>(fn: () => R): R {
  return storage.run({ registry: undefined }, fn);
}

/** A FIFO that mirrors what a stage's outbox holds (pushed on entry, shifted as the emitter hands each on), so the stage can save it. */
export class Mirror<T> {
  private items: T[] = [];
  private head = 0;
  push(value: T): void {
    this.items.push(value);
  }
  shift(): void {
    if (this.head >= this.items.length) return;
    this.items[this.head++] = undefined as T;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
  values(): T[] {
    return this.items.slice(this.head);
  }
  get size(): number {
    return this.items.length - this.head;
  }
  clear(): void {
    this.items = [];
    this.head = 0;
  }
}
