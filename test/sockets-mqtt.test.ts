import test from 'ava';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import net from 'node:net';
import { lastValueFrom, take, takeWhile, toArray } from 'rxjs';
import { consume, PipelineStats, RecordError } from '../src/index.js';
import { fromMqtt, type TopicRecord } from '../connectors/sockets/index.js';
import { sleep } from './helpers.js';

/** The broker's persistence (aedes' in-memory one unless given), opaque here. */
type Persistence = unknown;

/** A real MQTT broker (aedes) on a loopback `net` server; `persistence` may outlive it. */
async function broker(port = 0, persistence?: Persistence) {
  const aedes = await Aedes.createBroker(persistence === undefined ? {} : { persistence });
  const server = net.createServer(aedes.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const bound = (server.address() as net.AddressInfo).port;
  return {
    aedes,
    // aedes creates its default in-memory persistence in listen(); the typings do not show the field.
    persistence: (aedes as unknown as { persistence: Persistence }).persistence,
    port: bound,
    url: `mqtt://127.0.0.1:${bound}`,
    /** Stops the broker and its server (the persistence object survives). */
    close: () =>
      new Promise<void>((resolve) => {
        aedes.close(() => server.close(() => resolve()));
      }),
  };
}

/** Resolves when the broker has a subscription from `clientId`. */
const subscribed = (aedes: Aedes, clientId: string): Promise<void> =>
  new Promise((resolve) => aedes.on('subscribe', (_subs, client) => client?.id === clientId && resolve()));

async function publisher(url: string): Promise<MqttClient> {
  const client = mqtt.connect(url, { clientId: `pub-${Math.random().toString(16).slice(2)}`, reconnectPeriod: 20 });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  return client;
}
const publish = (client: MqttClient, topic: string, payload: string, qos: 0 | 1 = 1): Promise<unknown> => client.publishAsync(topic, payload, { qos });

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await sleep(5);
}

test('messages become records carrying their topic', async (t) => {
  const b = await broker();
  const ready = subscribed(b.aedes, 'reader');
  const run = lastValueFrom(fromMqtt<{ v: number }>({ url: b.url, topics: ['sensors/+'], clientId: 'reader' }).pipe(take(3), toArray()));
  await ready;
  const pub = await publisher(b.url);
  await publish(pub, 'sensors/a', '{"v":1}');
  await publish(pub, 'sensors/b', '{"v":2}');
  await publish(pub, 'other/x', '{"v":0}');
  await publish(pub, 'sensors/a', '{"v":3}');
  const out: TopicRecord<{ v: number }>[] = await run;
  t.deepEqual(out.map((r) => [r.topic, r.value.v]), [['sensors/a', 1], ['sensors/b', 2], ['sensors/a', 3]]);
  await pub.endAsync();
  await b.close();
});

test('a malformed payload names its topic; skip counts it and acknowledges it', async (t) => {
  const b = await broker();
  const pub = await publisher(b.url);
  const failing = subscribed(b.aedes, 'strict');
  const run = lastValueFrom(fromMqtt({ url: b.url, topics: 'sensors/#', clientId: 'strict' }));
  await failing;
  await publish(pub, 'sensors/bad', 'not json');
  const e = await t.throwsAsync(run);
  t.true(e instanceof RecordError);
  t.regex(e!.message, /malformed record: .*\(at mqtt topic sensors\/bad\)/);

  const stats = new PipelineStats();
  const lenient = subscribed(b.aedes, 'lenient');
  const out = lastValueFrom(fromMqtt({ url: b.url, topics: 'sensors/#', clientId: 'lenient', onError: 'skip' }).pipe(take(1), consume((r) => r.value, { stats }), toArray()));
  await lenient;
  await publish(pub, 'sensors/bad', 'not json');
  await publish(pub, 'sensors/good', '7');
  t.deepEqual(await out, [7]);
  t.is(stats.get('fromMqtt')?.skipped, 1);
  await pub.endAsync();
  await b.close();
});

