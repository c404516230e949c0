import test from 'ava';
import net from 'node:net';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { consume, LimitError, PipelineStats, RecordError, RxDataError } from '../src/index.js';
import { fromTcp, lengthPrefixed, listenTcp, type PeerRecord } from '../connectors/sockets/index.js';
import { backoff } from '../connectors/sockets/common.js';
import { sleep } from './helpers.js';

/** A gateway: a real TCP server whose connections are handed to `onSocket`. */
async function gateway(onSocket: (socket: net.Socket) => void, port = 0): Promise<{ server: net.Server; port: number; sockets: Set<net.Socket>; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onSocket(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const closed = (socket: net.Socket): Promise<void> => new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
/** Handles and timers by type, to show teardown leaves none behind. */
const resources = (): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
};
const fastRetry = { initialDelayMs: 10, maxDelayMs: 50 };

test('lines of JSON from a gateway; unsubscribing closes the connection', async (t) => {
  let serverSide: net.Socket | undefined;
  const gw = await gateway((socket) => {
    serverSide = socket;
    socket.write('{"t":1,"v":0.5}\n{"t":2,');
    setImmediate(() => socket.write('"v":0.7}\r\n\n{"t":3,"v":0.9}\n'));
  });
  const out = await lastValueFrom(fromTcp<{ t: number; v: number }>({ port: gw.port }).pipe(take(3), toArray()));
  t.deepEqual(out, [{ t: 1, v: 0.5 }, { t: 2, v: 0.7 }, { t: 3, v: 0.9 }]);
  await closed(serverSide!); // the server sees the connection close
  t.true(serverSide!.destroyed);
  await gw.close();
});

test('length-prefixed binary frames with a custom decoder', async (t) => {
  const gw = await gateway((socket) => {
    const frames = Buffer.concat([lengthPrefixed(new Uint8Array([1, 2, 3])), lengthPrefixed(''), lengthPrefixed(new Uint8Array(Float32Array.of(1.5, -2).buffer))]);
    // Split mid-header and mid-body to exercise reassembly.
    socket.write(frames.subarray(0, 2));
    setImmediate(() => socket.end(frames.subarray(2)));
  });
  const out = await lastValueFrom(
    fromTcp({ port: gw.port, framing: 'length-prefixed', reconnect: false, decode: (frame) => Array.from(frame) }).pipe(toArray()),
  );
  t.deepEqual(out, [[1, 2, 3], [], Array.from(Buffer.from(Float32Array.of(1.5, -2).buffer))]);
  await gw.close();
});

test('malformed JSON fails with a RecordError naming the peer; skip counts and goes on', async (t) => {
  const gw = await gateway((socket) => socket.end('{"ok":1}\n{not json\n{"ok":2}\n'));
  const e = await t.throwsAsync(lastValueFrom(fromTcp({ port: gw.port, reconnect: false }).pipe(toArray())));
  t.true(e instanceof RecordError);
  t.regex(e!.message, new RegExp(`malformed record: .*\\(at tcp 127\\.0\\.0\\.1:${gw.port}\\)`));
  const stats = new PipelineStats();
  const out = await lastValueFrom(fromTcp({ port: gw.port, reconnect: false, onError: 'skip' }).pipe(consume((x) => x, { stats }), toArray()));
  t.deepEqual(out, [{ ok: 1 }, { ok: 2 }]);
  t.is(stats.get('fromTcp')?.skipped, 1);
  await gw.close();
});

test('an oversized line is discarded without buffering it whole', async (t) => {
  const gw = await gateway((socket) => {
    socket.write('{"a":1}\n');
    // 1 MB with no newline, in pieces, then the end of that line and a good one.
    for (let i = 0; i < 16; i++) socket.write('x'.repeat(65536));
    socket.end('yyy\n{"a":2}\n');
  });
  const stats = new PipelineStats();
  const out = await lastValueFrom(
    fromTcp({ port: gw.port, reconnect: false, onError: 'skip', maxFrameBytes: 1024 }).pipe(consume((x) => x, { stats }), toArray()),
  );
  t.deepEqual(out, [{ a: 1 }, { a: 2 }]);
  t.is(stats.get('fromTcp')?.skipped, 1);
  const e = await t.throwsAsync(lastValueFrom(fromTcp({ port: gw.port, reconnect: false, maxFrameBytes: 1024 })));
  t.true(e instanceof LimitError);
  t.regex(e!.message, /maxFrameBytes \(1024 bytes\).*at tcp 127\.0\.0\.1/);
  await gw.close();
});

test('an oversized length-prefixed frame drops the connection; with skip the source reconnects', async (t) => {
  let connections = 0;
  const serverSides: net.Socket[] = [];
  const gw = await gateway((socket) => {
    connections++;
    serverSides.push(socket);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xfffffff0, 0); // claims ~4 GiB: must not be allocated
    if (connections === 1) socket.write(Buffer.concat([lengthPrefixed('ok'), header, Buffer.alloc(100)]));
    else socket.write(lengthPrefixed('again'));
  });
  const e = await t.throwsAsync(lastValueFrom(fromTcp({ port: gw.port, framing: 'length-prefixed', reconnect: false, decode: String }).pipe(toArray())));
  t.true(e instanceof LimitError);
  t.regex(e!.message, /frame of 4294967280 bytes exceeds maxFrameBytes/);
  await closed(serverSides[0]);

  connections = 0;
  const stats = new PipelineStats();
  const out = await lastValueFrom(
    fromTcp({ port: gw.port, framing: 'length-prefixed', reconnect: fastRetry, onError: 'skip', decode: String }).pipe(take(2), consume((x) => x, { stats }), toArray()),
  );
  t.deepEqual(out, ['ok', 'again']);
  t.is(connections, 2, 'the peer was dropped and the source reconnected');
  t.is(stats.get('fromTcp')?.skipped, 1);
  await gw.close();
});

