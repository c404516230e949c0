/**
 * A trainer's source of fleet batches: `fromKafka` in a consumer group with `decode: 'batch'`
 * (the batch codec), then `fleetEpochs` (duplicates dropped, epoch ends reported).
 */
import type { Observable } from 'rxjs';
import type { KafkaConnection } from '../client.js';
import { fromKafka, type FromKafkaOptions, type KafkaRecord, type KafkaSource } from '../fromKafka.js';
import { fleetEpochs, type FleetEpochsOptions, type FleetRecord } from './fleetEpochs.js';


export interface FromFleetOptions extends Omit<FleetEpochsOptions, 'group'>, Omit<FromKafkaOptions<unknown>, keyof KafkaConnection | 'topics' | 'decode' | 'groupId' | 'name'> {
  /** The cluster (brokers, ssl, sasl, …). */
  readonly kafka: KafkaConnection;
  /** The fleet's topic (the workers' `topic`). */
  readonly topic: string;
  /** The trainers' consumer group: trainers in it split the partitions (and so the shards). */
  readonly groupId: string;
  /**
   * Tell when each epoch is complete across the group (default true): reads the workers' epoch
   * topic and polls the group's committed offsets (groupEpochs.ts). `false`: the local view only
   * (`epochs` then counts epochs complete on this trainer alone), and no epoch topic needed.
   */
  readonly groupView?: boolean;
  /** The workers' epoch topic. Default `<topic>-epochs`. */
  readonly epochTopic?: string;
  /** How often the group's committed offsets are read for the group view, ms. Default 500. */
  readonly groupPollMs?: number;
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
 * through `onEpochEnd`, on this trainer's partitions and across the group; with `epochs: E` it
 * completes once epoch E − 1 is complete across the group (every trainer of the group then
 * completes, within `groupPollMs` + the trainers' `commitIntervalMs` of each other).
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
  const { kafka, topic, groupId, epochs, onEpochEnd, stats, name, groupView = true, epochTopic, groupPollMs, groupTimeoutMs, ...rest } = options;
  const source: KafkaSource<T> = fromKafka<T>({
    highWaterMark: 16,
    ...rest,
    ...kafka,
    topics: topic,
    groupId,
    decode: 'batch',
    name: name ? `${name}/kafka` : 'fleet/kafka',
  });
  const group = groupView
    ? { kafka, topic, groupId, epochTopic, pollMs: groupPollMs, sessionTimeout: rest.sessionTimeout, rebalanceTimeout: rest.rebalanceTimeout, heartbeatInterval: rest.heartbeatInterval, maxWaitTimeInMs: rest.maxWaitTimeInMs, clients: rest.clients }
    : undefined;
  const fleet$ = source.pipe(fleetEpochs<T>({ epochs, onEpochEnd, stats, name, group, groupTimeoutMs }));
  return Object.assign(fleet$, { ack: source.ack.bind(source), commit: source.commit.bind(source) });
}
