import test from 'ava';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, map, take, toArray } from 'rxjs';
import { PipelineStats, consume, fromIterable, snapshot, snapshotPath } from '../src/index.js';
import { collect, counter, sleep } from './helpers.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'rxdata-snap-'));

/** A source that counts its subscriptions. */
function source(n: number) {
  const calls = { subscribed: 0 };
  const rows = fromIterable(() => {
    calls.subscribed++;
    return Array.from({ length: n }, (_, i) => ({ i, v: new Float32Array([i, i * 2]) }));
  });
  return { rows, calls };
}

test('the first complete pass is written; later passes (and later runs) replay it without upstream', async (t) => {
  const dir = tmp();
  const { rows, calls } = source(500);
  const first = await collect(rows.pipe(snapshot(dir, { key: 'rows-v1' })));
  t.is(first.length, 500);
  t.true(existsSync(snapshotPath(dir, 'rows-v1')));
  // A fresh operator with the same key (a later run of the program) replays from disk.
  const stats = new PipelineStats();
  const second = await lastValueFrom(rows.pipe(snapshot(dir, { key: 'rows-v1' }), consume((r) => r, { stats }), toArray()));
  t.deepEqual(second, first);
  t.is(calls.subscribed, 1);
  t.is(stats.get('snapshot')?.extra.replayed, 1);
  // Another key is another snapshot.
  await collect(rows.pipe(map((r) => r.i), snapshot(dir, { key: 'rows-v2' })));
  t.is(calls.subscribed, 2);
  t.is(readdirSync(dir).length, 2);
});

test('an aborted pass (unsubscribe or error) commits nothing', async (t) => {
  const dir = tmp();
  const { rows, calls } = source(100);
  t.is((await collect(rows.pipe(snapshot(dir, { key: 'k' }), take(10)))).length, 10);
  t.deepEqual(readdirSync(dir), []);
  await t.throwsAsync(
    collect(
      rows.pipe(
        map((r) => {
          if (r.i === 50) throw new Error('boom');
          return r;
        }),
        snapshot(dir, { key: 'k' }),
      ),
    ),
    { message: 'boom' },
  );
  t.deepEqual(readdirSync(dir), []);
  t.is((await collect(rows.pipe(snapshot(dir, { key: 'k' })))).length, 100);
  t.is(calls.subscribed, 3);
  t.deepEqual(readdirSync(dir), [snapshotPath(dir, 'k').slice(dir.length + 1)]);
});

test('the replay obeys demand', async (t) => {
  const dir = tmp();
  const { state, endless } = counter();
  await collect(fromIterable(endless).pipe(take(20000), snapshot(dir, { key: 'endless-prefix' })));
  t.is(state.pulled, 20000);
  const stats = new PipelineStats();
  let consumed = 0;
  await lastValueFrom(
    fromIterable(endless).pipe(
      take(20000),
      snapshot(dir, { key: 'endless-prefix' }),
      consume(
        async () => {
          consumed++;
          if (consumed % 100 === 0) await sleep(0);
        },
        { stats },
      ),
      take(300),
      toArray(),
    ),
  );
  t.is(state.pulled, 20000, 'upstream not run again');
  t.true((stats.get('snapshot.replay')?.out ?? 0) <= 302);
});

test('a key is required', (t) => {
  t.throws(() => snapshot(tmp(), { key: '' }), { instanceOf: TypeError });
  t.throws(() => snapshot(tmp(), undefined as unknown as { key: string }), { instanceOf: TypeError });
});
