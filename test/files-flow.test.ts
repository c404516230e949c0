import test from 'ava';
import { rmSync, closeSync, mkdtempSync, openSync, readdirSync, readlinkSync, writeFileSync, writeSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { from, interval, lastValueFrom, map, take, toArray, type Observable } from 'rxjs';
import { PipelineStats, consume, fromFiles, frameRecord, writeJsonLines, writeTFRecord } from '../src/index.js';
import { collect, sleep } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rxdata-flow-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
/** Descriptors this process holds on files under the test's temp dir (exact, unlike a total count). */
const openFds = (): number => {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)) n++;
    } catch {
      // Closed between the listing and the readlink.
    }
  }
  return n;
};

/** Waits until the descriptor count is back to `n` (closes are asynchronous); fails after 2 s. */
async function fdsBackTo(n: number): Promise<number> {
  for (let i = 0; i < 200 && openFds() > n; i++) await sleep(10);
  return openFds();
}

/** Polls `condition` every 5 ms until it holds or `ms` pass (a loaded machine only waits longer); whether it held. */
async function until(condition: () => boolean, ms = 10_000): Promise<boolean> {
  for (const end = Date.now() + ms; !condition(); await sleep(5)) if (Date.now() > end) return false;
  return true;
}

/** 50 MB of numbered lines, written in 1 MB pieces. */
function bigFile(): string {
  const path = join(dir, 'big.txt');
  if (existsSync(path)) return path;
  const fd = openSync(path, 'w');
  let i = 0;
  for (let mb = 0; mb < 50; mb++) {
    const lines: string[] = [];
    let size = 0;
    while (size < 1 << 20) {
      const line = `line ${i++} ${'x'.repeat(80)}`;
      lines.push(line);
      size += line.length + 1;
    }
    writeSync(fd, lines.join('\n') + '\n');
  }
  closeSync(fd);
  return path;
}

test.serial('a slow consumer holds the read position: bytes read stay bounded, memory flat', async (t) => {
  const path = bigFile();
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const stats = new PipelineStats();
  let consumed = 0;
  let release!: () => void;
  const stalled = new Promise<void>((resolve) => (release = resolve));
  const readAt: number[] = [];
  const run = lastValueFrom(
    fromFiles(path, { format: 'lines' }).pipe(
      consume(
        async () => {
          consumed++;
          if (consumed % 50 === 0) await sleep(1);
          if (consumed === 300) {
            readAt.push(stats.get('fromFiles')?.extra.bytesRead ?? 0);
            await stalled;
          }
        },
        { stats },
      ),
      take(400),
      toArray(),
    ),
  );
  t.teardown(release);
  // The consumer is stalled at record 300: give the reader every chance to run ahead.
  if (!(await until(() => readAt.length > 0))) return t.fail(`the consumer never reached record 300 (${consumed} consumed)`);
  await sleep(200);
  readAt.push(stats.get('fromFiles')?.extra.bytesRead ?? 0);
  global.gc?.();
  const rssStalled = process.memoryUsage().rss;
  t.log(`bytes read at record 300: ${readAt[0]}, after 200 ms stalled: ${readAt[1]}; rss delta ${((rssStalled - rssBefore) / 2 ** 20).toFixed(1)} MB`);
  release();
  await run;
  t.is(consumed, 400);
  // 300 lines are ~27 KB; the reader holds a 64 KiB read or two plus the stream's read-ahead.
  t.true(readAt[0] <= 512 * 1024, `read ${readAt[0]} bytes for 300 lines`);
  t.is(readAt[1], readAt[0], 'nothing more read while the consumer was stalled');
  t.true(rssStalled - rssBefore < 40 * 1024 * 1024, `rss grew ${((rssStalled - rssBefore) / 2 ** 20).toFixed(1)} MB`);
});

test.serial('the same holds for gzip and TFRecord readers', async (t) => {
  const gz = join(dir, 'big.txt.gz');
  writeFileSync(gz, gzipSync(Buffer.from(Array.from({ length: 400000 }, (_, i) => `line ${i}`).join('\n'))));
  const tfr = join(dir, 'big.tfrecord');
  writeFileSync(tfr, Buffer.concat(Array.from({ length: 20000 }, (_, i) => frameRecord(new Uint8Array(100).fill(i % 256)))));
  for (const [path, format] of [[gz, 'lines'], [tfr, 'tfrecord']] as const) {
    const stats = new PipelineStats();
    await lastValueFrom(fromFiles(path, { format } as { format: 'lines' }).pipe(consume(async (_v, i) => void (i % 50 === 0 && (await sleep(1))), { stats }), take(300), toArray()));
    const read = stats.get('fromFiles')!.extra.bytesRead;
    t.true(read <= 256 * 1024, `${format}: read ${read} bytes for 300 records`);
  }
});

