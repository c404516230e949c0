/**
 * Confluent Schema Registry: message values in the Confluent wire format (magic byte 0, a 4-byte
 * big-endian schema id, then the payload: Avro binary, Protobuf with its message indexes, or JSON)
 * decoded for `fromKafka` and encoded for `toKafka`. Schemas are fetched over the registry's REST
 * API once per id and cached; decoding a record whose schema is cached is synchronous.
 *
 * A small client of our own rather than `@kafkajs/confluent-schema-registry`: that library's
 * last release for Node 20 (3.9) writes Protobuf payloads without the message-index prefix that
 * Confluent's serializers expect, reads only the first message type back, and returns a Promise
 * per record even when the schema is cached. The codecs are well-kept libraries: avsc (Avro,
 * with reader-schema resolution), protobufjs, ajv (JSON Schema validation).
 */
import avro from 'avsc';
import * as AjvModule from 'ajv';
import protobuf from 'protobufjs';
import type { RecordMeta } from './fromKafka.js';
import type { KafkaOutMessage } from './toKafka.js';

/** The schema kinds the registry stores (`schemaType`; absent means AVRO). */
export type SchemaType = 'AVRO' | 'PROTOBUF' | 'JSON';

export interface SchemaRegistryOptions {
  /** Base URL of the registry, e.g. `http://localhost:8081`. */
  readonly url: string;
  /** HTTP basic auth (Confluent Cloud: API key and secret). */
  readonly auth?: { readonly username: string; readonly password: string };
  /** Extra request headers. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Longest a registry request may take. Default 10,000 ms. */
  readonly timeoutMs?: number;
  /** Schemas kept in the cache (least recently fetched dropped first). Default 1000. */
  readonly maxCachedSchemas?: number;
  /** A failed schema fetch is not retried for this long (so a poison id does not flood the registry). Default 5000 ms. */
  readonly failureTtlMs?: number;
  /** Avro only: decode into this schema, resolved against each writer schema (schema evolution). */
  readonly readerSchema?: avro.Schema | string;
  /** JSON Schema: check values against the schema when decoding and encoding. Default true. */
  readonly validate?: boolean;
  /** Share one client (and its cache) between decoders and encoders. */
  readonly client?: SchemaRegistryClient;
}

export interface SchemaRegistryEncodeOptions<V> extends SchemaRegistryOptions {
  /** Subject the schema is registered under (Confluent's default naming: `<topic>-value`). */
  readonly subject: string;
  /**
   * The schema to write with: registered under `subject` on first use (the registry returns the
   * existing id when it is already there). Without it, the subject's latest version is used.
   */
  readonly schema?: { readonly type: SchemaType; readonly schema: string | object };
  /** Protobuf: the message type to encode (full name or simple name). Default: the first in the schema. */
  readonly messageName?: string;
  /** The message key for a value. Default: none. */
  readonly key?: (value: V) => Buffer | string | null;
}

/** A schema as fetched from the registry, ready to decode and encode payloads. */
export interface RegisteredSchema {
  readonly id: number;
  readonly type: SchemaType;
  /** Decodes a payload (the bytes after the 5-byte header). */
  decode(payload: Buffer): unknown;
  /** Encodes a value into a payload (Protobuf: with its message indexes). */
  encode(value: unknown): Buffer;
}

/** `fromKafka({ decode })`: synchronous when the schema is cached, a Promise on first sight of an id. */
export type RegistryDecoder<T> = ((value: Buffer, meta: RecordMeta) => T | Promise<T>) & { readonly client: SchemaRegistryClient };
/** `toKafka({ encode })`: synchronous once the subject's schema id is known. */
export type RegistryEncoder<V> = ((value: V) => KafkaOutMessage | Promise<KafkaOutMessage>) & { readonly client: SchemaRegistryClient };

// ajv is CommonJS: its class is the default export's `default` under NodeNext.
const Ajv = AjvModule.Ajv;

/** Reads the Confluent header: the schema id and where the payload starts. */
export function readWireHeader(value: Buffer): { id: number; payload: Buffer } {
  if (value.length < 5) throw new Error(`not in the Confluent wire format: ${value.length} bytes, the header alone is 5`);
  if (value[0] !== 0) throw new Error(`not in the Confluent wire format: magic byte ${value[0]}, expected 0`);
  return { id: value.readInt32BE(1), payload: value.subarray(5) };
}