test('reconnects with backoff after the gateway restarts on the same port', async (t) => {
  const first = await gateway((socket) => socket.write('1\n2\n'));
  const port = first.port;
  const stats = new PipelineStats();
  const seen: number[] = [];
  const done = lastValueFrom(
    fromTcp<number>({ port, reconnect: fastRetry }).pipe(
      take(4),
      consume(async (x) => {
        seen.push(x);
        if (seen.length === 2) {
          // The gateway goes away; a new one comes up on the same port a little later.
          await first.close();
          await sleep(100);
          second = await gateway((socket) => socket.write('3\n4\n'), port);
        }
        return x;
      }, { stats }),
      toArray(),
    ),
  );
  let second: Awaited<ReturnType<typeof gateway>> | undefined;
  t.deepEqual(await done, [1, 2, 3, 4]);
  t.is(stats.get('fromTcp')?.extra.reconnects, 1);
  await second?.close();
});

test('reconnect: false completes on a clean close and fails when nobody listens', async (t) => {
  const gw = await gateway((socket) => socket.end('"a"\n"b"'));
  const cut = new PipelineStats();
  t.deepEqual(await lastValueFrom(fromTcp({ port: gw.port, reconnect: false }).pipe(consume((x) => x, { stats: cut }), toArray())), ['a'], 'a line cut off by the close is not a record');
  t.is(cut.get('fromTcp')?.skipped, 1);
  t.is(cut.get('fromTcp')?.extra.truncated, 1);
  const { port } = gw;
  await gw.close();
  const e = await t.throwsAsync(lastValueFrom(fromTcp({ port, reconnect: false })));
  t.true(e instanceof RxDataError);
  t.regex(e!.message, /connection failed: .*ECONNREFUSED.*at tcp 127\.0\.0\.1/);
  const gaveUp = await t.throwsAsync(lastValueFrom(fromTcp({ port, reconnect: { initialDelayMs: 1, maxRetries: 2 } })));
  t.regex(gaveUp!.message, /connection failed/);
});

test('backpressure: a blocked pipeline pauses the socket until the sensor cannot write', async (t) => {
  const line = JSON.stringify({ pad: 'p'.repeat(1000) }) + '\n';
  const limit = 50_000; // 50 MB: many times what the kernel buffers on both ends hold
  let sent = 0;
  let pushedBack = 0;
  let stopped = false;
  let serverSide: net.Socket | undefined;
  // The sensor writes as fast as the socket takes it, resuming on every 'drain': it only stops once nothing drains any more.
  const server = await gateway((socket) => {
    serverSide = socket;
    const pump = (): void => {
      while (!stopped && sent < limit) {
        sent++;
        if (!socket.write(line)) {
          pushedBack++;
          socket.once('drain', pump);
          return;
        }
      }
      if (sent === limit) socket.end();
    };
    pump();
  });
  t.teardown(() => server.close());
  let release!: () => void;
  const blocked = new Promise<void>((resolve) => (release = resolve));
  const stats = new PipelineStats();
  let count = 0;
  const received: unknown[] = [];
  let ended!: (error?: unknown) => void;
  const done = new Promise<unknown>((resolve) => (ended = resolve));
  const subscription = fromTcp({ port: server.port, reconnect: false, highWaterMark: 16 })
    .pipe(
      consume(async () => {
        if (count++ === 0) await blocked;
      }, { stats }),
    )
    .subscribe({ next: (r) => received.push(r), error: ended, complete: () => ended() });
  t.teardown(() => subscription.unsubscribe());
  // Stuck: nothing more written for 300 ms (polled, so a slow machine only waits longer).
  let quietPolls = 0;
  for (let last = -1, polls = 0; quietPolls < 6 && polls < 200; polls++) {
    await sleep(50);
    quietPolls = sent === last ? quietPolls + 1 : 0;
    last = sent;
  }
  t.true(pushedBack > 0, 'socket.write() returned false: the sensor is pushed back');
  if (sent === limit) return t.fail('the sensor wrote everything: nothing pushed it back');
  t.true(serverSide!.writableLength > 0, `bytes wait at the sender (${serverSide!.writableLength})`);
  const source = stats.get('fromTcp')!;
  t.true(source.maxBuffered <= 16, `in flight at the source: ${source.maxBuffered}`);
  t.is(count, 1);
  stopped = true;
  release();
  serverSide!.end(); // after what is queued
  t.is(await done, undefined, 'completed without an error');
  t.is(received.length, sent, 'every line arrived once the pipeline drained');
  t.true(stats.get('fromTcp')!.maxBuffered <= 16);
});