test.serial('interleaving 4 large files: reads stay bounded per open file', async (t) => {
  const big = bigFile();
  const copies = [0, 1, 2, 3].map((i) => {
    const path = join(dir, `copy-${i}.txt`);
    if (!existsSync(path)) writeFileSync(path, Buffer.alloc(8 << 20, `file ${i} line\n`));
    return path;
  });
  const stats = new PipelineStats();
  const lines = await lastValueFrom(
    fromFiles([big, ...copies], { format: 'lines', cycleLength: 4, blockLength: 16 }).pipe(
      consume(async (_v, i) => void (i % 100 === 0 && (await sleep(1))), { stats }),
      take(2000),
      toArray(),
    ),
  );
  t.is(lines.length, 2000);
  const read = stats.get('fromFiles')!.extra.bytesRead;
  // Four open files, each a 64 KiB read plus at most one chunk of read-ahead.
  t.true(read <= 4 * 2 * 64 * 1024, `read ${read} bytes`);
  t.is(stats.get('fromFiles')!.extra.files, 4);
});

test.serial('file handles are closed after complete, error and unsubscribe, for every format', async (t) => {
  // The previous test's readers close asynchronously after its take(): wait for them first.
  const before = await fdsBackTo(0);
  t.is(before, 0);
  const lines = join(dir, 'small.txt');
  writeFileSync(lines, 'a\nb\nc\n');
  const badJson = join(dir, 'bad.jsonl');
  writeFileSync(badJson, '{"a":1}\n{oops\n{"a":2}\n');
  const csv = join(dir, 'small.csv');
  writeFileSync(csv, 'x,y\n' + Array.from({ length: 50000 }, (_, i) => `${i},${i * 2}`).join('\n'));
  const gz = join(dir, 'small.txt.gz');
  writeFileSync(gz, gzipSync(Buffer.from(Array.from({ length: 100000 }, (_, i) => `l${i}`).join('\n'))));
  const big = bigFile();

  const lines2 = join(dir, 'small2.txt');
  writeFileSync(lines2, 'd\n');
  // Named twice: listed once.
  t.deepEqual(await collect(fromFiles([lines2, lines, lines], { format: 'lines' })), ['a', 'b', 'c', 'd']);
  t.is(await fdsBackTo(before), before, 'after complete');
  await t.throwsAsync(collect(fromFiles(badJson, { format: 'jsonl' })));
  t.is(await fdsBackTo(before), before, 'after error');
  const cases: [string, Observable<unknown>][] = [
    ['lines', fromFiles(big, { format: 'lines', cycleLength: 2 })],
    ['gzip', fromFiles(gz, { format: 'lines' })],
    ['csv', fromFiles(csv, { format: 'csv' })],
    ['binary', fromFiles(big, { format: 'binary', recordBytes: 100 })],
    ['tfrecord', fromFiles(join(dir, 'big.tfrecord'), { format: 'tfrecord' })],
  ];
  for (const [name, source] of cases) {
    t.is((await collect(source.pipe(take(5)))).length, 5);
    t.is(await fdsBackTo(before), before, `after unsubscribe (${name})`);
  }
  // Unsubscribing while records are still flowing, from the outside.
  let flowing = 0;
  const sub = fromFiles(big, { format: 'lines' }).pipe(consume(() => (flowing++, sleep(1)))).subscribe();
  t.teardown(() => sub.unsubscribe());
  t.true(await until(() => flowing > 0), 'records flow before the unsubscribe');
  sub.unsubscribe();
  t.is(await fdsBackTo(before), before, 'after an external unsubscribe');
});

test.serial('writers close their files and remove partial output on error and unsubscribe', async (t) => {
  const before = await fdsBackTo(0);
  t.is(before, 0);
  const out = join(dir, 'w');
  await t.throwsAsync(
    collect(
      interval(1).pipe(
        take(5),
        map((i) => {
          if (i === 3) throw new Error('boom');
          return { i };
        }),
        writeJsonLines(join(out, 'a.jsonl')),
      ),
    ),
    { message: 'boom' },
  );
  t.is(await fdsBackTo(before), before);
  const files = (): string[] => (existsSync(out) ? readdirSync(out) : []);
  const sub = interval(1).pipe(map((i) => new Uint8Array([i])), writeTFRecord(join(out, 'b.tfrecord'), { shards: 2 })).subscribe();
  t.teardown(() => sub.unsubscribe());
  // Unsubscribed once both shards' partial files exist, so that their removal is what is checked.
  t.true(await until(() => files().filter((f) => f.startsWith('b.tfrecord') && f.endsWith('.partial')).length === 2), `files: ${files().join(', ')}`);
  sub.unsubscribe();
  t.is(await fdsBackTo(before), before);
  // A partial file is removed on its stream's 'close', after the descriptor is gone: wait for it, not a fixed time.
  await until(() => files().length === 0);
  t.deepEqual(files(), [], 'no partial or final files left');
  // A completed write appears under its name.
  await collect(from([{ a: 1 }]).pipe(writeJsonLines(join(out, 'ok.jsonl'))));
  t.deepEqual(readdirSync(out), ['ok.jsonl']);
});
