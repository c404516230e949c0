/**
 * `fromKafka`: the subscription's parts composed, top to bottom. Each part has one job:
 * - snapshot.ts: topics resolved and each partition's start and (bounded) end offsets;
 * - partitions.ts: per-partition read state, seeks and pauses on each group join;
 * - reader.ts: fetched batches decoded (decode.ts) into records, under demand (demand.ts);
 * - commits.ts: acknowledged offsets tracked and committed; sessions.ts: acks find their
 *   subscription by position (records, copies, values and batches carrying positions);
 * - deadLetters.ts: skipped messages to a dead-letter topic.
 */
import { randomUUID } from 'node:crypto';
import { RxDataError, messageOf } from '../../src/errors.js';
import { pushSource, type PushSink } from '../../src/pushSource.js';
import { withSignal } from '../../src/abort.js';
import { declareCardinality } from '../../src/cardinality.js';
import { countBoundedKafka } from './cardinality.js';
import { DEFAULT_RETRY_BUDGET_MS, brokersOf, kafkajsClients } from './client.js';
import { Committer } from './commits.js';
import { DeadLetters } from './deadLetters.js';
import { decoderFor } from './decode.js';
import { IdleClock } from './demand.js';
import { PartitionBook } from './partitions.js';
import { batchReader } from './reader.js';
import { kafkajsWorkerClients } from './thread/workerClients.js';
import { acknowledgeIn, register, unregister, type AckTarget, type Session } from './sessions.js';
import { partitionSpans, topicNames } from './snapshot.js';
import { resumableKafka, resumeSpan, type KafkaResume } from './resume.js';
import type { CommitMode, FromKafkaOptions, KafkaDecode, KafkaRecord, KafkaSource, KafkaStart, RecordMeta } from './types.js';

