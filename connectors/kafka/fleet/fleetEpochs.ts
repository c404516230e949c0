/**
 * The trainer's side of a fleet: reads the fleet header of each record, drops duplicates, and
 * tells when an epoch is complete.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import { RecordError, RxDataError } from '../../../src/errors.js';
import type { PipelineStats } from '../../../src/stats.js';
import type { KafkaRecord } from '../fromKafka.js';
import { acknowledgeIn } from '../sessions.js';
import { Demand, Valve, currentScope, runInScope } from '../../../src/flow.js';
import { GroupEpochs, type FleetGroupOptions } from './groupEpochs.js';
import { FLEET_HEADER, before, parseTag, type FleetTag } from './protocol.js';

/** A batch record of a fleet: the Kafka record, with what its header says. */
export type FleetRecord<T> = KafkaRecord<T> & { readonly fleet: FleetTag };

/** What both kinds of epoch end say. */
interface FleetEpochEndBase {
  readonly epoch: number;
  /** Partitions that have ended `epoch` on this trainer so far (every shard's end marker read there). */
  readonly partitionsDone: readonly number[];
  /** The topic's partition count. */
  readonly partitions: number;
  /** Local view: every partition ended `epoch` on this trainer (the whole epoch passed through it). */
  readonly complete: boolean;
  /** Group view: `epoch` is complete across the trainers' group (every shard's share committed). */
  readonly groupComplete: boolean;
}

/**
 * An epoch end, as a trainer sees it: `kind: 'partition'` when one partition's share of `epoch`
 * ended on this trainer (after that epoch's last batch from it was emitted); `kind: 'group'` once
 * per epoch, in epoch order, when the epoch is complete across the group (needs `group`).
 */
export type FleetEpochEnd =
  | (FleetEpochEndBase & { readonly kind: 'partition'; /** The partition whose share ended. */ readonly partition: number })
  | (FleetEpochEndBase & { readonly kind: 'group'; /** Shards of the fleet (all done). */ readonly shards: number });

export interface FleetEpochsOptions {
  /**
   * Complete once this many epochs are complete: across the group when `group` is given (epoch
   * E − 1 complete group-wide), else on this trainer alone (every partition's end markers seen
   * here, which is the whole epoch only when one trainer reads the topic).
   */
  readonly epochs?: number;
  /** Called as partitions end epochs on this trainer, and as epochs complete across the group. */
  readonly onEpochEnd?: (end: FleetEpochEnd) => void;
  /**
   * Watch the trainers' group to tell when each epoch is complete across it (groupEpochs.ts): the
   * workers' epoch topic plus the group's committed offsets. `fromFleet` sets it.
   */
  readonly group?: FleetGroupOptions;
  /**
   * With `epochs` and `group`: fail with a `TimeoutError`-like `RxDataError` when the group made no
   * progress for this long (no record here, no committed offset moved, no end noted) while the
   * epochs are not all complete: a trainer that finished its share waits for the others this long
   * past their last sign of life. Default 600 000 (10 min); `Infinity` waits for ever.
   */
  readonly groupTimeoutMs?: number;
  /** Counts duplicates dropped and markers read (`extra.duplicates`, `extra.markers`). */
  readonly stats?: PipelineStats;
  /** Stage name in statistics. Default `fleet`. */
  readonly name?: string;
}

/**
 * Turns a fleet topic's records into the batches to train on, each exactly once per epoch:
 * drops a batch whose (shard, epoch, seq) was seen (a restarted worker publishing again), takes
 * end markers out of the stream, and reports each partition's end of an epoch and, with `group`,
 * each epoch's completion across the trainers' group. Records it drops are acknowledged at once,
 * so the group's commit passes them. Emits each batch record with a `fleet` field (epoch, shard,
 * seq); acknowledge it after the step as any Kafka record.
 *
 * ```
 * records:  b(s0,e0,#0) b(s0,e0,#1) b(s0,e0,#1)dup end(s0,e0) end(s1,e0) …
 * output:   b(s0,e0,#0) b(s0,e0,#1) ────────────────────────────────  onEpochEnd({ kind 'partition', epoch 0, … })
 * group:    ……………………………… every shard's end marker of e0 committed by the group ──▶ onEpochEnd({ kind 'group', epoch 0 })
 * ```
 *
 * With `epochs: E`, batches of epochs ≥ E are neither emitted nor acknowledged (they stay in the
 * topic, uncommitted), the source stops being pulled at the first of them (a gate added to the
 * demand from below), and the stream completes when epoch E − 1 is complete.
 *
 * Holds nothing: one record in, at most one out, synchronously (its gate only adds to the demand
 * from below, it buffers nothing); state is one position per shard
 * and the end markers of the epochs not yet complete (pruned two epochs on), plus, with `group`,
 * one position per shard of each epoch not complete group-wide.
 *
 * @example
 * ```ts
 * fromKafka({ ...kafka, topics: 'batches', groupId: 'trainers', decode: 'batch' }).pipe(
 *   fleetEpochs({ group: { kafka, topic: 'batches', groupId: 'trainers' }, onEpochEnd: (e) => e.kind === 'group' && console.log(`epoch ${e.epoch} done`) }), …)
 * ```
 */