test('QoS 1 backpressure: the acknowledgement is held while the pipeline is full, nothing is lost', async (t) => {
  const b = await broker();
  const stats = new PipelineStats();
  let release!: () => void;
  const blocked = new Promise<void>((resolve) => (release = resolve));
  const ready = subscribed(b.aedes, 'slow');
  const run = lastValueFrom(
    fromMqtt<number>({ url: b.url, topics: 'sensors/#', clientId: 'slow', highWaterMark: 4 }).pipe(
      take(50),
      consume(async (r) => {
        if (r.value === 0) await blocked;
        return r.value;
      }, { stats }),
      toArray(),
    ),
  );
  await ready;
  const pub = await publisher(b.url);
  // The broker has all 50 (the publisher's PUBACKs come from the broker, not the subscriber).
  await Promise.all(Array.from({ length: 50 }, (_, i) => publish(pub, 'sensors/s1', String(i))));
  await until(() => stats.get('fromMqtt')?.extra.ackHeld === 1);
  await sleep(100);
  const held = stats.get('fromMqtt')!;
  t.is(held.extra.ackHeld, 1);
  t.is(held.in, 5, 'one in the sink, four buffered, then mqtt.js reads nothing more');
  t.true(held.maxBuffered <= 4);
  release();
  t.deepEqual(await run, Array.from({ length: 50 }, (_, i) => i));
  await pub.endAsync();
  await b.close();
});

test('QoS 1 with a persistent session loses nothing across a broker restart', async (t) => {
  // Restarted: the aedes instance and its net server (every connection drops). Kept: aedes'
  // in-memory persistence object, handed to the new broker, which is what a broker with a disk
  // or Redis persistence keeps across a restart (sessions, subscriptions, queued QoS 1 messages).
  const first = await broker();
  const { port, persistence } = first;
  let second: Awaited<ReturnType<typeof broker>> | undefined;
  const stats = new PipelineStats();
  const seen = new Set<number>();
  let duplicates = 0;
  const pub = await publisher(first.url);
  const ready = subscribed(first.aedes, 'trainer');
  const run = lastValueFrom(
    fromMqtt<number>({ url: first.url, topics: 'sensors/#', clientId: 'trainer', clean: false, highWaterMark: 4, reconnect: { delayMs: 20 } }).pipe(
      consume(async (r) => {
        if (seen.has(r.value)) duplicates++;
        seen.add(r.value);
        if (seen.size === 10 && !second) {
          // The pipeline is blocked here with acknowledgements outstanding when the broker goes down.
          await first.close();
          second = await broker(port, persistence);
          for (let i = 60; i < 100; i++) void publish(pub, 'sensors/s1', String(i));
        }
        await sleep(1);
        return seen.size;
      }, { stats }),
      takeWhile((size) => size < 100),
      toArray(),
    ),
  );
  await ready;
  await Promise.all(Array.from({ length: 60 }, (_, i) => publish(pub, 'sensors/s1', String(i))));
  t.teardown(async () => {
    await pub.endAsync();
    await second?.close();
  });
  await run;
  t.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i), 'all 100 arrived');
  const reconnects = stats.get('fromMqtt')?.extra.reconnects ?? 0;
  t.true(reconnects >= 1);
  // QoS 1 is at-least-once: aedes redelivers from its persistence what it had not recorded as
  // acknowledged when it went down, so duplicates are expected and only counted.
  t.log(`reconnections: ${reconnects}, duplicates after the restart: ${duplicates}`);
});

test('QoS 0 cannot be paused: a full pipeline drops by policy and counts it', async (t) => {
  const b = await broker();
  const stats = new PipelineStats();
  let release!: () => void;
  const blocked = new Promise<void>((resolve) => (release = resolve));
  const ready = subscribed(b.aedes, 'lossy');
  const run = lastValueFrom(
    fromMqtt<number>({ url: b.url, topics: 'sensors/#', clientId: 'lossy', qos: 0, highWaterMark: 4, overflow: 'drop-oldest' }).pipe(
      take(5),
      consume(async (r) => {
        if (r.value === 0) await blocked;
        return r.value;
      }, { stats }),
      toArray(),
    ),
  );
  await ready;
  const pub = await publisher(b.url);
  for (let i = 0; i < 30; i++) await publish(pub, 'sensors/s1', String(i), 0);
  await until(() => stats.get('fromMqtt')?.in === 30);
  t.is(stats.get('fromMqtt')?.dropped, 25);
  release();
  t.deepEqual(await run, [0, 26, 27, 28, 29]);
  await pub.endAsync();
  await b.close();
});

test.serial('unsubscribing disconnects from the broker and leaves no timer behind', async (t) => {
  const b = await broker();
  await sleep(10);
  const before = process.getActiveResourcesInfo().sort();
  const ready = subscribed(b.aedes, 'brief');
  const gone = new Promise<void>((resolve) => b.aedes.on('clientDisconnect', (c) => c.id === 'brief' && resolve()));
  const sub = fromMqtt({ url: b.url, topics: 't', clientId: 'brief' }).subscribe();
  await ready;
  sub.unsubscribe();
  await gone;
  await sleep(20);
  t.deepEqual(process.getActiveResourcesInfo().sort(), before);
  await b.close();
});
