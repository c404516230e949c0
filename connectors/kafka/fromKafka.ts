import { randomUUID } from 'node:crypto';
import { Observable } from 'rxjs';
import { RecordError, RxDataError, messageOf, type OnError } from '../../src/index.js';
import { pushSource, type PushSink } from '../../src/index.js';
import { brokersOf, kafkajsClients, type ConsumerClient, type FetchedBatch, type KafkaClientFactory, type KafkaConnection, type ProducerClient, type RawMessage } from './client.js';
import { CommitTracker } from './tracker.js';
import { declareCardinality } from '../../src/cardinality.js';
import { countBoundedKafka } from './cardinality.js';

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
 * consumer waits for it, and a rejection is a bad record like a throw.
 */
export type KafkaDecode<T> = 'utf8' | 'json' | 'buffer' | ((value: Buffer, meta: RecordMeta) => T | PromiseLike<T>);

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
}

/** A Kafka source: the records Observable, plus the acknowledgement side of at-least-once. */
export interface KafkaSource<T> extends Observable<KafkaRecord<T>> {
  /** Marks records as done (trained): their offsets may be committed once contiguous. */
  ack(records: KafkaRecord<unknown> | readonly KafkaRecord<unknown>[]): void;
  /** Commits what has been acknowledged now, for every live subscription. */
  commit(): Promise<void>;
}

/** The subscription a record came from, so that acks find their tracker. */
const owners = new WeakMap<object, Session>();

/** What acknowledge() needs of a subscription (internal). */
export interface Session {
  ack(topic: string, partition: number, offset: bigint): void;
  /** Commits acknowledged offsets; after teardown, waits for the final commit and disconnect. */
  flush(): Promise<void>;
}

/** Acknowledges records from any fromKafka source (a record not from one is ignored). */
export function ackRecords(records: KafkaRecord<unknown> | readonly KafkaRecord<unknown>[]): Set<Session> {
  const touched = new Set<Session>();
  const list = Array.isArray(records) ? (records as readonly KafkaRecord<unknown>[]) : [records as KafkaRecord<unknown>];
  for (const record of list) {
    const session = owners.get(record);
    if (!session) continue;
    session.ack(record.topic, record.partition, BigInt(record.offset));
    touched.add(session);
  }
  return touched;
}

function isThenable<T>(x: T | PromiseLike<T>): x is PromiseLike<T> {
  return typeof (x as { then?: unknown } | null)?.then === 'function';
}

/** Runs a client call that may throw while the consumer restarts; the next join redoes it. */
function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // Nothing to do: pause and seek state is re-applied on every group join.
  }
}

/** What the built-in decoders get for meta (they ignore it): no object per record for them. */
const NO_META: RecordMeta = Object.freeze({ topic: '', partition: -1, offset: '-1', key: null });

function decoderFor<T>(decode: KafkaDecode<T>): (value: Buffer, meta: RecordMeta) => T | PromiseLike<T> {
  switch (decode) {
    case 'utf8':
      return (v) => v.toString('utf8') as T;
    case 'json':
      return (v) => JSON.parse(v.toString('utf8')) as T;
    case 'buffer':
      return (v) => v as T;
    default:
      return decode;
  }
}

/**
 * Reads Kafka topics as a backpressured source: the consumer stops fetching while the pipeline
 * is full, and (by default) commits an offset only after the record was acknowledged.
 *
 * ```
 * broker ──fetch──▶ eachBatch ──next──▶ [buffer ≤ highWaterMark] ──▶ … ──▶ consume(train) ──▶ acknowledge()
 *                    ▲ awaits while full                                                        │
 *                    └───────────── commit contiguous acknowledged offsets (periodically) ◀──────┘
 * ```
 *
 * @example
 * ```ts
 * const kafka = fromKafka<Reading>({ brokers: 'localhost:9092', topics: 'sensors', groupId: 'trainer', decode: 'json' });
 * await lastValueFrom(kafka.pipe(
 *   bufferCount(32),
 *   consume(async (records) => { await model.trainOnBatch(...toTensors(records)); return records; }),
 *   acknowledge(),
 * ));
 * ```
 */
