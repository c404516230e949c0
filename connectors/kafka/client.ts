/**
 * The few Kafka calls the connector makes, behind a small interface: kafkajs is the only
 * implementation today, but its maintenance has slowed, so nothing else in the connector imports
 * it. A replacement client implements {@link KafkaClientFactory}.
 *
 * ```
 * fromKafka ──▶ ConsumerClient (connect, subscribe, run eachBatch, seek, pause/resume, commit)
 *           ──▶ AdminClient    (topic offsets, by timestamp, committed offsets, topic list)
 * toKafka / dead letters ──▶ ProducerClient (send)
 * ```
 */
import { Kafka, logLevel as kafkaLogLevel, type Consumer, type KafkaConfig, type RetryOptions, type SASLOptions } from 'kafkajs';
import type { ConnectionOptions } from 'node:tls';
import { messageOf } from '../../src/errors.js';
import { openClients } from './openClients.js';

/** Connection settings shared by sources and sinks; `ssl` and `sasl` go to kafkajs unchanged. */
export interface KafkaConnection {
  /** `host:port` strings, or one comma-separated string. */
  brokers: string | readonly string[];
  clientId?: string;
  ssl?: ConnectionOptions | boolean;
  sasl?: SASLOptions;
  /**
   * kafkajs' reconnect/request retry policy (backoff when a broker is down): each request is
   * retried `retries` times (default 5, backoff from `initialRetryTime` 300 ms up to
   * `maxRetryTime` 30 s), after which kafkajs crashes the consumer and restarts it.
   */
  retry?: RetryOptions;
  /**
   * How long a consumer may keep crashing and restarting (brokers down or unreachable) before the
   * source fails with an error naming the brokers, ms. Counted from the first crash of a run of
   * failures; a group join or a fetched batch ends the run. Default 60 000; `Infinity` restarts
   * forever (kafkajs' own behaviour). kafkajs' retries before the first crash come on top.
   */
  retryBudgetMs?: number;
  connectionTimeout?: number;
  requestTimeout?: number;
  /** kafkajs log level: 'nothing' | 'error' | 'warn' | 'info' | 'debug'. Default 'error'. */
  logLevel?: 'nothing' | 'error' | 'warn' | 'info' | 'debug';
}

export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  offset: string;
}

/** One raw message as fetched. */
export interface RawMessage {
  key: Buffer | null;
  value: Buffer | null;
  offset: string;
  timestamp: string;
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
}

/** What `run` hands the batch handler; awaiting inside the handler stops fetching. */
export interface FetchedBatch {
  topic: string;
  partition: number;
  highWatermark: string;
  messages: RawMessage[];
  /** Marks `offset` as read, so the next fetch starts after it (not a commit). */
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  /** False once the consumer is stopping or the batch went stale through a rebalance/seek. */
  isActive(): boolean;
}

export interface ConsumerClient {
  connect(): Promise<void>;
  subscribe(topics: readonly (string | RegExp)[]): Promise<void>;
  run(handler: (batch: FetchedBatch) => Promise<void>): Promise<void>;
  seek(tpo: TopicPartitionOffset): void;
  pause(topic: string, partitions: number[]): void;
  /**
   * Commits `offsets` for the group; resolves only once the broker accepted them, and rejects
   * when they were not sent (a commit that did nothing must not count as done).
   */
  commitOffsets(offsets: readonly TopicPartitionOffset[]): Promise<void>;
  /** `listener(assignment)` on each group join, with this member's partitions by topic. */
  onGroupJoin(listener: (assignment: Record<string, number[]>) => void): void;
  /** Called when the group starts rebalancing (commit what is done before partitions move). */
  onRebalancing(listener: () => void): void;
  /** Called when the consumer crashes for good (after retries, or once `retryBudgetMs` is spent). */
  onCrash(listener: (error: unknown) => void): void;
  /** Tells the client the consumer is healthy (it fetched a batch): a run of crashes is over. */
  healthy?(): void;
  disconnect(): Promise<void>;
}

