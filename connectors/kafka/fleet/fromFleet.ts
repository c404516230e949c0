/**
 * A trainer's source of fleet batches: `fromKafka` in a consumer group with `decode: 'batch'`
 * (the batch codec), then `fleetEpochs` (duplicates dropped, epoch ends reported).
 */
import type { Observable } from 'rxjs';
import type { KafkaConnection } from '../client.js';
import { fromKafka, type FromKafkaOptions, type KafkaRecord, type KafkaSource } from '../fromKafka.js';
import { fleetEpochs, type FleetEpochsOptions, type FleetRecord } from './fleetEpochs.js';


export interface FromFleetOptions extends FleetEpochsOptions, Omit<FromKafkaOptions<unknown>, keyof KafkaConnection | 'topics' | 'decode' | 'groupId' | 'name'> {
  /** The cluster (brokers, ssl, sasl, …). */
  readonly kafka: KafkaConnection;
  /** The fleet's topic (the workers' `topic`). */
  readonly topic: string;
  /** The trainers' consumer group: trainers in it split the partitions (and so the shards). */
  readonly groupId: string;
}

/** The fleet source: batch records, and the acknowledgement side of at-least-once. */
export interface FleetSource<T> extends Observable<FleetRecord<T>> {
  ack(records: KafkaRecord<unknown> | readonly KafkaRecord<unknown>[]): void;
  commit(): Promise<void>;
}

/**
 * Reads the batches a fleet of `rxdata-worker`s publishes, as one trainer of the group
 * `groupId`: each batch once per epoch (duplicates from restarted workers dropped), offsets
 * committed after the step (`acknowledge()` after the training sink), epoch ends reported
 * through `onEpochEnd`.
 *
 * ```
 * workers ──▶ topic (P partitions) ──▶ fromKafka(group, decode batch) ──▶ fleetEpochs ──▶ train ──▶ acknowledge()
 * ```
 *
 * Bound: fromKafka's `highWaterMark` records (default 16 here: batches are large) plus what
 * kafkajs fetched (`maxBytesPerPartition` per partition).
 *
 * @example
 * ```ts
 * const batches = fromFleet<Batch>({ kafka: { brokers }, topic: 'digits-batches', groupId: 'trainers', epochs: 10 });
 * await lastValueFrom(batches.pipe(
 *   consume(async (r) => { await model.trainOnBatch(toTensor(r.value.xs), toTensor(r.value.ys)); return r; }),
 *   acknowledge(),
 * ));
 * ```
 */
export function fromFleet<T>(options: FromFleetOptions): FleetSource<T> {
  const { kafka, topic, groupId, epochs, onEpochEnd, stats, name, ...rest } = options;
  const source: KafkaSource<T> = fromKafka<T>({
    highWaterMark: 16,
    ...rest,
    ...kafka,
    topics: topic,
    groupId,
    decode: 'batch',
    name: name ? `${name}/kafka` : 'fleet/kafka',
  });
  const fleet$ = source.pipe(fleetEpochs<T>({ epochs, onEpochEnd, stats, name }));
  return Object.assign(fleet$, { ack: source.ack.bind(source), commit: source.commit.bind(source) });
}
