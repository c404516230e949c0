/** The public shapes of `fromKafka`: records, start positions, decoders, commit modes, options. */
import type { Observable } from 'rxjs';
import type { OnError } from '../../src/errors.js';
import type { KafkaClientFactory, KafkaConnection } from './client.js';
import type { AckTarget } from './sessions.js';

/**
 * One Kafka message as it flows through a pipeline. `offset` is a decimal string, as in kafkajs
 * (Kafka offsets are 64-bit; `BigInt(record.offset)` when you need arithmetic).
 */
export interface KafkaRecord<T> {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: T;
  readonly headers: Readonly<Record<string, Buffer | string | (Buffer | string)[] | undefined>>;
  /** Message timestamp in ms since the epoch, as a decimal string. */
  readonly timestamp: string;
}

/** Where each partition is read from when a subscription starts. */
export type KafkaStart =
  | 'earliest'
  | 'latest'
  | 'committed'
  | { readonly timestamp: number }
  /** Per-partition offsets `{ topic: { partition: offset } }`; partitions not named start earliest. */
  | { readonly offsets: Readonly<Record<string, Readonly<Record<number, string | number | bigint>>>> };

/** What the decoder knows about the message it decodes. */
export interface RecordMeta {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
}

/**
 * How message values become `T`. A null value (tombstone) is a bad record for every decoder. A
 * function may return a Promise (e.g. `schemaRegistry` fetching a schema it has not seen); the
 * consumer waits for it, and a rejection is a bad record like a throw. `'batch'`: rxdata's binary
 * batch codec (`encodeBatch`, what `rxdata-worker` publishes; see docs/fleet.md).
 */
export type KafkaDecode<T> = 'utf8' | 'json' | 'buffer' | 'batch' | ((value: Buffer, meta: RecordMeta) => T | PromiseLike<T>);

/**
 * When offsets are committed:
 * - `'after-ack'` (default with a `groupId`): only once the record was acknowledged (after the
 *   training step that consumed it; see {@link acknowledge}): at-least-once;
 * - `'on-read'`: as a record enters the pipeline (tensorflow-io's behaviour; at-most-once on crash);
 * - `'none'`: never (default without a `groupId`).
 */
export type CommitMode = 'after-ack' | 'on-read' | 'none';

export interface FromKafkaOptions<T> extends KafkaConnection {
  /** Topic names or patterns (patterns are matched against the topic list at subscription). */
  topics: string | RegExp | readonly (string | RegExp)[];
  /** Consumer group. Without one, a fresh random group is used per subscription and nothing is committed. */
  groupId?: string;
  /** Default `'committed'` with a `groupId` (falling back to earliest), `'earliest'` without. */
  start?: KafkaStart;
  /**
   * `'bounded'`: the end offsets are fixed at subscription and the stream completes when every
   * partition assigned to this consumer reaches them (each subscription replays from `start`).
   * `'streaming'` (default): never completes, unless `idleTimeoutMs` passes without a record.
   */
  mode?: 'bounded' | 'streaming';
  /** Streaming only: complete after this long without records (time blocked on demand excluded). */
  idleTimeoutMs?: number;
  decode?: KafkaDecode<T>;
  commit?: CommitMode;
  /** How often acknowledged offsets are committed. Default 1000 ms (also on rebalance and teardown). */
  commitIntervalMs?: number;
  /** After teardown, how long to wait for acknowledgements of records still in flight. Default 5000 ms. */
  ackGraceMs?: number;
  /** A record that fails to decode: fail the stream with a RecordError (default), or skip and count it. */
  onError?: OnError;
  /** With `onError: 'skip'`, the raw bad message is also produced here (headers name the error). */
  deadLetterTopic?: string;
  /** Records buffered for the pipeline before the consumer stops fetching. Default 256; `'auto'`: tuned (docs/autotune.md). */
  highWaterMark?: number | 'auto';
  /** Stage name in statistics. Default 'kafka'. */
  name?: string;
  /** Group session timeout (kafkajs default 30000): how soon a dead worker's partitions move. */
  sessionTimeout?: number;
  rebalanceTimeout?: number;
  heartbeatInterval?: number;
  /** Longest a fetch waits on the broker for data. Default 500 ms. */
  maxWaitTimeInMs?: number;
  /** Most bytes one fetch takes per partition (kafkajs default 1 MiB). */
  maxBytesPerPartition?: number;
  /** Client implementation (kafkajs by default). */
  clients?: KafkaClientFactory;
  /**
   * Where kafkajs fetches and decodes: `'main'` (default), or `'worker'`: a worker thread of its
   * own, which hands each fetched batch over as one moved buffer. Decoding (most of a consumer's
   * CPU) then overlaps the training step: 1.17–1.36× faster behind a 1–2 ms step per 256
   * records, about even with nothing behind it, and a fresh thread's cold code makes the first
   * ~100,000 records of a subscription slower (docs/kafka.md, `bench/kafkaThread.ts`). Needs
   * connection settings that clone to a thread (no functions: `retry.restartOnFailure`, a SASL
   * token provider); not with `clients`.
   */
  consumerThread?: 'main' | 'worker';
  /**
   * With `consumerThread: 'worker'`: fetched batches the thread may hand over before the main
   * thread finished them (default 8), each at most `maxBytesPerPartition`: the bound it adds.
   */
  fetchAhead?: number;
  /**
   * Stops the stream: once it aborts, the source fails with an `AbortError` naming it, and the
   * teardown commits what was acknowledged and disconnects the consumer.
   */
  signal?: AbortSignal;
}

/** A Kafka source: the records Observable, plus the acknowledgement side of at-least-once. */
export interface KafkaSource<T> extends Observable<KafkaRecord<T>> {
  /**
   * Marks records as done (trained): their offsets may be committed once contiguous. Takes what
   * `acknowledge()` takes (records, copies of them, `{ topic, partition, offset }` positions,
   * values and batches carrying positions, arrays of these); throws an `RxDataError` for
   * something that carries no position.
   */
  ack(target: AckTarget): void;
  /**
   * Commits what has been acknowledged now, for every live subscription, retrying a refused
   * commit within `retryBudgetMs`; rejects with an error naming the offsets it could not commit.
   */
  commit(): Promise<void>;
}