export interface AdminClient {
  connect(): Promise<void>;
  listTopics(): Promise<string[]>;
  /** Low and high watermarks per partition. */
  fetchTopicOffsets(topic: string): Promise<{ partition: number; low: string; high: string }[]>;
  fetchTopicOffsetsByTimestamp(topic: string, timestamp: number): Promise<{ partition: number; offset: string }[]>;
  /** The group's committed offsets ('-1' where none). */
  fetchCommittedOffsets(groupId: string, topic: string): Promise<{ partition: number; offset: string }[]>;
  disconnect(): Promise<void>;
}

export interface ProducerMessage {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, Buffer | string>;
  partition?: number;
  timestamp?: string;
}

export interface ProducerClient {
  connect(): Promise<void>;
  send(topic: string, messages: readonly ProducerMessage[]): Promise<{ partition: number; baseOffset?: string }[]>;
  disconnect(): Promise<void>;
}

/** Consumer group settings. */
export interface ConsumerSettings {
  groupId: string;
  sessionTimeout?: number;
  rebalanceTimeout?: number;
  heartbeatInterval?: number;
  /** Longest a fetch waits for data on the broker (kafkajs default 5000; ours 500). */
  maxWaitTimeInMs?: number;
  /** Most bytes one fetch takes per partition (kafkajs default 1 MiB): what kafkajs holds beyond our buffer. */
  maxBytesPerPartition?: number;
}

/** Builds clients; swap this to run the connector on another Kafka library. */
export interface KafkaClientFactory {
  consumer(connection: KafkaConnection, options: ConsumerSettings): ConsumerClient;
  admin(connection: KafkaConnection): AdminClient;
  producer(connection: KafkaConnection): ProducerClient;
}

/** Default {@link KafkaConnection.retryBudgetMs}. */
export const DEFAULT_RETRY_BUDGET_MS = 60_000;

/** The brokers as one string, for error origins (`kafka 10.0.0.1:9092,10.0.0.2:9092`). */
export function brokersOf(connection: Pick<KafkaConnection, 'brokers'>): string {
  return typeof connection.brokers === 'string' ? connection.brokers : connection.brokers.join(',');
}

/**
 * Decides whether kafkajs restarts a crashed consumer: yes while the run of crashes is younger
 * than `budgetMs` (and the user's own `restartOnFailure`, if any, agrees). kafkajs' default is to
 * restart forever, so a dead cluster never produced an error.
 */
export class RestartBudget {
  /** When the current run of crashes began (undefined: healthy). */
  private since: number | undefined;
  /** Restarts in the current run, for the error message. */
  restarts = 0;
  constructor(
    private readonly budgetMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(budgetMs >= 0)) throw new RangeError(`retryBudgetMs must be >= 0, got ${budgetMs}`);
  }
  /** A crash: whether to restart. */
  restart(): boolean {
    const now = this.now();
    this.since ??= now;
    if (now - this.since >= this.budgetMs) return false;
    this.restarts++;
    return true;
  }
  /** The consumer joined its group or fetched: the run of crashes is over. */
  healthy(): void {
    this.since = undefined;
    this.restarts = 0;
  }
  /** How long the current run has lasted, ms (0 when healthy). */
  elapsed(): number {
    return this.since === undefined ? 0 : this.now() - this.since;
  }
}

const levels = { nothing: kafkaLogLevel.NOTHING, error: kafkaLogLevel.ERROR, warn: kafkaLogLevel.WARN, info: kafkaLogLevel.INFO, debug: kafkaLogLevel.DEBUG };

function kafkaFor(connection: KafkaConnection): Kafka {
  const brokers = typeof connection.brokers === 'string' ? connection.brokers.split(',') : [...connection.brokers];
  const config: KafkaConfig = {
    brokers,
    clientId: connection.clientId ?? 'rxdata',
    logLevel: levels[connection.logLevel ?? 'error'],
  };
  if (connection.ssl !== undefined) config.ssl = connection.ssl;
  if (connection.sasl !== undefined) config.sasl = connection.sasl;
  if (connection.retry !== undefined) config.retry = connection.retry;
  if (connection.connectionTimeout !== undefined) config.connectionTimeout = connection.connectionTimeout;
  if (connection.requestTimeout !== undefined) config.requestTimeout = connection.requestTimeout;
  return new Kafka(config);
}