export function fromKafka<T extends string = string>(options: FromKafkaOptions<T> & { decode: 'utf8' }): KafkaSource<T>;
export function fromKafka<T = unknown>(options: FromKafkaOptions<T> & { decode: 'json' }): KafkaSource<T>;
export function fromKafka<T>(options: FromKafkaOptions<T> & { decode: (value: Buffer, meta: RecordMeta) => T | PromiseLike<T> }): KafkaSource<T>;
export function fromKafka(options: FromKafkaOptions<Buffer> & { decode?: 'buffer' }): KafkaSource<Buffer>;
export function fromKafka<T>(options: FromKafkaOptions<T>): KafkaSource<T> {
  const topicList = Array.isArray(options.topics) ? [...(options.topics as readonly (string | RegExp)[])] : [options.topics as string | RegExp];
  if (topicList.length === 0) throw new RangeError('fromKafka: topics must name at least one topic');
  const mode = options.mode ?? 'streaming';
  const commitMode: CommitMode = options.commit ?? (options.groupId ? 'after-ack' : 'none');
  const start: KafkaStart = options.start ?? (options.groupId ? 'committed' : 'earliest');
  const decode = decoderFor<T>(options.decode ?? ('buffer' as KafkaDecode<T>));
  const userDecode = typeof options.decode === 'function';
  const clients = options.clients ?? kafkajsClients;
  const onError = options.onError ?? 'fail';
  const commitIntervalMs = options.commitIntervalMs ?? 1000;
  const ackGraceMs = options.ackGraceMs ?? 5000;
  const heartbeatInterval = options.heartbeatInterval ?? 1000;
  const live = new Set<Session>();
  const origin = `kafka ${brokersOf(options)}`;
  /** A client failure as the source's error, naming the brokers (kafkajs' own errors name none). */
  const failure = (what: string, cause: unknown): RxDataError => new RxDataError(`fromKafka: ${what}: ${messageOf(cause)}`, origin, { cause });

  const source = pushSource<KafkaRecord<T>>((sink) => open(sink), { highWaterMark: options.highWaterMark ?? 256, overflow: 'pause', name: options.name ?? 'kafka' });

  function open(sink: PushSink<KafkaRecord<T>>): () => void {
    const groupId = options.groupId ?? `rxdata-${randomUUID()}`;
    const consumer: ConsumerClient = clients.consumer(options, {
      groupId,
      sessionTimeout: options.sessionTimeout,
      rebalanceTimeout: options.rebalanceTimeout,
      heartbeatInterval: options.heartbeatInterval,
      maxWaitTimeInMs: options.maxWaitTimeInMs,
      maxBytesPerPartition: options.maxBytesPerPartition,
    });
    let producer: ProducerClient | undefined;
    const tracker = new CommitTracker();
    const extra = sink.stats.extra;
    extra.commits = extra.commits ?? 0;
    /** Where each partition starts (seeked on first assignment), and ends (bounded mode). */
    const starts = new Map<string, bigint>();
    const ends = new Map<string, bigint>();
    /** Read position per partition (next offset to read). */
    const position = new Map<string, bigint>();
    const seeked = new Set<string>();
    let assigned: Set<string> | undefined;
    const done = new Set<string>();
    let stopped = false;
    let everAcked = false;
    let received = 0;
    const startedAt = performance.now();
    let idleTimer: NodeJS.Timeout | undefined;
    let wakeGrace: (() => void) | undefined;
    let closed: Promise<void> | undefined;

    const split = (key: string): [string, number] => {
      const slash = key.lastIndexOf('/');
      return [key.slice(0, slash), Number(key.slice(slash + 1))];
    };

    // Commits run one at a time: a later one carries everything an earlier one would have.
    let commitChain = Promise.resolve();
    const commitNow = (): Promise<void> => {
      if (commitMode === 'none') return Promise.resolve();
      commitChain = commitChain.then(async () => {
        const due = tracker.due();
        if (due.length === 0) return;
        try {
          await consumer.commitOffsets(due.map(({ topic, partition, offset }) => ({ topic, partition, offset })));
          for (const d of due) tracker.committedAt(d.topic, d.partition, d.watermark);
          extra.commits++;
        } catch {
          // A rebalance or a broker outage: the offsets stay due and go with the next commit;
          // at worst some records are trained twice, never skipped.
          extra.commitErrors = (extra.commitErrors ?? 0) + 1;
        }
      });
      return commitChain;
    };

    const session: Session = {
      ack(topic, partition, offset) {
        everAcked = true;
        tracker.ack(topic, partition, offset);
        if (tracker.outstanding === 0) wakeGrace?.();
      },
      flush: () => closed ?? commitNow(),
    };
    live.add(session);

    const armIdle = (): void => {
      if (mode !== 'streaming' || options.idleTimeoutMs === undefined || stopped) return;
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => sink.complete(), options.idleTimeoutMs);
    };
    const checkComplete = (): void => {
      if (mode !== 'bounded' || !assigned) return;
      for (const key of assigned) if (!done.has(key)) return;
      sink.complete();
    };
    const markPosition = (key: string, next: bigint): void => {
      position.set(key, next);
      const end = ends.get(key);
      if (mode === 'bounded' && end !== undefined && next >= end && !done.has(key)) {
        done.add(key);
        const [topic, partition] = split(key);
        safely(() => consumer.pause(topic, [partition]));
      }
    };

    /** Waits for room in the pipeline, heartbeating so the group keeps us while we wait. */
    const waitForDemand = async (batch: FetchedBatch): Promise<void> => {
      clearTimeout(idleTimer);
      while (!sink.wantsMore && !stopped && batch.isActive()) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([sink.whenWantsMore(), new Promise<void>((resolve) => (timer = setTimeout(resolve, heartbeatInterval)))]);
        clearTimeout(timer);
        if (!sink.wantsMore && !stopped) await batch.heartbeat().catch(() => undefined);
      }
      armIdle();
    };

    const deadLetter = async (message: RawMessage, error: RecordError): Promise<void> => {
      if (!options.deadLetterTopic) return;
      if (!producer) {
        producer = clients.producer(options);
        await producer.connect();
      }
      await producer.send(options.deadLetterTopic, [
        { key: message.key, value: message.value, headers: { 'rxdata-error': error.message, 'rxdata-origin': error.origin ?? '' } },
      ]);
    };

    const handle = async (batch: FetchedBatch): Promise<void> => {
      consumer.healthy?.();
      const key = `${batch.topic}/${batch.partition}`;
      if (stopped || (assigned && !assigned.has(key)) || done.has(key)) return;
      const end = ends.get(key);
      const hw = BigInt(batch.highWatermark);
      const lagKey = `lag:${key}`;
      for (const message of batch.messages) {
        if (stopped || !batch.isActive()) return;
        const offset = BigInt(message.offset);
        if (mode === 'bounded' && end !== undefined && offset >= end) {
          // Past the snapshot (a gap from compaction or control records can skip `end - 1`).
          markPosition(key, end);
          break;
        }
        if (!sink.wantsMore) {
          await waitForDemand(batch);
          if (stopped || !batch.isActive()) return;
        }
        let value: T;
        try {
          if (message.value === null) throw new Error('null value (tombstone)');
          const decoded = decode(message.value, userDecode ? { topic: batch.topic, partition: batch.partition, offset: message.offset, key: message.key } : NO_META);
          // Only an asynchronous decoder (a schema fetch) costs an await.
          value = isThenable(decoded) ? await decoded : decoded;
        } catch (cause) {
          const origin = `topic ${batch.topic} partition ${batch.partition} offset ${message.offset}`;
          const error = new RecordError(`fromKafka: cannot decode message: ${messageOf(cause)}`, origin, { cause });
          if (onError === 'fail') {
            stopped = true;
            sink.error(error);
            return;
          }
          sink.stats.skip(error);
          await deadLetter(message, error);
          if (commitMode !== 'none') {
            // A skipped record is done: the watermark must pass it.
            tracker.emitted(batch.topic, batch.partition, offset);
            tracker.ack(batch.topic, batch.partition, offset);
          }
          batch.resolveOffset(message.offset);
          markPosition(key, offset + 1n);
          continue;
        }
        // An asynchronous decode may have outlived the subscription or the partition's assignment.
        if (stopped || !batch.isActive()) return;
        const record: KafkaRecord<T> = {
          topic: batch.topic,
          partition: batch.partition,
          offset: message.offset,
          key: message.key,
          value,
          headers: message.headers ?? {},
          timestamp: message.timestamp,
        };
        if (commitMode !== 'none') {
          tracker.emitted(batch.topic, batch.partition, offset);
          if (commitMode === 'on-read') tracker.ack(batch.topic, batch.partition, offset);
          else owners.set(record, session);
        }
        batch.resolveOffset(message.offset);
        // Rates refresh every 64 records too: a large batch can take long to drain.
        if ((++received & 63) === 0) extra.recordsPerSec = received / Math.max(1e-3, (performance.now() - startedAt) / 1000);
        markPosition(key, offset + 1n);
        extra[lagKey] = Number(hw - offset - 1n);
        sink.next(record);
      }
      extra.recordsPerSec = received / Math.max(1e-3, (performance.now() - startedAt) / 1000);
      armIdle();
      checkComplete();
    };

    const onJoin = (assignment: Record<string, number[]>): void => {
      const now = new Set<string>();
      for (const [topic, partitions] of Object.entries(assignment)) for (const p of partitions) now.add(`${topic}/${p}`);
      for (const key of tracker.partitions()) if (!now.has(key)) tracker.forget(...split(key));
      for (const key of now) {
        const [topic, partition] = split(key);
        const at = position.get(key);
        if (assigned?.has(key) && at !== undefined) {
          // Kept through the rebalance: continue where we were. kafkajs forgets its read position
          // when it restarts after a crash (a broker outage), so we tell it again.
          safely(() => consumer.seek({ topic, partition, offset: at.toString() }));
        } else if (!seeked.has(key)) {
          seeked.add(key);
          const from = starts.get(key);
          if (from !== undefined && start !== 'committed') {
            safely(() => consumer.seek({ topic, partition, offset: from.toString() }));
            markPosition(key, from);
          } else if (from !== undefined && mode === 'bounded' && from >= (ends.get(key) ?? 0n)) {
            // Already consumed to the snapshot's end by the group. Otherwise the committed offset
            // read at subscription may be stale by now: kafkajs fetches the current one.
            markPosition(key, from);
          }
        }
        // Pause state does not survive a restart either.
        if (done.has(key)) safely(() => consumer.pause(topic, [partition]));
      }
      assigned = now;
      if (stopped) return;
      void commitNow();
      // The idle clock starts once we can receive (a group join takes seconds).
      if (!idleTimer) armIdle();
      checkComplete();
    };

    const setup = async (): Promise<void> => {
      const admin = clients.admin(options);
      await admin.connect();
      try {
        const all = topicList.some((t) => t instanceof RegExp) ? await admin.listTopics() : [];
        const names = new Set<string>();
        for (const t of topicList) {
          if (typeof t === 'string') names.add(t);
          else for (const name of all) if (t.test(name)) names.add(name);
        }
        if (names.size === 0) throw new Error(`fromKafka: no topic matches ${topicList.map(String).join(', ')}`);
        for (const topic of names) {
          const offsets = await admin.fetchTopicOffsets(topic);
          const committed = start === 'committed' && options.groupId ? await admin.fetchCommittedOffsets(options.groupId, topic) : [];
          const byTime = typeof start === 'object' && 'timestamp' in start ? await admin.fetchTopicOffsetsByTimestamp(topic, start.timestamp) : [];
          for (const { partition, low, high } of offsets) {
            const key = `${topic}/${partition}`;
            ends.set(key, BigInt(high));
            extra[`lag:${key}`] = Number(BigInt(high) - BigInt(low));
            let from = BigInt(low);
            if (start === 'latest') from = BigInt(high);
            else if (start === 'committed') {
              const c = committed.find((e) => e.partition === partition);
              if (c && BigInt(c.offset) >= 0n) from = BigInt(c.offset);
            } else if (typeof start === 'object' && 'timestamp' in start) {
              const e = byTime.find((x) => x.partition === partition);
              // -1: no message at or after the timestamp, so start at the end.
              from = e && BigInt(e.offset) >= 0n ? BigInt(e.offset) : BigInt(high);
            } else if (typeof start === 'object') {
              const o = start.offsets[topic]?.[partition];
              if (o !== undefined) from = BigInt(o);
            }
            starts.set(key, from);
          }
        }
        if (stopped) return;
        consumer.onGroupJoin(onJoin);
        consumer.onRebalancing(() => void commitNow());
        consumer.onCrash((error) => {
          if (!stopped) sink.error(failure('consumer failed', error));
        });
        await consumer.connect();
        await consumer.subscribe([...names]);
        if (stopped) return;
        await consumer.run(handle);
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    };
    const ready = setup().catch((error: unknown) => {
      if (!stopped) sink.error(error instanceof RxDataError ? error : failure('cannot start', error));
    });
    const ticker = commitMode !== 'none' ? setInterval(() => void commitNow(), commitIntervalMs) : undefined;
    ticker?.unref();

    return () => {
      stopped = true;
      clearTimeout(idleTimer);
      clearInterval(ticker);
      // Pause everything we hold so the fetch loop idles while we wait for the last acks.
      if (assigned) {
        for (const key of assigned) {
          const [topic, partition] = split(key);
          safely(() => consumer.pause(topic, [partition]));
        }
      }
      closed = (async () => {
        await ready;
        if (commitMode === 'after-ack' && everAcked && tracker.outstanding > 0) {
          // Records still in training: give their acknowledgements a moment to arrive.
          let timer: NodeJS.Timeout | undefined;
          await new Promise<void>((resolve) => {
            wakeGrace = resolve;
            timer = setTimeout(resolve, ackGraceMs);
          });
          clearTimeout(timer);
        }
        await commitNow();
        await consumer.disconnect().catch(() => undefined);
        await producer?.disconnect().catch(() => undefined);
        live.delete(session);
      })();
    };
  }

  // Bounded reads know their length: asked lazily, it costs an admin round trip.
  if (mode === 'bounded') declareCardinality(source, () => countBoundedKafka({ ...options, topics: topicList, start, clients }).catch(() => 'unknown' as const));
  return Object.assign(source, {
    ack(records: KafkaRecord<unknown> | readonly KafkaRecord<unknown>[]): void {
      ackRecords(records);
    },
    async commit(): Promise<void> {
      await Promise.all([...live].map((s) => s.flush()));
    },
  }) as KafkaSource<T>;
}
