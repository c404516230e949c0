import test from 'ava';
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { lastValueFrom, take, toArray, type Observable } from 'rxjs';
import { consume, LimitError, PipelineStats, RecordError } from '../src/index.js';
import { fromUdp, type FromUdpOptions, type PeerRecord } from '../connectors/sockets/index.js';
import { sleep } from './helpers.js';

/** A sensor: a real UDP socket that sends to the source. */
async function sensor(): Promise<{ send(payload: string, port: number): Promise<void>; port: number; close(): void }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    port: socket.address().port,
    send: (payload, port) => new Promise<void>((resolve, reject) => socket.send(payload, port, '127.0.0.1', (e) => (e ? reject(e) : resolve()))),
    close: () => socket.close(),
  };
}

/** The source with its bound address, once bound. */
function bound<T>(options: FromUdpOptions<T>): { source: Observable<PeerRecord<T>>; address: Promise<AddressInfo> } {
  let ready!: (a: AddressInfo) => void;
  const address = new Promise<AddressInfo>((resolve) => (ready = resolve));
  return { source: fromUdp<T>({ ...options, onListening: ready }), address };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await sleep(5);
}

test('datagrams become records tagged with the sender', async (t) => {
  const { source, address } = bound<{ v: number }>({});
  const run = lastValueFrom(source.pipe(take(3), toArray()));
  const { port } = await address;
  const s = await sensor();
  for (const v of [1, 2, 3]) await s.send(JSON.stringify({ v }), port);
  const out = await run;
  t.deepEqual(out.map((r) => r.value.v), [1, 2, 3]);
  t.true(out.every((r) => r.peer === `127.0.0.1:${s.port}`));
  s.close();
});

test('a malformed datagram names its sender; skip counts it', async (t) => {
  const s = await sensor();
  const failing = bound({});
  const run = lastValueFrom(failing.source);
  await s.send('{oops', (await failing.address).port);
  const e = await t.throwsAsync(run);
  t.true(e instanceof RecordError);
  t.true(e!.message.includes(`at udp 127.0.0.1:${s.port}`), e!.message);

  const stats = new PipelineStats();
  const skipping = bound({ onError: 'skip' });
  const out = lastValueFrom(skipping.source.pipe(take(1), consume((r) => r.value, { stats }), toArray()));
  const { port } = await skipping.address;
  await s.send('nope', port);
  await s.send('42', port);
  t.deepEqual(await out, [42]);
  t.is(stats.get('fromUdp')?.skipped, 1);
  s.close();
});

for (const overflow of ['drop-oldest', 'drop-newest'] as const) {
  test(`overflow '${overflow}': a blocked pipeline keeps ${4} datagrams and counts the drops`, async (t) => {
    const stats = new PipelineStats();
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    const { source, address } = bound<number>({ highWaterMark: 4, overflow });
    const run = lastValueFrom(
      source.pipe(
        take(5),
        consume(async (r) => {
          if (r.value === 0) await blocked;
          return r.value;
        }, { stats }),
        toArray(),
      ),
    );
    const { port } = await address;
    const s = await sensor();
    for (let i = 0; i < 50; i++) await s.send(String(i), port);
    await until(() => (stats.get('fromUdp')?.in ?? 0) === 50);
    const src = stats.get('fromUdp')!;
    t.is(src.in, 50);
    t.is(src.dropped, 45, 'one in the sink, four held, the rest dropped');
    t.true(src.maxBuffered <= 4);
    release();
    t.deepEqual(await run, overflow === 'drop-oldest' ? [0, 46, 47, 48, 49] : [0, 1, 2, 3, 4]);
    s.close();
  });
}

test("overflow 'error' fails with a LimitError; 'pause' is refused", async (t) => {
  let release!: () => void;
  const blocked = new Promise<void>((resolve) => (release = resolve));
  const { source, address } = bound<number>({ highWaterMark: 2, overflow: 'error' });
  const run = lastValueFrom(source.pipe(consume(() => blocked)));
  const { port } = await address;
  const s = await sensor();
  for (let i = 0; i < 5; i++) await s.send(String(i), port);
  await t.throwsAsync(run, { instanceOf: LimitError, message: /overflowed/ });
  release();
  s.close();
  t.throws(() => fromUdp({ overflow: 'pause' as 'error' }), { message: /cannot be paused/ });
});

test.serial('unsubscribing closes the socket', async (t) => {
  const before = process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
  const { source, address } = bound({});
  const sub = source.subscribe();
  await address;
  t.is(process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length, before + 1);
  sub.unsubscribe();
  await sleep(10);
  t.is(process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length, before);
});
