/**
 * rxdata/kafka: a backpressured, at-least-once Kafka source and a batching Kafka sink.
 * See docs/kafka.md.
 */
export { fromKafka, type FromKafkaOptions, type KafkaRecord, type KafkaSource, type KafkaStart, type KafkaDecode, type RecordMeta, type CommitMode } from './fromKafka.js';
export { acknowledge, type AckSelector } from './acknowledge.js';
export type { AckTarget, KafkaPosition } from './sessions.js';
export { toKafka, type ToKafkaOptions, type ToKafkaResult, type KafkaOutMessage } from './toKafka.js';
export { kafkajsClients, type KafkaClientFactory, type KafkaConnection, type ConsumerClient, type AdminClient, type ProducerClient, type FetchedBatch, type RawMessage, type ProducerMessage, type TopicPartitionOffset, type ConsumerSettings } from './client.js';
export { kafkajsWorkerClients, type WorkerClientOptions, type ThreadConsumerClient } from './thread/workerClients.js';
export { schemaRegistry, SchemaRegistryClient, readWireHeader, wireHeader, encodeMessageIndexes, decodeMessageIndexes, type SchemaRegistryOptions, type SchemaRegistryEncodeOptions, type RegisteredSchema, type RegistryDecoder, type RegistryEncoder, type SchemaType } from './schemaRegistry.js';
export * from './fleet/index.js';
