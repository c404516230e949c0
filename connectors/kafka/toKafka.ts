import { bufferTime, defer, filter, finalize, type OperatorFunction } from 'rxjs';
import { consume } from '../../operators/consume.js';
import { kafkajsClients, type KafkaClientFactory, type KafkaConnection, type ProducerClient, type ProducerMessage } from './client.js';

/** A message to write: a value with optional key, headers and partition. */
export interface KafkaOutMessage {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, Buffer | string>;
  partition?: number;
}

export interface ToKafkaOptions<V> extends KafkaConnection {
  topic: string;
  /** Turns an element into a message (or a Promise of one, e.g. `schemaRegistry`); default: elements already are {@link KafkaOutMessage}s. */
  encode?: (value: V) => KafkaOutMessage | PromiseLike<KafkaOutMessage>;
  /** Messages per `send`. Default 500. */
  batchSize?: number;
  /** Longest a message waits for its batch to fill. Default 20 ms. */
  lingerMs?: number;
  clients?: KafkaClientFactory;
  /** Stage name in statistics. Default 'toKafka'. */
  name?: string;
}

/** One `send`: how many messages, and where they went. */
export interface ToKafkaResult {
  readonly topic: string;
  readonly count: number;
  readonly partitions: readonly { partition: number; baseOffset?: string }[];
}

/**
 * Writes elements to a topic, one `send` per accumulated batch (up to `batchSize` messages or
 * `lingerMs`), one send at a time: a slow broker slows the pipeline above. Emits one result per
 * send; the producer disconnects on complete, error or unsubscribe.
 *
 * ```
 * input:   a b c d e f ──────|
 * batches: [a b c] [d e f]        (batchSize 3)
 * send:     ─[abc]──[def]─
 * output:  ──R1─────R2───|
 * ```
 *
 * @example
 * ```ts
 * await lastValueFrom(predictions$.pipe(
 *   toKafka({ brokers, topic: 'predictions', encode: (p) => ({ key: p.id, value: JSON.stringify(p) }) }),
 *   count(),
 * ));
 * ```
 */
export function toKafka<V = KafkaOutMessage>(options: ToKafkaOptions<V>): OperatorFunction<V, ToKafkaResult> {
  const { topic, batchSize = 500, lingerMs = 20 } = options;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`toKafka: batchSize must be an integer >= 1, got ${batchSize}`);
  const encode = options.encode ?? ((v: V) => v as unknown as KafkaOutMessage);
  const clients = options.clients ?? kafkajsClients;
  return (source) =>
    defer(() => {
      let producer: ProducerClient | undefined;
      let connecting: Promise<void> | undefined;
      const send = async (values: V[]): Promise<ToKafkaResult> => {
        if (!producer) {
          producer = clients.producer(options);
          connecting = producer.connect();
        }
        await connecting;
        const encoded = values.map(encode);
        const messages: ProducerMessage[] = encoded.some((m) => typeof (m as { then?: unknown }).then === 'function') ? await Promise.all(encoded) : (encoded as KafkaOutMessage[]);
        const partitions = await producer.send(topic, messages);
        return { topic, count: messages.length, partitions };
      };
      return source.pipe(
        bufferTime(lingerMs, null, batchSize),
        filter((values) => values.length > 0),
        consume(send, { name: options.name ?? 'toKafka' }),
        finalize(() => {
          const p = producer;
          const c = connecting;
          producer = undefined;
          if (p) void (c ?? Promise.resolve()).catch(() => undefined).then(() => p.disconnect()).catch(() => undefined);
        }),
      );
    });
}