/** The 5-byte header for schema `id`. */
export function wireHeader(id: number): Buffer {
  const header = Buffer.alloc(5);
  header.writeInt32BE(id, 1);
  return header;
}

// ---------------------------------------------------------------------------------------------
// Protobuf message indexes: zigzag varints, a count then the path of indexes to the message type
// in the schema (top-level messages in declaration order, then nested ones). [0] is one 0 byte.

function writeZigzag(out: number[], n: number): void {
  let v = (n << 1) ^ (n >> 31);
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
}

function readZigzag(buf: Buffer, at: number): [number, number] {
  let v = 0;
  for (let shift = 0, i = at; i < buf.length && shift < 35; i++, shift += 7) {
    v |= (buf[i] & 0x7f) << shift;
    if ((buf[i] & 0x80) === 0) return [(v >>> 1) ^ -(v & 1), i + 1];
  }
  throw new Error('bad Protobuf message-index varint');
}

export function encodeMessageIndexes(path: readonly number[]): Buffer {
  if (path.length === 1 && path[0] === 0) return Buffer.from([0]);
  const out: number[] = [];
  writeZigzag(out, path.length);
  for (const i of path) writeZigzag(out, i);
  return Buffer.from(out);
}

export function decodeMessageIndexes(buf: Buffer): { path: number[]; rest: Buffer } {
  const [count, first] = readZigzag(buf, 0);
  if (count === 0) return { path: [0], rest: buf.subarray(first) };
  if (count < 0 || count > 100) throw new Error(`bad Protobuf message-index count ${count}`);
  const path: number[] = [];
  let at = first;
  for (let k = 0; k < count; k++) {
    const [i, next] = readZigzag(buf, at);
    path.push(i);
    at = next;
  }
  return { path, rest: buf.subarray(at) };
}

const messageTypes = (ns: protobuf.NamespaceBase): protobuf.Type[] => ns.nestedArray.filter((x): x is protobuf.Type => x instanceof protobuf.Type);

function protobufSchema(id: number, text: string, messageName?: string): RegisteredSchema {
  const parsed = protobuf.parse(text, { keepCase: true });
  const root = parsed.root;
  root.resolveAll();
  const top: protobuf.NamespaceBase = parsed.package ? (root.lookup(parsed.package) as protobuf.Namespace) : root;
  const byPath = (path: readonly number[]): protobuf.Type => {
    let ns: protobuf.NamespaceBase = top;
    let type: protobuf.Type | undefined;
    for (const i of path) {
      type = messageTypes(ns)[i];
      if (!type) throw new Error(`schema ${id} has no message at index path [${path.join(', ')}]`);
      ns = type;
    }
    if (!type) throw new Error(`schema ${id}: empty message-index path`);
    return type;
  };
  const pathOf = (type: protobuf.Type): number[] => {
    const path: number[] = [];
    let t: protobuf.ReflectionObject = type;
    while (t !== top && t.parent) {
      path.unshift(messageTypes(t.parent).indexOf(t as protobuf.Type));
      t = t.parent;
    }
    return path;
  };
  const writeType = messageName ? (root.lookupType(messageName.includes('.') || !parsed.package ? messageName : `${parsed.package}.${messageName}`) as protobuf.Type) : byPath([0]);
  const writePrefix = encodeMessageIndexes(pathOf(writeType));
  return {
    id,
    type: 'PROTOBUF',
    decode(payload) {
      const { path, rest } = decodeMessageIndexes(payload);
      const type = byPath(path);
      return type.toObject(type.decode(rest), { longs: Number, enums: String, defaults: true });
    },
    encode(value) {
      const problem = writeType.verify(value as Record<string, unknown>);
      if (problem) throw new Error(`value does not fit ${writeType.fullName}: ${problem}`);
      return Buffer.concat([writePrefix, writeType.encode(writeType.fromObject(value as Record<string, unknown>)).finish()]);
    },
  };
}

function avroSchema(id: number, text: string, readerSchema?: avro.Schema | string): RegisteredSchema {
  const writer = avro.Type.forSchema(JSON.parse(text) as avro.Schema);
  const reader = readerSchema === undefined ? undefined : avro.Type.forSchema(typeof readerSchema === 'string' ? (JSON.parse(readerSchema) as avro.Schema) : readerSchema);
  const resolver = reader?.createResolver(writer);
  return {
    id,
    type: 'AVRO',
    decode: (payload) => (reader ? reader.fromBuffer(payload, resolver) : writer.fromBuffer(payload)) as unknown,
    encode: (value) => writer.toBuffer(value),
  };
}

