/** Undecodable messages, as they were, to a dead-letter topic; the producer connects on first use. */
import type { RecordError } from '../../src/errors.js';
import type { KafkaClientFactory, KafkaConnection, ProducerClient, RawMessage } from './client.js';

export class DeadLetters {
  private producer: ProducerClient | undefined;

  constructor(
    private readonly clients: KafkaClientFactory,
    private readonly connection: KafkaConnection,
    private readonly topic: string | undefined,
  ) {}

  /** Sends `message` with headers naming `error` (no-op without a topic). */
  async send(message: RawMessage, error: RecordError): Promise<void> {
    if (!this.topic) return;
    if (!this.producer) {
      this.producer = this.clients.producer(this.connection);
      await this.producer.connect();
    }
    await this.producer.send(this.topic, [{ key: message.key, value: message.value, headers: { 'rxdata-error': error.message, 'rxdata-origin': error.origin ?? '' } }]);
  }

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined);
  }
}
