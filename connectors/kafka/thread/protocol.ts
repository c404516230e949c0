/**
 * What the main thread and a Kafka consumer thread say to each other, and how a fetched batch
 * crosses: every key and value copied back to back into one buffer that is moved (not cloned),
 * offsets and timestamps as one string each, so a batch of 1,000 records is one small message.
 *
 * ```
 * main ── connect · subscribe · run · commit · seek · pause · done(batch) · disconnect ──▶ thread
 * main ◀── reply(req) · batch(packed) · join(assignment) · rebalancing · crash(error) ──── thread
 * ```
 */
import type { SerializedError } from '../../../src/workers/protocol.js';
import type { ConsumerSettings, KafkaConnection, RawMessage, TopicPartitionOffset } from '../client.js';

export interface ConsumerThreadInit {
  readonly connection: KafkaConnection;
  readonly settings: ConsumerSettings;
  /** Fetched batches the thread may hand over before the main thread finished them. */
  readonly fetchAhead: number;
  /** How often the thread heartbeats while it waits for the main thread, ms. */
  readonly heartbeatMs: number;
}

export type ToThread =
  | { readonly t: 'connect' | 'run' | 'disconnect'; readonly req: number }
  | { readonly t: 'subscribe'; readonly req: number; readonly topics: readonly (string | RegExp)[] }
  | { readonly t: 'commit'; readonly req: number; readonly offsets: readonly TopicPartitionOffset[] }
  | { readonly t: 'seek'; readonly tpo: TopicPartitionOffset }
  | { readonly t: 'pause'; readonly topic: string; readonly partitions: number[] }
  /** The main thread finished (or dropped) a batch: the thread may hand over one more. */
  | { readonly t: 'done' };

export type FromThread =
  | { readonly t: 'reply'; readonly req: number; readonly error?: SerializedError }
  | {
      readonly t: 'batch';
      readonly topic: string;
      readonly partition: number;
      readonly highWatermark: string;
      /** Seeks the thread had applied when it handed the batch over: one made later makes it stale. */
      readonly seeks: number;
      readonly packed: PackedMessages;
    }
  | { readonly t: 'join'; readonly assignment: Record<string, number[]> }
  | { readonly t: 'rebalancing' }
  | { readonly t: 'crash'; readonly error: SerializedError };

type Headers = NonNullable<RawMessage['headers']>;

/** A batch's messages in a form that crosses threads as two moved buffers and two strings. */
export interface PackedMessages {
  readonly count: number;
  /** Keys and values back to back, in message order (key then value). */
  readonly bytes: ArrayBuffer;
  /** Per message: key length, value length; -1 for null. */
  readonly lengths: Int32Array;
  /** Offsets joined by ','. */
  readonly offsets: string;
  /** Timestamps joined by ','. */
  readonly timestamps: string;
  /** Per message, only when some message has headers (structured-cloned). */
  readonly headers?: (Headers | undefined)[];
}

const hasHeaders = (m: RawMessage): boolean => {
  if (!m.headers) return false;
  for (const _ in m.headers) return true;
  return false;
};

/** Packs `messages`; the buffers to move are `[packed.bytes, packed.lengths.buffer]`. */
export function packMessages(messages: readonly RawMessage[]): PackedMessages {
  const count = messages.length;
  let size = 0;
  let withHeaders = false;
  for (let i = 0; i < count; i++) {
    const m = messages[i];
    size += (m.key?.length ?? 0) + (m.value?.length ?? 0);
    if (!withHeaders && hasHeaders(m)) withHeaders = true;
  }
  const bytes = new Uint8Array(size);
  const lengths = new Int32Array(2 * count);
  const offsets = new Array<string>(count);
  const timestamps = new Array<string>(count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const { key, value } = messages[i];
    if (key === null) lengths[2 * i] = -1;
    else {
      bytes.set(key, at);
      at += key.length;
      lengths[2 * i] = key.length;
    }
    if (value === null) lengths[2 * i + 1] = -1;
    else {
      bytes.set(value, at);
      at += value.length;
      lengths[2 * i + 1] = value.length;
    }
    offsets[i] = messages[i].offset;
    timestamps[i] = messages[i].timestamp;
  }
  const packed: PackedMessages = { count, bytes: bytes.buffer, lengths, offsets: offsets.join(','), timestamps: timestamps.join(',') };
  return withHeaders ? { ...packed, headers: messages.map((m) => (hasHeaders(m) ? m.headers : undefined)) } : packed;
}

/** Header values arrive as Uint8Array (structured clone drops Buffer): Buffers again. */
function headersOf(cloned: Headers | undefined): Headers | undefined {
  if (!cloned) return undefined;
  const out: Headers = {};
  const buffer = (v: Buffer | string): Buffer | string => (typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  for (const [name, v] of Object.entries(cloned)) out[name] = v === undefined ? undefined : Array.isArray(v) ? v.map(buffer) : buffer(v);
  return out;
}

/** The messages again: each key and value a Buffer view of the moved bytes (no copy). */
export function unpackMessages(packed: PackedMessages): RawMessage[] {
  const { count, lengths } = packed;
  const offsets = packed.offsets.split(',');
  const timestamps = packed.timestamps.split(',');
  const whole = Buffer.from(packed.bytes);
  const out = new Array<RawMessage>(count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const keyLength = lengths[2 * i];
    let key: Buffer | null = null;
    if (keyLength >= 0) {
      key = whole.subarray(at, at + keyLength);
      at += keyLength;
    }
    const valueLength = lengths[2 * i + 1];
    let value: Buffer | null = null;
    if (valueLength >= 0) {
      value = whole.subarray(at, at + valueLength);
      at += valueLength;
    }
    out[i] = { key, value, offset: offsets[i], timestamp: timestamps[i], headers: packed.headers ? headersOf(packed.headers[i]) : undefined };
  }
  return out;
}