function jsonSchema(id: number, text: string, validate: boolean): RegisteredSchema {
  let check: ((value: unknown) => void) | undefined;
  if (validate) {
    const schema = JSON.parse(text) as Record<string, unknown>;
    // The meta-schema is not needed to validate values (and ajv ships only draft-07's).
    delete schema.$schema;
    const fn = new Ajv({ strict: false, validateSchema: false, allErrors: false }).compile(schema);
    check = (value) => {
      if (!fn(value)) throw new Error(`value does not match JSON schema ${id}: ${fn.errors?.map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join('; ')}`);
    };
  }
  return {
    id,
    type: 'JSON',
    decode(payload) {
      const value = JSON.parse(payload.toString('utf8')) as unknown;
      check?.(value);
      return value;
    },
    encode(value) {
      check?.(value);
      return Buffer.from(JSON.stringify(value), 'utf8');
    },
  };
}

interface SchemaResponse {
  schema: string;
  schemaType?: string;
  references?: unknown[];
  id?: number;
}

/** A minimal Schema Registry REST client with a schema cache. */
export class SchemaRegistryClient {
  /** Parsed schemas (or their fetch in progress) by id, in fetch order for eviction. */
  private readonly byId = new Map<number, RegisteredSchema | Promise<RegisteredSchema>>();
  private readonly failed = new Map<number, { error: Error; until: number }>();
  /** Requests made to the registry (for statistics and tests). */
  requests = 0;

  constructor(private readonly options: SchemaRegistryOptions) {}

