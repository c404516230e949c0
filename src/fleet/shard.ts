/**
 * What a pipeline head knows of the fleet it runs in: the epoch it produces.
 */
import type { WorkerShard } from '../workers/head.js';

/** The shard a fleet head is given: `fromWorkers`' shard plus the epoch being produced. */
export interface FleetShard extends WorkerShard {
  /** The epoch this run of the head produces (0 in streaming mode): seed shuffles with it. */
  readonly epoch: number;
}

/**
 * The epoch a head runs for: `shard.epoch` under `runWorker`, 0 elsewhere (`fromWorkers`). A
 * head that shuffles seeds with it, so each epoch has its own order and a restarted worker
 * re-reads an epoch in the same order (which is what lets it skip what it published already).
 *
 * @example
 * ```ts
 * export default definePipelineHead((shard, args: { files: string[] }) =>
 *   fromFiles(args.files, { format: 'csv', shard }).pipe(
 *     shuffle(1024, { seed: 17 + epochOf(shard), reshuffleEachEpoch: false }), batch(64)));
 * ```
 */
export function epochOf(shard: WorkerShard): number {
  const epoch = (shard as Partial<FleetShard>).epoch;
  return typeof epoch === 'number' ? epoch : 0;
}