export type { CommitMode, FromKafkaOptions, KafkaDecode, KafkaRecord, KafkaSource, KafkaStart, RecordMeta } from './types.js';
export { acknowledgeIn, type AckTarget, type KafkaPosition, type Session } from './sessions.js';

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
export function fromKafka<T = unknown>(options: FromKafkaOptions<T> & { decode: 'batch' }): KafkaSource<T>;
export function fromKafka<T>(options: FromKafkaOptions<T> & { decode: (value: Buffer, meta: RecordMeta) => T | PromiseLike<T> }): KafkaSource<T>;
export function fromKafka(options: FromKafkaOptions<Buffer> & { decode?: 'buffer' }): KafkaSource<Buffer>;
export function fromKafka<T>(options: FromKafkaOptions<T>): KafkaSource<T> {
  const topicList = Array.isArray(options.topics) ? [...(options.topics as readonly (string | RegExp)[])] : [options.topics as string | RegExp];
  if (topicList.length === 0) throw new RangeError('fromKafka: topics must name at least one topic');
  const mode = options.mode ?? 'streaming';
  const commitMode: CommitMode = options.commit ?? (options.groupId ? 'after-ack' : 'none');
  const start: KafkaStart = options.start ?? (options.groupId ? 'committed' : 'earliest');
  const onThread = options.consumerThread === 'worker';
  if (onThread && options.clients) throw new TypeError("fromKafka: consumerThread 'worker' runs kafkajs' own consumer on a thread; it cannot run the `clients` given");
  if (options.fetchAhead !== undefined && !onThread) throw new TypeError("fromKafka: fetchAhead applies to consumerThread 'worker' only");
  const clients = options.clients ?? (onThread ? kafkajsWorkerClients({ fetchAhead: options.fetchAhead, heartbeatMs: options.heartbeatInterval }) : kafkajsClients);
  const live = new Set<Session>();
  const origin = `kafka ${brokersOf(options)}`;
  /** A client failure as the source's error, naming the brokers (kafkajs' own errors name none). */
  const failure = (what: string, cause: unknown): RxDataError => new RxDataError(`fromKafka: ${what}: ${messageOf(cause)}`, origin, { cause });

  /** One subscription: a consumer in the group, its partitions, its commits; returns the teardown. */
  /** A resumable pipeline's saved position for the subscription being opened (resume.ts). */
  let handedOff: KafkaResume | undefined;
  function open(sink: PushSink<KafkaRecord<T>>): () => void {
    const resume = handedOff;
    handedOff = undefined;
    const groupId = options.groupId ?? `rxdata-${randomUUID()}`;
    const consumer = clients.consumer(options, {
      groupId,
      sessionTimeout: options.sessionTimeout,
      rebalanceTimeout: options.rebalanceTimeout,
      heartbeatInterval: options.heartbeatInterval,
      maxWaitTimeInMs: options.maxWaitTimeInMs,
      maxBytesPerPartition: options.maxBytesPerPartition,
    });
    const life = { stopped: false };
    // Restored partitions are sought to their saved positions, not the group's committed offsets.
    const book = new PartitionBook(consumer, mode === 'bounded', start === 'committed' && !resume?.restored);
    const commits = new Committer(commitMode, consumer, sink.stats.extra, {
      budgetMs: options.retryBudgetMs ?? DEFAULT_RETRY_BUDGET_MS,
      initialMs: options.retry?.initialRetryTime ?? 300,
      maxMs: options.retry?.maxRetryTime ?? 30_000,
      groupId,
      origin,
    });
    const deadLetters = new DeadLetters(clients, options, options.deadLetterTopic);
    const idle = new IdleClock(mode === 'streaming' ? options.idleTimeoutMs : undefined, () => sink.complete());
    /** The final commit and disconnect, once torn down; rejects when the final commit failed. */
    let closed: Promise<void> | undefined;
    const session: Session = {
      ack: (topic, partition, offset) => commits.ack(topic, partition, offset),
      holds: (topic, partition, offset) => commits.holds(topic, partition, offset),
      flush: () => closed ?? commits.commitDurably(),
    };
    live.add(session);
    if (commitMode === 'after-ack') register(session);

    const read = batchReader<T>({
      sink,
      book,
      commits,
      decode: decoderFor<T>(options.decode ?? ('buffer' as KafkaDecode<T>)),
      deadLetters,
      idle,
      onError: options.onError ?? 'fail',
      heartbeatMs: options.heartbeatInterval ?? 1000,
      life,
      session,
      healthy: () => consumer.healthy?.(),
      complete: () => sink.complete(),
    });

    const onJoin = (assignment: Record<string, number[]>): void => {
      commits.keepOnly(book.join(assignment));
      if (life.stopped) return;
      void commits.commitNow();
      // The idle clock starts once we can receive (a group join takes seconds).
      idle.armOnce();
      if (book.allDone()) sink.complete();
    };

    const setup = async (): Promise<void> => {
      const admin = clients.admin(options);
      await admin.connect();
      try {
        const names = await topicNames(admin, topicList);
        if (names.size === 0) throw new Error(`fromKafka: no topic matches ${topicList.map(String).join(', ')}`);
        for (const topic of names) {
          for (const span of (await partitionSpans(admin, topic, start, options.groupId)).map((s) => resumeSpan(s, resume))) {
            book.plan(span);
            sink.stats.extra[`lag:${span.topic}/${span.partition}`] = Number(span.end - span.low);
          }
        }
        if (life.stopped) return;
        consumer.onGroupJoin(onJoin);
        consumer.onRebalancing(() => void commits.commitNow());
        consumer.onCrash((error) => {
          commits.consumerLost();
          if (!life.stopped) sink.error(failure('consumer failed', error));
        });
        await consumer.connect();
        await consumer.subscribe([...names]);
        if (life.stopped) return;
        await consumer.run(read);
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    };
    const ready = setup().catch((error: unknown) => {
      if (!life.stopped) sink.error(error instanceof RxDataError ? error : failure('cannot start', error));
    });
    commits.start(options.commitIntervalMs ?? 1000);

    return () => {
      life.stopped = true;
      idle.hold();
      commits.stop();
      book.pauseAll();
      closed = (async () => {
        await ready;
        try {
          // Records still in training: their acknowledgements get a moment to arrive.
          await commits.final(options.ackGraceMs ?? 5000);
        } finally {
          await consumer.disconnect().catch(() => undefined);
          await deadLetters.close();
          live.delete(session);
          unregister(session);
        }
      })();
      // A failed final commit reaches whoever waits on it (acknowledge(), commit()); unobserved,
      // it stays in the statistics (commitErrors) rather than crashing the process.
      closed.catch(() => undefined);
    };
  }

  const name = options.name ?? 'kafka';
  const source = resumableKafka(
    withSignal(pushSource<KafkaRecord<T>>(open, { highWaterMark: options.highWaterMark ?? 256, overflow: 'pause', name }), options.signal, `fromKafka(${topicList.map(String).join(', ')})`),
    name,
    (resume) => (handedOff = resume),
  );
  // Bounded reads know their length: asked lazily, it costs an admin round trip.
  if (mode === 'bounded') declareCardinality(source, () => countBoundedKafka({ ...options, topics: topicList, start, clients }).catch(() => 'unknown' as const));
  return Object.assign(source, {
    ack(target: AckTarget): void {
      acknowledgeIn(target, live);
    },
    async commit(): Promise<void> {
      await Promise.all([...live].map((s) => s.flush()));
    },
  }) as KafkaSource<T>;
}