  private async request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const { url, auth, headers, timeoutMs = 10_000 } = this.options;
    const init: RequestInit = {
      method,
      headers: {
        Accept: 'application/vnd.schemaregistry.v1+json, application/json',
        ...(body === undefined ? {} : { 'Content-Type': 'application/vnd.schemaregistry.v1+json' }),
        ...(auth ? { Authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    };
    this.requests++;
    const target = `${url.replace(/\/+$/, '')}${path}`;
    let response: Response;
    try {
      response = await fetch(target, init);
    } catch (error) {
      throw new Error(`schema registry ${method} ${target} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const text = await response.text();
    if (!response.ok) throw new Error(`schema registry ${method} ${target}: HTTP ${response.status} ${text.slice(0, 200)}`);
    return JSON.parse(text) as unknown;
  }

  /** Builds the codec for a schema text of a type. */
  parse(id: number, response: SchemaResponse, messageName?: string): RegisteredSchema {
    if (response.references && response.references.length > 0) throw new Error(`schema ${id} has references, which rxdata does not resolve`);
    const type = (response.schemaType ?? 'AVRO') as SchemaType;
    switch (type) {
      case 'AVRO':
        return avroSchema(id, response.schema, this.options.readerSchema);
      case 'PROTOBUF':
        return protobufSchema(id, response.schema, messageName);
      case 'JSON':
        return jsonSchema(id, response.schema, this.options.validate ?? true);
      default:
        throw new Error(`schema ${id} has unsupported type ${String(type)}`);
    }
  }

  /** The schema with this id: from the cache, or a Promise while it is fetched. */
  schema(id: number): RegisteredSchema | Promise<RegisteredSchema> {
    const cached = this.byId.get(id);
    if (cached) return cached;
    const failure = this.failed.get(id);
    if (failure && failure.until > performance.now()) throw failure.error;
    const fetching = this.request('GET', `/schemas/ids/${id}`).then(
      (response) => {
        const schema = this.parse(id, response as SchemaResponse);
        this.byId.set(id, schema);
        return schema;
      },
      (error: unknown) => {
        this.byId.delete(id);
        const e = error instanceof Error ? error : new Error(String(error));
        this.failed.set(id, { error: e, until: performance.now() + (this.options.failureTtlMs ?? 5000) });
        throw e;
      },
    );
    this.byId.set(id, fetching);
    const max = this.options.maxCachedSchemas ?? 1000;
    while (this.byId.size > max) this.byId.delete(this.byId.keys().next().value as number);
    return fetching;
  }

  /** Registers a schema under a subject (or finds it there); resolves to its id. */
  async register(subject: string, schema: { type: SchemaType; schema: string | object }): Promise<number> {
    const text = typeof schema.schema === 'string' ? schema.schema : JSON.stringify(schema.schema);
    const body = schema.type === 'AVRO' ? { schema: text } : { schema: text, schemaType: schema.type };
    const { id } = (await this.request('POST', `/subjects/${encodeURIComponent(subject)}/versions`, body)) as { id: number };
    return id;
  }

  /** The latest version of a subject. */
  async latest(subject: string, messageName?: string): Promise<RegisteredSchema> {
    const response = (await this.request('GET', `/subjects/${encodeURIComponent(subject)}/versions/latest`)) as SchemaResponse & { id: number };
    return this.parse(response.id, response, messageName);
  }
}

function isThenable<T>(x: T | Promise<T>): x is Promise<T> {
  return typeof (x as { then?: unknown } | null)?.then === 'function';
}

/**
 * A Schema Registry codec for Kafka values. Without `subject`: a decoder for `fromKafka`'s
 * `decode` (Avro, Protobuf or JSON Schema, by each message's schema id). With `subject`: an
 * encoder for `toKafka`'s `encode`.
 *
 * ```
 * value bytes: 00 │ 00 00 00 07 │ payload           → GET /schemas/ids/7 (once) → decoded value
 * toKafka:     value → POST /subjects/s/versions (once) → 00 │ id │ payload
 * ```
 *
 * A record whose schema cannot be fetched or that does not decode fails `fromKafka` with a
 * RecordError naming topic, partition and offset (or is skipped and counted with `onError: 'skip'`).
 *
 * @example
 * ```ts
 * const registry = new SchemaRegistryClient({ url: 'http://localhost:8081' });
 * fromKafka<Reading>({ brokers, topics: 'sensors', decode: schemaRegistry({ url, client: registry }) });
 * readings$.pipe(toKafka({ brokers, topic: 'sensors', encode: schemaRegistry<Reading>({ url, client: registry,
 *   subject: 'sensors-value', schema: { type: 'AVRO', schema: readingSchema } }) }));
 * ```
 */
export function schemaRegistry<V>(options: SchemaRegistryEncodeOptions<V>): RegistryEncoder<V>;
export function schemaRegistry<T = unknown>(options: SchemaRegistryOptions): RegistryDecoder<T>;
export function schemaRegistry<T>(options: SchemaRegistryOptions | SchemaRegistryEncodeOptions<T>): RegistryDecoder<T> | RegistryEncoder<T> {
  const client = options.client ?? new SchemaRegistryClient(options);
  if ('subject' in options) return encoder(options, client);
  const decode = (value: Buffer): T | Promise<T> => {
    const { id, payload } = readWireHeader(value);
    let schema: RegisteredSchema | Promise<RegisteredSchema>;
    try {
      schema = client.schema(id);
    } catch (error) {
      throw new Error(`schema ${id}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (!isThenable(schema)) return schema.decode(payload) as T;
    return schema.then(
      (s) => s.decode(payload) as T,
      (error: unknown) => {
        throw new Error(`schema ${id}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      },
    );
  };
  return Object.assign(decode, { client });
}

function encoder<V>(options: SchemaRegistryEncodeOptions<V>, client: SchemaRegistryClient): RegistryEncoder<V> {
  let ready: { schema: RegisteredSchema; header: Buffer } | undefined;
  let pending: Promise<{ schema: RegisteredSchema; header: Buffer }> | undefined;
  const resolve = async (): Promise<{ schema: RegisteredSchema; header: Buffer }> => {
    let schema: RegisteredSchema;
    if (options.schema) {
      const id = await client.register(options.subject, options.schema);
      const text = typeof options.schema.schema === 'string' ? options.schema.schema : JSON.stringify(options.schema.schema);
      schema = client.parse(id, { schema: text, schemaType: options.schema.type }, options.messageName);
    } else {
      schema = await client.latest(options.subject, options.messageName);
    }
    return { schema, header: wireHeader(schema.id) };
  };
  const build = (value: V, at: { schema: RegisteredSchema; header: Buffer }): KafkaOutMessage => ({
    key: options.key ? options.key(value) : null,
    value: Buffer.concat([at.header, at.schema.encode(value)]),
  });
  const encode = (value: V): KafkaOutMessage | Promise<KafkaOutMessage> => {
    if (ready) return build(value, ready);
    pending ??= resolve().then(
      (r) => (ready = r),
      (error: unknown) => {
        pending = undefined; // the next element tries again
        throw error;
      },
    );
    return pending.then((r) => build(value, r));
  };
  return Object.assign(encode, { client });
}