// Serial: ava runs these before the concurrent tests, so the resource counts are this test's alone.
test.serial('teardown leaves no socket or timer behind, also while waiting to reconnect', async (t) => {
  const gw = await gateway((socket) => socket.write('1\n'));
  const before = resources();
  await firstValueFrom(fromTcp({ port: gw.port }));
  await sleep(20);
  t.deepEqual(resources(), before);
  const { port } = gw;
  await gw.close();
  await sleep(20);
  // Nobody listens: the source is between attempts (a timer) when unsubscribed.
  const idle = resources();
  const sub = fromTcp({ port, reconnect: { initialDelayMs: 50 } }).subscribe();
  await sleep(30);
  sub.unsubscribe();
  await sleep(20);
  t.deepEqual(resources(), idle);
});

test('listenTcp merges many sensors, tags each record with its peer, and names a bad peer', async (t) => {
  let port = 0;
  let resolveListening!: () => void;
  const listening = new Promise<void>((resolve) => (resolveListening = resolve));
  const stats = new PipelineStats();
  const records = lastValueFrom(
    listenTcp<{ n: number }>({ onListening: (a) => ((port = a.port), resolveListening()), onError: 'skip' }).pipe(take(6), consume((r) => r, { stats }), toArray()),
  );
  await listening;
  const clients = await Promise.all(
    [0, 1, 2].map(
      (i) =>
        new Promise<net.Socket>((resolve) => {
          const c = net.connect({ port, host: '127.0.0.1' }, () => resolve(c));
          c.on('error', () => {});
          void i;
        }),
    ),
  );
  clients.forEach((c, i) => c.write(`{"n":${i}}\n${i === 1 ? 'garbage\n' : ''}{"n":${i + 10}}\n`));
  const out: PeerRecord<{ n: number }>[] = await records;
  const byPeer = new Map<string, number[]>();
  for (const r of out) byPeer.set(r.peer, [...(byPeer.get(r.peer) ?? []), r.value.n]);
  t.deepEqual(
    clients.map((c) => byPeer.get(`127.0.0.1:${c.localPort}`)),
    [[0, 10], [1, 11], [2, 12]],
  );
  const source = stats.get('listenTcp')!;
  t.is(source.skipped, 1);
  t.is(source.extra.connections, 3);
  // The server closed every connection on teardown.
  await Promise.all(clients.map(closed));
  const refused = await new Promise<boolean>((resolve) => {
    const c = net.connect({ port, host: '127.0.0.1' });
    c.on('error', () => resolve(true));
    c.on('connect', () => (c.destroy(), resolve(false)));
  });
  t.true(refused, 'the server stopped listening');
});

test('listenTcp: a malformed line fails with the sending peer in the error', async (t) => {
  let port = 0;
  let ready!: () => void;
  const listening = new Promise<void>((resolve) => (ready = resolve));
  const run = lastValueFrom(listenTcp({ onListening: (a) => ((port = a.port), ready()) }).pipe(toArray()));
  await listening;
  const c = net.connect({ port, host: '127.0.0.1' });
  c.on('error', () => {});
  await new Promise((resolve) => c.once('connect', resolve));
  c.write('{"fine":true}\n{"broken":\n');
  const e = await t.throwsAsync(run);
  t.true(e instanceof RecordError);
  t.true(e!.message.includes(`at tcp 127.0.0.1:${c.localPort}`), e!.message);
  await closed(c);
});

