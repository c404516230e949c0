/**
 * The inputs of a fan-in stage of ours (`zipDatasets`, `sampleFromDatasets`, `chooseFromDatasets`)
 * in a resumable pipeline: each input is subscribed with a registry of its own, so its stages
 * save their positions as they would at the top of a pipeline, and the fan-in saves them all
 * inside its own state.
 *
 * ```
 * resumable ─▶ batch ─▶ zipDatasets ─┬─ input 0 registry: #0 shuffle  #1 fromIterable
 *   #0 batch   #1 zipDatasets (source) └─ input 1 registry: #0 fromFiles
 * ```
 *
 * An input whose position cannot be saved (a foreign source, an operator that delivers on its
 * own) makes the checkpoint fail with a {@link CheckpointError} naming the fan-in and the input.
 */
import type { SavedStage, StageHandle } from './registry.js';
import { CheckpointError, StateRegistry, subscribeWithRegistry, withoutRegistry } from './registry.js';

export class InputStates {
  private readonly registries: (StateRegistry | undefined)[];

  /**
   * `handle`: the fan-in's own registration (undefined outside a resumable pipeline: then the
   * inputs are subscribed as they are). `labels`: how messages name each input.
   */
  constructor(
    private readonly handle: StageHandle | undefined,
    private readonly labels: readonly string[],
    restored: readonly (readonly SavedStage[])[] | undefined,
  ) {
    this.registries = labels.map((label, i) => handle?.registry.child(restored?.[i], `${handle.hooks.name} ${label}`));
  }

  /** Subscribes input `i` through `subscribe`, its stages registering with the input's registry. */
  subscribe<R>(i: number, subscribe: () => R): R {
    const registry = this.registries[i];
    if (!registry) return this.handle ? withoutRegistry(subscribe) : subscribe();
    const result = subscribeWithRegistry(registry, subscribe);
    registry.checkRestored();
    return result;
  }

  /** Call on every element input `i` delivers: notes one that did not come from the input's own stage. */
  received(i: number): void {
    this.registries[i]?.endHandle.received();
  }

  /** Every input's stage states, or a CheckpointError naming the input that cannot save. */
  save(): SavedStage[][] {
    return this.registries.map((registry, i) => {
      if (!registry) return [];
      try {
        return registry.save();
      } catch (error) {
        if (error instanceof CheckpointError) throw new CheckpointError(`${this.handle!.hooks.name} ${this.labels[i]}: ${error.message.replace(/^checkpoint: /, '')}`);
        throw error;
      }
    });
  }

  /** Elements the inputs' stages hold, by input. */
  held(): Record<string, number> {
    const out: Record<string, number> = {};
    this.registries.forEach((registry, i) => {
      for (const [stage, n] of Object.entries(registry?.held() ?? {})) out[`${this.labels[i]} ${stage}`] = n;
    });
    return out;
  }
}
