/**
 * The trainer's side of a fleet: reads the fleet header of each record, drops duplicates, and
 * tells when an epoch is complete.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import { RecordError } from '../../../src/errors.js';
import type { PipelineStats } from '../../../src/stats.js';
import type { KafkaRecord } from '../fromKafka.js';
import { acknowledgeIn } from '../sessions.js';
import { FLEET_HEADER, before, parseTag, type FleetTag } from './protocol.js';

/** A batch record of a fleet: the Kafka record, with what its header says. */
export type FleetRecord<T> = KafkaRecord<T> & { readonly fleet: FleetTag };

/** One partition finished an epoch on this trainer. */
export interface FleetEpochEnd {
  readonly epoch: number;
  /** The partition whose share of `epoch` just ended (every shard's end marker arrived on it). */
  readonly partition: number;
  /** Partitions that have ended `epoch` on this trainer so far. */
  readonly partitionsDone: readonly number[];
  /** The topic's partition count. */
  readonly partitions: number;
  /** True when every partition ended `epoch` here: the whole epoch passed through this trainer. */
  readonly complete: boolean;
}

export interface FleetEpochsOptions {
  /**
   * Complete once this many epochs are complete on this trainer (every partition's end markers
   * seen). For one trainer; trainers that share partitions in a group end on `idleTimeoutMs` or
   * by their own count.
   */
  readonly epochs?: number;
  /** Called as each partition ends an epoch, after that epoch's last batch from it was emitted. */
  readonly onEpochEnd?: (end: FleetEpochEnd) => void;
  /** Counts duplicates dropped and markers read (`extra.duplicates`, `extra.markers`). */
  readonly stats?: PipelineStats;
  /** Stage name in statistics. Default `fleet`. */
  readonly name?: string;
}

/**
 * Turns a fleet topic's records into the batches to train on, each exactly once per epoch:
 * drops a batch whose (shard, epoch, seq) was seen (a restarted worker publishing again), takes
 * end markers out of the stream, and reports each partition's end of an epoch. Records it drops
 * are acknowledged at once, so the group's commit passes them. Emits each batch record with a
 * `fleet` field (epoch, shard, seq); acknowledge it after the step as any Kafka record.
 *
 * ```
 * records:  b(s0,e0,#0) b(s0,e0,#1) b(s0,e0,#1)dup end(s0,e0) end(s1,e0) …
 * output:   b(s0,e0,#0) b(s0,e0,#1) ────────────────────────────────  onEpochEnd({ epoch 0, partition, … })
 * ```
 *
 * Holds nothing: one record in, at most one out, synchronously; state is one position per shard
 * and the end markers of the epochs not yet complete (pruned two epochs on).
 *
 * @example
 * ```ts
 * fromKafka({ ...kafka, topics: 'batches', groupId: 'trainers', decode: (v) => decodeBatch(v) })
 *   .pipe(fleetEpochs({ onEpochEnd: (e) => e.complete && console.log(`epoch ${e.epoch} done`) }), …)
 * ```
 */
export function fleetEpochs<T>(options: FleetEpochsOptions = {}): OperatorFunction<KafkaRecord<T>, FleetRecord<T>> {
  const { epochs } = options;
  if (epochs !== undefined && !(Number.isInteger(epochs) && epochs >= 1)) throw new RangeError(`fleetEpochs: epochs must be an integer >= 1, got ${epochs}`);
  const key = {};
  return (source) =>
    new Observable<FleetRecord<T>>((subscriber) => {
      const stage = options.stats?.stage(key, options.name ?? 'fleet', 'operator');
      /** The last batch emitted per shard: anything at or before it is a duplicate. */
      const last = new Map<number, { epoch: number; seq: number }>();
      /** End markers seen: epoch → partition → shards. */
      const ends = new Map<number, Map<number, Set<number>>>();
      /** Epochs complete on every partition. */
      const complete = new Set<number>();
      let newest = -1;
      const drop = (record: KafkaRecord<T>): void => {
        acknowledgeIn(record);
      };
      const subscription = source.subscribe({
        next(record) {
          if (stage) stage.in++;
          let tag: FleetTag;
          try {
            tag = parseTag(record.headers[FLEET_HEADER], `topic ${record.topic} partition ${record.partition} offset ${record.offset}`);
          } catch (error) {
            subscriber.error(error instanceof RecordError ? error : new RecordError(String(error)));
            return;
          }
          if (tag.kind === 'end') {
            drop(record);
            if (stage) stage.extra.markers = (stage.extra.markers ?? 0) + 1;
            if (complete.has(tag.epoch)) return;
            let byPartition = ends.get(tag.epoch);
            if (!byPartition) ends.set(tag.epoch, (byPartition = new Map()));
            let shards = byPartition.get(record.partition);
            if (!shards) byPartition.set(record.partition, (shards = new Set()));
            const before = shards.size;
            shards.add(tag.shard);
            if (shards.size === before || shards.size < tag.shards) return;
            const partitionsDone: number[] = [];
            for (const [p, s] of byPartition) if (s.size >= tag.shards) partitionsDone.push(p);
            partitionsDone.sort((a, b) => a - b);
            const whole = partitionsDone.length >= tag.partitions;
            if (whole) {
              complete.add(tag.epoch);
              ends.delete(tag.epoch);
              if (stage) stage.extra.epochsComplete = complete.size;
            }
            if (tag.epoch > newest) {
              newest = tag.epoch;
              // Epochs two behind will not end here any more (their partitions are elsewhere).
              for (const e of ends.keys()) if (e < newest - 1) ends.delete(e);
            }
            options.onEpochEnd?.({ epoch: tag.epoch, partition: record.partition, partitionsDone, partitions: tag.partitions, complete: whole });
            if (whole && epochs !== undefined && tag.epoch >= epochs - 1) subscriber.complete();
            return;
          }
          const seen = last.get(tag.shard);
          if (seen && !before(seen, tag)) {
            drop(record);
            if (stage) stage.extra.duplicates = (stage.extra.duplicates ?? 0) + 1;
            return;
          }
          last.set(tag.shard, { epoch: tag.epoch, seq: tag.seq });
          // The same object, not a copy: acknowledge() finds its consumer by identity.
          Object.defineProperty(record, 'fleet', { value: tag, enumerable: true });
          if (stage) stage.out++;
          subscriber.next(record as FleetRecord<T>);
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
      return () => subscription.unsubscribe();
    });
}