test('backoff grows by factor, caps at the maximum, jitters down, and gives up after maxRetries', (t) => {
  const none = backoff({ initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5, maxRetries: 5 }, () => 0);
  t.deepEqual([0, 1, 2, 3, 4].map((a) => none!.delay(a)), [100, 200, 400, 800, 1000]);
  t.is(none!.delay(5), undefined);
  const most = backoff({ initialDelayMs: 100, jitter: 0.5 }, () => 1);
  t.is(most!.delay(0), 50);
  t.is(backoff(false), undefined);
  t.throws(() => backoff({ factor: 0.5 }), { instanceOf: RangeError });
});

test('listenTcp: an oversized length-prefixed frame closes only that peer (skip)', async (t) => {
  let port = 0;
  let ready!: () => void;
  const listening = new Promise<void>((resolve) => (ready = resolve));
  const stats = new PipelineStats();
  const run = lastValueFrom(
    listenTcp({ framing: 'length-prefixed', maxFrameBytes: 64, onError: 'skip', decode: String, onListening: (a) => ((port = a.port), ready()) }).pipe(
      take(3),
      consume((r) => r.value, { stats }),
      toArray(),
    ),
  );
  await listening;
  const connect = (): Promise<net.Socket> =>
    new Promise((resolve) => {
      const c = net.connect({ port, host: '127.0.0.1' }, () => resolve(c));
      c.on('error', () => {});
    });
  const bad = await connect();
  const good = await connect();
  const header = Buffer.alloc(4);
  header.writeUInt32BE(1000, 0);
  bad.write(Buffer.concat([lengthPrefixed('from bad'), header]));
  await closed(bad);
  good.write(Buffer.concat([lengthPrefixed('from good'), lengthPrefixed('still here')]));
  const out = await run;
  t.deepEqual(out, ['from bad', 'from good', 'still here'], 'the frame before the bad header counts; the other peer goes on');
  t.is(stats.get('listenTcp')?.skipped, 1);
  good.destroy();
});

test('listenTcp backpressure: every sensor is pushed back while the pipeline is blocked', async (t) => {
  let port = 0;
  let ready!: () => void;
  const listening = new Promise<void>((resolve) => (ready = resolve));
  let release!: () => void;
  const blocked = new Promise<void>((resolve) => (release = resolve));
  const stats = new PipelineStats();
  let taken = 0;
  const sub = listenTcp({ highWaterMark: 8, onListening: (a) => ((port = a.port), ready()) })
    .pipe(
      consume(async () => {
        if (taken++ === 0) await blocked;
      }, { stats }),
    )
    .subscribe();
  t.teardown(() => sub.unsubscribe());
  await listening;
  const line = JSON.stringify({ pad: 'q'.repeat(1000) }) + '\n';
  const limit = 50_000; // lines per sensor: 50 MB, many times what the kernel buffers hold
  /** A sensor that writes as fast as its socket takes it, resuming on every 'drain' (capped, to stay bounded). */
  const sensor = (): Promise<{ socket: net.Socket; sent: () => number; pushedBack: () => boolean }> =>
    new Promise((resolve) => {
      let sent = 0;
      let pushedBack = false;
      const socket = net.connect({ port, host: '127.0.0.1' }, () => {
        const pump = (): void => {
          while (sent < limit) {
            sent++;
            if (!socket.write(line)) {
              pushedBack = true;
              socket.once('drain', pump);
              return;
            }
          }
        };
        pump();
        resolve({ socket, sent: () => sent, pushedBack: () => pushedBack });
      });
      socket.on('error', () => {});
    });
  const sensors = await Promise.all([sensor(), sensor()]);
  t.teardown(() => sensors.forEach((s) => s.socket.destroy()));
  // Stuck: neither sensor wrote anything for 300 ms (polled, so a slow machine only waits longer).
  const total = (): number => sensors.reduce((sum, s) => sum + s.sent(), 0);
  let quietPolls = 0;
  for (let last = -1, polls = 0; quietPolls < 6 && polls < 200; polls++) {
    await sleep(50);
    quietPolls = total() === last ? quietPolls + 1 : 0;
    last = total();
  }
  t.deepEqual(sensors.map((s) => s.pushedBack()), [true, true]);
  t.true(sensors.every((s) => s.sent() < limit), `the sensors stopped after ${sensors.map((s) => s.sent()).join(' and ')} of ${limit} lines`);
  t.true(sensors.every((s) => s.socket.writableLength > 0), 'bytes still wait at both senders: nothing drained');
  const source = stats.get('listenTcp')!;
  t.true(source.maxBuffered <= 8, `in flight at the source: ${source.maxBuffered}`);
  t.is(taken, 1);
  release();
  sub.unsubscribe();
  await Promise.all(sensors.map((s) => closed(s.socket)));
});
