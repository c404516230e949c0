// `recentSkips` through the public statistics: `stats.get(name).recentSkips` holds the newest
// errors a stage skipped, each naming its origin, for files and for sockets.
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { PipelineStats, RecordError, consume, fromFiles } from '../src/index.js';
import { RECENT_SKIPS, StageStats } from '../src/stats.js';
import { listenTcp } from '../connectors/sockets/index.js';
import { sleep } from './helpers.js';

test('files: the skipped rows are in stats.get(...).recentSkips, named file:line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rxdata-skips-'));
  const path = join(dir, 'bad.csv');
  writeFileSync(path, 'x,y\n1,2\n3,oops\n4\n5,6\n');
  const stats = new PipelineStats();
  const rows: unknown[] = [];
  await lastValueFrom(
    fromFiles(path, { format: 'csv', columns: { y: { type: 'float' } }, onError: 'skip' }).pipe(
      consume((r) => void rows.push(r), { stats }),
      toArray(),
    ),
  );
  t.is(rows.length, 2);
  const stage = stats.get('fromFiles')!;
  t.is(stage.skipped, 2);
  t.is(stage.recentSkips.length, 2);
  const origins = stage.recentSkips.map((e) => (e as RecordError).origin);
  t.deepEqual(origins, [`${path}:3`, `${path}:4`]);
  t.true(stage.recentSkips.every((e) => e instanceof RecordError));
  // A snapshot is a copy: later skips do not change it.
  const live = new StageStats('s', 'source');
  const before = live.snapshot();
  live.skip(new Error('later'));
  t.is(before.recentSkips.length, 0);
  t.is(live.snapshot().recentSkips.length, 1);
});

test('only the newest RECENT_SKIPS errors are kept; skipped counts them all', (t) => {
  const stage = new StageStats('s', 'source');
  for (let i = 0; i < RECENT_SKIPS + 5; i++) stage.skip(new RecordError('bad', `f:${i}`));
  const snapshot = stage.snapshot();
  t.is(snapshot.skipped, RECENT_SKIPS + 5);
  t.deepEqual(
    snapshot.recentSkips.map((e) => (e as RecordError).origin),
    Array.from({ length: RECENT_SKIPS }, (_, i) => `f:${i + 5}`),
  );
});

test('sockets: a bad frame skipped by listenTcp is in recentSkips, naming the peer', async (t) => {
  let resolvePort!: (port: number) => void;
  const listening = new Promise<number>((resolve) => (resolvePort = resolve));
  const stats = new PipelineStats();
  const got: unknown[] = [];
  const sub = listenTcp({ onError: 'skip', onListening: (a) => resolvePort(a.port) })
    .pipe(consume((r) => void got.push(r.value), { stats }))
    .subscribe();
  try {
    const port = await listening;
    let peerPort = 0;
    const peer = net.connect(port, '127.0.0.1', () => {
      peerPort = peer.localPort!;
      peer.end('not json\n{"i":2}\n');
    });
    await new Promise((resolve) => peer.once('close', resolve));
    for (let i = 0; i < 200 && got.length < 1; i++) await sleep(10);
    t.deepEqual(got, [{ i: 2 }]);
    const stage = stats.get('listenTcp')!;
    t.is(stage.skipped, 1);
    const [error] = stage.recentSkips as RecordError[];
    t.true(error instanceof RecordError);
    t.is(error.origin, `tcp 127.0.0.1:${peerPort}`);
  } finally {
    sub.unsubscribe();
  }
});
