import test from 'ava';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import avro from 'avsc';
import protobuf from 'protobufjs';
import { lastValueFrom, from, toArray } from 'rxjs';
import { PipelineStats, RecordError, consume } from '../src/index.js';
import { fromKafka, schemaRegistry, SchemaRegistryClient, toKafka, decodeMessageIndexes, encodeMessageIndexes, readWireHeader, wireHeader, type KafkaRecord } from '../connectors/kafka/index.js';
import { startCluster, type MockCluster } from './harness/kafka/cluster.js';
import { fastGroup, uniqueName } from './harness/kafka/helpers.js';

/**
 * A local server speaking the parts of the Confluent Schema Registry REST API clients use:
 * GET /schemas/ids/{id}, POST /subjects/{subject}/versions (same schema → same id),
 * GET /subjects/{subject}/versions/latest, GET /subjects. It counts requests per path.
 */
interface Registry {
  url: string;
  server: Server;
  requests: Map<string, number>;
  add(schema: string, schemaType?: string, subject?: string): number;
  failIds: Set<number>;
}

async function startRegistry(): Promise<Registry> {
  const schemas: { schema: string; schemaType?: string }[] = [];
  const subjects = new Map<string, number[]>();
  const requests = new Map<string, number>();
  const failIds = new Set<number>();
  const add = (schema: string, schemaType?: string, subject?: string): number => {
    let id = schemas.findIndex((s) => s.schema === schema && s.schemaType === schemaType) + 1;
    if (id === 0) {
      schemas.push({ schema, schemaType });
      id = schemas.length;
    }
    if (subject) {
      const versions = subjects.get(subject) ?? [];
      if (!versions.includes(id)) versions.push(id);
      subjects.set(subject, versions);
    }
    return id;
  };
  const body = async (req: IncomingMessage): Promise<string> => {
    const parts: Buffer[] = [];
    for await (const part of req) parts.push(part as Buffer);
    return Buffer.concat(parts).toString('utf8');
  };
  const server = createServer((req, res) => {
    const path = req.url ?? '';
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const reply = (status: number, value: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/vnd.schemaregistry.v1+json' });
      res.end(JSON.stringify(value));
    };
    void (async () => {
      let m: RegExpMatchArray | null;
      if (req.method === 'GET' && (m = path.match(/^\/schemas\/ids\/(\d+)$/))) {
        const id = Number(m[1]);
        const s = schemas[id - 1];
        if (!s || failIds.has(id)) return reply(404, { error_code: 40403, message: 'Schema not found' });
        return reply(200, s.schemaType ? { schema: s.schema, schemaType: s.schemaType } : { schema: s.schema });
      }
      if (req.method === 'POST' && (m = path.match(/^\/subjects\/([^/]+)\/versions$/))) {
        const { schema, schemaType } = JSON.parse(await body(req)) as { schema: string; schemaType?: string };
        return reply(200, { id: add(schema, schemaType, decodeURIComponent(m[1])) });
      }
      if (req.method === 'GET' && (m = path.match(/^\/subjects\/([^/]+)\/versions\/latest$/))) {
        const subject = decodeURIComponent(m[1]);
        const versions = subjects.get(subject);
        if (!versions) return reply(404, { error_code: 40401, message: 'Subject not found' });
        const id = versions[versions.length - 1];
        return reply(200, { subject, version: versions.length, id, ...schemas[id - 1] });
      }
      if (req.method === 'GET' && path === '/subjects') return reply(200, [...subjects.keys()]);
      reply(404, { error_code: 404, message: 'not found' });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, requests, add, failIds };
}

const readingV1 = {
  type: 'record',
  name: 'Reading',
  namespace: 'rxdata.test',
  fields: [
    { name: 'sensor', type: 'string' },
    { name: 'value', type: 'float' },
  ],
} as const;
// v2 (reader): value promoted to double, a field added with a default.
const readingV2 = {
  type: 'record',
  name: 'Reading',
  namespace: 'rxdata.test',
  fields: [
    { name: 'sensor', type: 'string' },
    { name: 'value', type: 'double' },
    { name: 'unit', type: 'string', default: 'C' },
  ],
} as const;
const proto = `syntax = "proto3";
package rxdata.test;
message Other { int32 n = 1; }
message Reading {
  string sensor = 1;
  double value = 2;
  message Inner { int64 big = 1; }
  Inner inner = 3;
}`;
const jsonSchemaText = JSON.stringify({
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  properties: { sensor: { type: 'string' }, value: { type: 'number' } },
  required: ['sensor', 'value'],
});

let cluster: MockCluster;
let registry: Registry;
test.before(async () => {
  [cluster, registry] = await Promise.all([startCluster({ brokers: 1 }), startRegistry()]);
});
test.after.always(async () => {
  await cluster?.stop();
  await new Promise((resolve) => registry?.server.close(resolve));
});

test('wire format: header and Protobuf message indexes round-trip ([0] is one zero byte, others zigzag)', (t) => {
  t.deepEqual([...wireHeader(258)], [0, 0, 0, 1, 2]);
  t.deepEqual(readWireHeader(Buffer.from([0, 0, 0, 1, 2, 9])), { id: 258, payload: Buffer.from([9]) });
  t.throws(() => readWireHeader(Buffer.from([1, 0, 0, 0, 1])), { message: /magic byte 1/ });
  t.throws(() => readWireHeader(Buffer.from([0, 0])), { message: /5/ });
  t.deepEqual([...encodeMessageIndexes([0])], [0]);
  // Confluent: count 2 → zigzag 4, then 1 → 2 and 0 → 0.
  t.deepEqual([...encodeMessageIndexes([1, 0])], [4, 2, 0]);
  t.deepEqual(decodeMessageIndexes(Buffer.from([4, 2, 0, 7])), { path: [1, 0], rest: Buffer.from([7]) });
  t.deepEqual(decodeMessageIndexes(Buffer.from([0, 7])), { path: [0], rest: Buffer.from([7]) });
});

test('decodes Avro, Protobuf (nested message by index) and JSON Schema values written by independent encoders; schemas fetched once', async (t) => {
  const client = new SchemaRegistryClient({ url: registry.url });
  const decode = schemaRegistry<unknown>({ url: registry.url, client });
  const avroId = registry.add(JSON.stringify(readingV1));
  const protoId = registry.add(proto, 'PROTOBUF');
  const jsonId = registry.add(jsonSchemaText, 'JSON');
  const meta = { topic: 't', partition: 0, offset: '0', key: null };
  const avroValue = Buffer.concat([wireHeader(avroId), avro.Type.forSchema(readingV1 as unknown as avro.Schema).toBuffer({ sensor: 'a', value: 1.5 })]);
  const root = protobuf.parse(proto, { keepCase: true }).root;
  const Inner = root.lookupType('rxdata.test.Reading.Inner');
  // Reading.Inner is message 1 (Reading), nested 0 (Inner): indexes [1, 0].
  const protoValue = Buffer.concat([wireHeader(protoId), Buffer.from([4, 2, 0]), Inner.encode(Inner.create({ big: 2 ** 40 })).finish()]);
  const jsonValue = Buffer.concat([wireHeader(jsonId), Buffer.from(JSON.stringify({ sensor: 'j', value: 3 }))]);
  t.deepEqual({ ...((await decode(avroValue, meta)) as object) }, { sensor: 'a', value: 1.5 });
  t.deepEqual(await decode(protoValue, meta), { big: 2 ** 40 });
  t.deepEqual(await decode(jsonValue, meta), { sensor: 'j', value: 3 });
  // Cached now: synchronous, no more requests.
  const before = client.requests;
  const again = decode(avroValue, meta);
  t.false(again instanceof Promise);
  t.is(client.requests, before);
  t.is(registry.requests.get(`/schemas/ids/${avroId}`), 1);
  // JSON Schema validation is on by default.
  await t.throwsAsync(async () => decode(Buffer.concat([wireHeader(jsonId), Buffer.from('{"sensor":1}')]), meta), { message: /does not match JSON schema/ });
});

test('toKafka encodes with a subject (registered once) and fromKafka decodes with a reader schema: Avro schema evolution end to end', async (t) => {
  const topic = uniqueName('registry-avro');
  await cluster.createTopic(topic, 2, 1);
  const subject = `${topic}-value`;
  const readings = Array.from({ length: 50 }, (_, i) => ({ sensor: `s${i % 3}`, value: i / 2 }));
  const results = await lastValueFrom(
    from(readings).pipe(
      toKafka({
        brokers: cluster.bootstrap,
        topic,
        batchSize: 20,
        encode: schemaRegistry<(typeof readings)[number]>({ url: registry.url, subject, schema: { type: 'AVRO', schema: readingV1 }, key: (r) => r.sensor }),
      }),
      toArray(),
    ),
  );
  t.is(results.reduce((n, r) => n + r.count, 0), 50);
  t.is(registry.requests.get(`/subjects/${subject}/versions`), 1);
  const records = await lastValueFrom(
    fromKafka<{ sensor: string; value: number; unit: string }>({
      ...fastGroup,
      brokers: cluster.bootstrap,
      topics: topic,
      mode: 'bounded',
      decode: schemaRegistry({ url: registry.url, readerSchema: readingV2 as unknown as avro.Schema }),
    }).pipe(toArray()),
  );
  const got = records.map((r: KafkaRecord<{ sensor: string; value: number; unit: string }>) => ({ ...r.value })).sort((a, b) => a.value - b.value);
  t.deepEqual(got, readings.map((r) => ({ ...r, unit: 'C' })));
  t.is(records[0].key?.toString(), records[0].value.sensor);
});

test('Protobuf and JSON Schema through toKafka → fromKafka', async (t) => {
  for (const [type, schema] of [
    ['PROTOBUF', proto],
    ['JSON', jsonSchemaText],
  ] as const) {
    const topic = uniqueName(`registry-${type.toLowerCase()}`);
    await cluster.createTopic(topic, 1, 1);
    const values = Array.from({ length: 10 }, (_, i) => ({ sensor: `s${i}`, value: i + 0.25 }));
    await lastValueFrom(
      from(values).pipe(
        toKafka({ brokers: cluster.bootstrap, topic, encode: schemaRegistry<(typeof values)[number]>({ url: registry.url, subject: `${topic}-value`, schema: { type, schema }, messageName: 'Reading' }) }),
        toArray(),
      ),
    );
    const raw = await lastValueFrom(fromKafka({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'bounded' }).pipe(toArray()));
    const id = raw[0].value.readInt32BE(1);
    // Confluent's framing: magic 0, the id, then (Protobuf) message indexes: Reading is message 1 → [2, 2].
    t.is(raw[0].value[0], 0);
    if (type === 'PROTOBUF') t.deepEqual([...raw[0].value.subarray(5, 7)], [2, 2]);
    else t.is(raw[0].value.subarray(5).toString(), JSON.stringify(values[0]));
    const fetched = registry.requests.get(`/schemas/ids/${id}`) ?? 0;
    const records = await lastValueFrom(fromKafka({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'bounded', decode: schemaRegistry({ url: registry.url }) }).pipe(toArray()));
    // A fresh decoder fetches the schema once for all ten records.
    t.is(registry.requests.get(`/schemas/ids/${id}`), fetched + 1);
    const expected = type === 'PROTOBUF' ? values.map((v) => ({ ...v, inner: null })) : values;
    t.deepEqual(
      records.map((r) => r.value),
      expected,
      type,
    );
  }
});

test('a record whose schema cannot be fetched, or that does not decode, is a RecordError naming topic, partition and offset; skip counts it', async (t) => {
  const topic = uniqueName('registry-bad');
  await cluster.createTopic(topic, 1, 1);
  const id = registry.add(JSON.stringify(readingV1));
  const good = (i: number): Buffer => Buffer.concat([wireHeader(id), avro.Type.forSchema(readingV1 as unknown as avro.Schema).toBuffer({ sensor: `s${i}`, value: i })]);
  const missing = registry.add(JSON.stringify({ ...readingV1, name: 'Gone' }));
  registry.failIds.add(missing);
  const values = [good(0), good(1), Buffer.concat([wireHeader(missing), good(2).subarray(5)]), good(3), Buffer.from('plain text'), Buffer.concat([wireHeader(id), Buffer.from([0xff])]), good(6)];
  await lastValueFrom(from(values.map((value) => ({ value }))).pipe(toKafka({ brokers: cluster.bootstrap, topic }), toArray()));

  const error = await t.throwsAsync(lastValueFrom(fromKafka({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'bounded', decode: schemaRegistry({ url: registry.url }) }).pipe(toArray())));
  t.true(error instanceof RecordError);
  t.regex(error!.message, new RegExp(`topic ${topic} partition 0 offset 2`));
  t.regex(error!.message, new RegExp(`schema ${missing}.*404`));

  const stats = new PipelineStats();
  const kept = await lastValueFrom(
    fromKafka<{ sensor: string }>({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'bounded', onError: 'skip', decode: schemaRegistry({ url: registry.url }) }).pipe(
      consume(async (r) => r.value.sensor, { stats }),
      toArray(),
    ),
  );
  t.deepEqual(kept, ['s0', 's1', 's3', 's6']);
  t.is(stats.get('kafka')?.skipped, 3);
});
