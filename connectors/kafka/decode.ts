/** Message values into `T`: the built-in decoders, and a bad value as a RecordError naming its position. */
import { RecordError, messageOf } from '../../src/errors.js';
import { decodeBatch } from '../../src/fleet/codec.js';
import type { KafkaDecode, RecordMeta } from './types.js';

/** What the built-in decoders get for meta (they ignore it): no object per record for them. */
const NO_META: RecordMeta = Object.freeze({ topic: '', partition: -1, offset: '-1', key: null });

export function isThenable<T>(x: T | PromiseLike<T>): x is PromiseLike<T> {
  return typeof (x as { then?: unknown } | null)?.then === 'function';
}

/**
 * Decodes one message value; a null value (tombstone) throws like a bad one. `sync`: it never
 * returns a Promise (the built-in ones), so the reader need not look for one on every record.
 */
export interface Decoder<T> {
  (value: Buffer | null, topic: string, partition: number, offset: string, key: Buffer | null): T | PromiseLike<T>;
  readonly sync: boolean;
  /** It hands the value on as it is (`'buffer'`): the reader skips the call for a non-null value. */
  readonly identity?: boolean;
}

export function decoderFor<T>(decode: KafkaDecode<T>): Decoder<T> {
  if (typeof decode === 'function') {
    const user = decode;
    return Object.assign(
      (value: Buffer | null, topic: string, partition: number, offset: string, key: Buffer | null) => {
        if (value === null) throw new Error('null value (tombstone)');
        return user(value, { topic, partition, offset, key });
      },
      { sync: false },
    );
  }
  const builtIn = builtInDecoder<T>(decode);
  return Object.assign(
    (value: Buffer | null) => {
      if (value === null) throw new Error('null value (tombstone)');
      return builtIn(value, NO_META);
    },
    { sync: true, identity: decode === 'buffer' },
  );
}

function builtInDecoder<T>(decode: KafkaDecode<T>): (value: Buffer, meta: RecordMeta) => T | PromiseLike<T> {
  switch (decode) {
    case 'utf8':
      return (v) => v.toString('utf8') as T;
    case 'json':
      return (v) => JSON.parse(v.toString('utf8')) as T;
    case 'buffer':
      return (v) => v as T;
    case 'batch':
      return (v) => decodeBatch<T>(v);
    default:
      return decode;
  }
}

/** A message that did not decode, as the error naming where it sits. */
export function decodeError(topic: string, partition: number, offset: string, cause: unknown): RecordError {
  return new RecordError(`fromKafka: cannot decode message: ${messageOf(cause)}`, `topic ${topic} partition ${partition} offset ${offset}`, { cause });
}