export function fleetEpochs<T>(options: FleetEpochsOptions = {}): OperatorFunction<KafkaRecord<T>, FleetRecord<T>> {
  const { epochs, group, groupTimeoutMs = 600_000 } = options;
  if (epochs !== undefined && !(Number.isInteger(epochs) && epochs >= 1)) throw new RangeError(`fleetEpochs: epochs must be an integer >= 1, got ${epochs}`);
  if (!(groupTimeoutMs > 0)) throw new RangeError(`fleetEpochs: groupTimeoutMs must be > 0, got ${groupTimeoutMs}`);
  const key = {};
  return (source) =>
    new Observable<FleetRecord<T>>((subscriber) => {
      const stage = options.stats?.stage(key, options.name ?? 'fleet', 'operator');
      /** The last batch emitted per shard: anything at or before it is a duplicate. */
      const last = new Map<number, { epoch: number; seq: number }>();
      /** End markers seen: epoch → partition → shards. */
      const ends = new Map<number, Map<number, Set<number>>>();
      /** Epochs complete on every partition here. */
      const complete = new Set<number>();
      /** Partitions done per epoch here, kept for the group reports of epochs complete locally. */
      const doneHere = new Map<number, number[]>();
      let newest = -1;
      let partitionCount = 0;
      const drop = (record: KafkaRecord<T>): void => {
        acknowledgeIn(record);
      };

      // The group view: epochs complete across the trainers, and a stall timer while waiting.
      let watcher: GroupEpochs | undefined;
      let stall: NodeJS.Timeout | undefined;
      const alive = (): void => {
        if (!watcher || epochs === undefined || !Number.isFinite(groupTimeoutMs)) return;
        clearTimeout(stall);
        stall = setTimeout(() => {
          subscriber.error(new RxDataError(`fleet: epoch ${watcher!.next} not complete across group ${group!.groupId} after ${groupTimeoutMs} ms without progress (${watcher!.pending()}): is a trainer or worker stuck?`, `topic ${group!.topic}`));
        }, groupTimeoutMs);
      };
      if (group) {
        watcher = new GroupEpochs({ required: epochs !== undefined, ...group }, {
          onComplete: ({ epoch, shards }) => {
            if (stage) stage.extra.groupEpochsComplete = epoch + 1;
            const partitionsDone = doneHere.get(epoch) ?? [];
            doneHere.delete(epoch);
            options.onEpochEnd?.({ kind: 'group', epoch, shards, partitionsDone, partitions: partitionCount, complete: complete.has(epoch), groupComplete: true });
            if (epochs !== undefined && epoch >= epochs - 1) subscriber.complete();
          },
          onProgress: alive,
          onError: (error) => subscriber.error(error),
        });
        watcher.start();
        alive();
      }

      // Closed at the first record past the epochs asked for, so that a trainer waiting for the
      // group does not read on (what it reads there stays unacknowledged, so uncommitted).
      const more = new Valve('fleet epochs');
      const scope = currentScope();
      const subscription = runInScope({ ...scope, demand: new Demand([...scope.demand.gates, more]) }, () => source.subscribe({
        next(record) {
          if (stage) stage.in++;
          alive();
          let tag: FleetTag;
          try {
            tag = parseTag(record.headers[FLEET_HEADER], `topic ${record.topic} partition ${record.partition} offset ${record.offset}`);
          } catch (error) {
            subscriber.error(error instanceof RecordError ? error : new RecordError(String(error)));
            return;
          }
          partitionCount = tag.partitions;
          // Past the epochs asked for: left in the topic, uncommitted, for whoever reads on.
          if (epochs !== undefined && tag.epoch >= epochs) {
            more.set(false);
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
            const groupDone = watcher !== undefined && tag.epoch < watcher.next;
            if (watcher && !groupDone) doneHere.set(tag.epoch, partitionsDone);
            if (whole) {
              complete.add(tag.epoch);
              ends.delete(tag.epoch);
              if (stage) stage.extra.epochsComplete = complete.size;
            }
            if (tag.epoch > newest) {
              newest = tag.epoch;
              // Epochs two behind will not end here any more (their partitions are elsewhere).
              for (const e of ends.keys()) if (e < newest - 1) ends.delete(e);
              for (const e of doneHere.keys()) if (e < newest - 1) doneHere.delete(e);
            }
            options.onEpochEnd?.({ kind: 'partition', epoch: tag.epoch, partition: record.partition, partitionsDone, partitions: tag.partitions, complete: whole, groupComplete: groupDone });
            if (!watcher && whole && epochs !== undefined && tag.epoch >= epochs - 1) subscriber.complete();
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
      }));
      return () => {
        subscription.unsubscribe();
        clearTimeout(stall);
        void watcher?.stop();
      };
    });
}
