import test from 'ava';
import type { AddressInfo } from 'node:net';
import { lastValueFrom, take, toArray } from 'rxjs';
import { WebSocketServer, type WebSocket } from 'ws';
import { consume, LimitError, PipelineStats, RecordError } from '../src/index.js';
import { fromWebSocket } from '../connectors/sockets/index.js';
import { sleep } from './helpers.js';

/** A real `ws` server on loopback whose connections are handed to `onConnection`. */
async function server(onConnection: (ws: WebSocket) => void, port = 0): Promise<{ wss: WebSocketServer; url: string; port: number; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port });
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    onConnection(ws);
  });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  const bound = (wss.address() as AddressInfo).port;
  return {
    wss,
    port: bound,
    url: `ws://127.0.0.1:${bound}/stream`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

const closed = (ws: WebSocket): Promise<void> => new Promise((resolve) => (ws.readyState === ws.CLOSED ? resolve() : ws.once('close', () => resolve())));
const fastRetry = { initialDelayMs: 10, maxDelayMs: 50 };

test('messages become records; unsubscribing closes the connection', async (t) => {
  let peer: WebSocket | undefined;
  const srv = await server((ws) => {
    peer = ws;
    for (let i = 0; i < 3; i++) ws.send(JSON.stringify({ i }));
  });
  const out = await lastValueFrom(fromWebSocket<{ i: number }>(srv.url).pipe(take(3), toArray()));
  t.deepEqual(out, [{ i: 0 }, { i: 1 }, { i: 2 }]);
  await closed(peer!);
  t.pass('the server saw the connection close');
  await srv.close();
});

test('binary messages with a custom decoder', async (t) => {
  const srv = await server((ws) => {
    ws.send(Float32Array.of(1, 2, 3));
    ws.close();
  });
  const out = await lastValueFrom(
    fromWebSocket(srv.url, { reconnect: false, decode: (b) => Array.from(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))) }).pipe(toArray()),
  );
  t.deepEqual(out, [[1, 2, 3]]);
  await srv.close();
});

test('reconnects after the server restarts on the same port', async (t) => {
  const first = await server((ws) => ws.send('1'));
  const { port } = first;
  let second: Awaited<ReturnType<typeof server>> | undefined;
  const stats = new PipelineStats();
  const out = await lastValueFrom(
    fromWebSocket<number>(first.url, { reconnect: fastRetry }).pipe(
      take(2),
      consume(async (x) => {
        if (x === 1) {
          await first.close();
          await sleep(100);
          second = await server((ws) => ws.send('2'), port);
        }
        return x;
      }, { stats }),
      toArray(),
    ),
  );
  t.deepEqual(out, [1, 2]);
  t.is(stats.get('fromWebSocket')?.extra.reconnects, 1);
  await second?.close();
});

test('malformed and oversized messages: RecordError / LimitError naming the URL, or counted', async (t) => {
  const srv = await server((ws) => {
    ws.send('{"ok":1}');
    ws.send('{bad');
    ws.send('{"ok":2}');
  });
  const e = await t.throwsAsync(lastValueFrom(fromWebSocket(srv.url, { reconnect: false }).pipe(toArray())));
  t.true(e instanceof RecordError);
  t.true(e!.message.includes(`at ws ${srv.url}`), e!.message);
  const stats = new PipelineStats();
  t.deepEqual(await lastValueFrom(fromWebSocket(srv.url, { onError: 'skip' }).pipe(take(2), consume((x) => x, { stats }), toArray())), [{ ok: 1 }, { ok: 2 }]);
  t.is(stats.get('fromWebSocket')?.skipped, 1);
  await srv.close();

  const big = await server((ws) => ws.send(JSON.stringify({ pad: 'x'.repeat(10_000) })));
  const tooBig = await t.throwsAsync(lastValueFrom(fromWebSocket(big.url, { maxFrameBytes: 1000 })));
  t.true(tooBig instanceof LimitError);
  t.regex(tooBig!.message, /longer than maxFrameBytes \(1000 bytes\).*at ws ws:\/\/127\.0\.0\.1/);
  await big.close();
});

test('backpressure: a blocked pipeline pauses the socket and the server buffers', async (t) => {
  const message = JSON.stringify({ pad: 'p'.repeat(2000) });
  let sent = 0;
  let peer: WebSocket | undefined;
  let backedUp!: () => void;
  const full = new Promise<void>((resolve) => (backedUp = resolve));
  const srv = await server((ws) => {
    peer = ws;
    const pump = (): void => {
      // Send until the kernel's buffers are full and `ws` starts queueing (capped, to stay bounded).
      for (let i = 0; i < 100; i++, sent++) ws.send(message);
      if (ws.bufferedAmount > 256 * 1024 || sent >= 100_000) backedUp();
      else setImmediate(pump);
    };
    pump();
  });
  let release!: () => void;
  const blocked = new Promise<void>((resolve) => (release = resolve));
  const stats = new PipelineStats();
  let count = 0;
  const run = lastValueFrom(
    fromWebSocket(srv.url, { highWaterMark: 16, reconnect: false }).pipe(
      consume(async () => {
        if (count++ === 0) await blocked;
      }, { stats }),
      toArray(),
    ),
  );
  await full;
  t.true(sent < 100_000, 'the server ran into backpressure before the cap');
  t.true(peer!.bufferedAmount > 256 * 1024, `bytes wait at the server (${peer!.bufferedAmount})`);
  // ws.pause() stops reading the socket; what ws already parsed from the last read still arrives.
  const perRead = Math.ceil((64 * 1024) / message.length) + 1;
  t.true(stats.get('fromWebSocket')!.maxBuffered <= 16 + perRead, `in flight at the source: ${stats.get('fromWebSocket')!.maxBuffered}`);
  t.is(count, 1);
  release();
  peer!.close();
  const out = await run;
  t.is(out.length, sent, 'every message arrived once the pipeline drained');
  await srv.close();
});

/** The active handles and timers once they settle back to `expected` (a loaded machine closes sockets late); a leak never settles. */
async function settled(expected: string[], ms = 2000): Promise<string[]> {
  const until = Date.now() + ms;
  let now = process.getActiveResourcesInfo().sort();
  while (JSON.stringify(now) !== JSON.stringify(expected) && Date.now() < until) {
    await sleep(10);
    now = process.getActiveResourcesInfo().sort();
  }
  return now;
}

test.serial('teardown leaves no socket or timer behind, also between reconnection attempts', async (t) => {
  const srv = await server((ws) => ws.send('1'));
  await sleep(10);
  const before = process.getActiveResourcesInfo().sort();
  const { url } = srv;
  try {
    await lastValueFrom(fromWebSocket(srv.url).pipe(take(1)));
    t.deepEqual(await settled(before), before);
  } finally {
    await srv.close();
  }
  await sleep(20);
  const idle = process.getActiveResourcesInfo().sort();
  const sub = fromWebSocket(url, { reconnect: { initialDelayMs: 50 } }).subscribe();
  await sleep(30);
  sub.unsubscribe();
  t.deepEqual(await settled(idle), idle);
});