/** Counts a client open between a successful connect and its first disconnect. */
export function tracked<C extends { connect(): Promise<void>; disconnect(): Promise<void> }>(kind: keyof typeof openClients, client: C): C {
  let open = false;
  const connect = client.connect.bind(client);
  const disconnect = client.disconnect.bind(client);
  client.connect = async () => {
    await connect();
    if (!open) {
      open = true;
      openClients[kind]++;
    }
  };
  client.disconnect = async () => {
    try {
      await disconnect();
    } finally {
      if (open) {
        open = false;
        openClients[kind]--;
      }
    }
  };
  return client;
}

const groupErrors = new Set(['INVALID_REQUEST', 'UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'REBALANCE_IN_PROGRESS', 'NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE']);

/** An error from the group protocol (join/sync/heartbeat), possibly wrapped by kafkajs' retrier. */
function isGroupError(error: unknown): boolean {
  for (let e = error; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    if (groupErrors.has(String((e as { type?: unknown }).type))) return true;
  }
  return false;
}

/**
 * Commits through kafkajs and rejects when kafkajs did not send the commit. kafkajs resolves
 * `commitOffsets` without sending anything while its runner is not running: while it stops
 * (after a crash, or on disconnect: it waits for the batch in hand) and while a started or
 * restarted runner joins the group (seconds in a rebalance). Taken as done, those offsets would
 * never be committed again (seen in a two-member group on the mock broker: a partition trained
 * to its end stayed at -1). kafkajs emits COMMIT_OFFSETS synchronously once the broker accepted
 * the commit.
 */
async function commitSent(consumer: Consumer, offsets: readonly TopicPartitionOffset[]): Promise<void> {
  let sent = false;
  const stopListening = consumer.on(consumer.events.COMMIT_OFFSETS, () => {
    sent = true;
  });
  try {
    await consumer.commitOffsets([...offsets]);
  } finally {
    stopListening();
  }
  if (!sent) throw new Error('kafkajs did not send the commit: the consumer is not running (stopping, or joining the group after a start or a failure)');
}

/** The kafkajs implementation of {@link KafkaClientFactory}. */
export const kafkajsClients: KafkaClientFactory = {
  consumer(connection, options) {
    const kafka = kafkaFor(connection);
    const budget = new RestartBudget(connection.retryBudgetMs ?? DEFAULT_RETRY_BUDGET_MS);
    const userRestart = connection.retry?.restartOnFailure;
    /** The crash that spent the budget: reported with the brokers named, not kafkajs' bare error. */
    let budgetSpent = false;
    const retry: RetryOptions = {
      retries: 5,
      ...connection.retry,
      async restartOnFailure(error) {
        if (userRestart && !(await userRestart(error))) return false;
        if (budget.restart()) return true;
        budgetSpent = true;
        return false;
      },
    };
    const make = (): Consumer =>
      kafka.consumer({
        retry,
        groupId: options.groupId,
        ...(options.sessionTimeout !== undefined ? { sessionTimeout: options.sessionTimeout } : {}),
        ...(options.rebalanceTimeout !== undefined ? { rebalanceTimeout: options.rebalanceTimeout } : {}),
        ...(options.heartbeatInterval !== undefined ? { heartbeatInterval: options.heartbeatInterval } : {}),
        maxWaitTimeInMs: options.maxWaitTimeInMs ?? 500,
        ...(options.maxBytesPerPartition !== undefined ? { maxBytesPerPartition: options.maxBytesPerPartition } : {}),
        allowAutoTopicCreation: false,
      });
    const joinListeners: ((assignment: Record<string, number[]>) => void)[] = [];
    const rebalanceListeners: (() => void)[] = [];
    const crashListeners: ((error: unknown) => void)[] = [];
    let topics: (string | RegExp)[] = [];
    let handler: ((batch: FetchedBatch) => Promise<void>) | undefined;
    let stopping = false;
    /** Fresh consumers made after kafkajs gave up on a group-protocol error. */
    let rebuilds = 0;
    let current = make();

    const startRun = (consumer: Consumer): Promise<void> =>
      consumer.run({
        // Commits are ours (at-least-once watermark); kafkajs only tracks the read position.
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: ({ batch, resolveOffset, heartbeat, isRunning, isStale }) =>
          handler!({
            topic: batch.topic,
            partition: batch.partition,
            highWatermark: batch.highWatermark,
            messages: batch.messages as RawMessage[],
            resolveOffset,
            heartbeat,
            isActive: () => isRunning() && !isStale(),
          }),
      });
    const wire = (consumer: Consumer): void => {
      consumer.on(consumer.events.GROUP_JOIN, (event) => {
        budget.healthy();
        for (const l of joinListeners) l(event.payload.memberAssignment);
      });
      consumer.on(consumer.events.REBALANCING, () => {
        for (const l of rebalanceListeners) l();
      });
      consumer.on(consumer.events.CRASH, (event) => {
        if (event.payload.restart || stopping || consumer !== current) return;
        void recover(event.payload.error);
      });
    };
    /**
     * kafkajs treats some group-protocol answers as fatal (seen from librdkafka's mock during
     * rebalances: SyncGroup INVALID_REQUEST); a fresh consumer rejoining the group is the cure.
     */
    const recover = async (error: unknown): Promise<void> => {
      if (budgetSpent) {
        const spent = new Error(
          `gave up after ${(budget.elapsed() / 1000).toFixed(1)} s of failures (${budget.restarts} consumer restarts, retryBudgetMs ${connection.retryBudgetMs ?? DEFAULT_RETRY_BUDGET_MS}): ${messageOf(error)}`,
          { cause: error },
        );
        for (const l of crashListeners) l(spent);
        return;
      }
      if (!isGroupError(error) || rebuilds >= 5) {
        for (const l of crashListeners) l(error);
        return;
      }
      rebuilds++;
      await current.disconnect().catch(() => undefined);
      if (stopping) return;
      current = make();
      wire(current);
      try {
        await current.connect();
        await current.subscribe({ topics, fromBeginning: true });
        await startRun(current);
      } catch (next) {
        if (!stopping) await recover(next);
      }
    };
    wire(current);
    const client: ConsumerClient = {
      connect: () => current.connect(),
      async subscribe(list) {
        topics = [...list];
        await current.subscribe({ topics, fromBeginning: true });
      },
      async run(eachBatch) {
        handler = eachBatch;
        try {
          await startRun(current);
        } catch (error) {
          await recover(error);
        }
      },
      seek: (tpo) => current.seek(tpo),
      pause: (topic, partitions) => current.pause([{ topic, partitions }]),
      commitOffsets: (offsets) => commitSent(current, offsets),
      onGroupJoin: (listener) => void joinListeners.push(listener),
      onRebalancing: (listener) => void rebalanceListeners.push(listener),
      onCrash: (listener) => void crashListeners.push(listener),
      healthy: () => budget.healthy(),
      disconnect: () => {
        stopping = true;
        return current.disconnect();
      },
    };
    return tracked('consumer', client);
  },
  admin(connection) {
    const admin = kafkaFor(connection).admin();
    const client: AdminClient = {
      connect: () => admin.connect(),
      listTopics: () => admin.listTopics(),
      fetchTopicOffsets: (topic) => admin.fetchTopicOffsets(topic),
      fetchTopicOffsetsByTimestamp: (topic, timestamp) => admin.fetchTopicOffsetsByTimestamp(topic, timestamp),
      async fetchCommittedOffsets(groupId, topic) {
        const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
        return entry ? entry.partitions.map((p) => ({ partition: p.partition, offset: p.offset })) : [];
      },
      disconnect: () => admin.disconnect(),
    };
    return tracked('admin', client);
  },
  producer(connection) {
    const producer = kafkaFor(connection).producer({ allowAutoTopicCreation: true });
    const client: ProducerClient = {
      connect: () => producer.connect(),
      async send(topic, messages) {
        const results = await producer.send({ topic, messages: messages.map((m) => ({ ...m })) });
        return results.map((r) => ({ partition: r.partition, baseOffset: r.baseOffset }));
      },
      disconnect: () => producer.disconnect(),
    };
    return tracked('producer', client);
  },
};
