/** Full disks and unwritable paths, for every writer: a WriteError naming the file, never a hang or a silent loss. */
import test from 'ava';
import fs, { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { lastValueFrom, map, range, type Observable } from 'rxjs';
import { WriteError, cache, fromIterable, snapshot, snapshotPath, writeJsonLines, writeTFRecord } from '../src/index.js';
import { RecordFileWriter } from '../src/recordFile.js';
import { collect } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'rxdata-faults-'));
test.after.always(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => {
  const dir = join(root, `case-${n++}`);
  mkdirSync(dir);
  return dir;
};

/** Fails the test instead of hanging it: the bug these tests guard against is a wait that never ends. */
async function settles<T>(promise: Promise<T>, what: string, ms = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms (hang)`)), ms)));
  try {
    return await Promise.race([promise, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/** 3 MiB of incompressible records: enough to fill every stream buffer between the writer and the file. */
const records = (): Observable<Uint8Array> => range(0, 3000).pipe(map(() => randomBytes(1024)));
const rows = (): Observable<{ s: string }> => range(0, 3000).pipe(map(() => ({ s: randomBytes(768).toString('base64') })));

type Fault = 'parent is a file (ENOTDIR)' | 'output is a directory (EISDIR)' | 'full disk (ENOSPC)';
const FAULTS: Fault[] = ['parent is a file (ENOTDIR)', 'output is a directory (EISDIR)', 'full disk (ENOSPC)'];

/** An output path that fails as `fault` says. The writers write to `path.partial` first. */
function faultyPath(fault: Fault, name: string): string {
  const dir = fresh();
  if (fault === 'parent is a file (ENOTDIR)') {
    writeFileSync(join(dir, 'file'), 'x');
    return join(dir, 'file', name);
  }
  const path = join(dir, name);
  if (fault === 'output is a directory (EISDIR)') mkdirSync(`${path}.partial`);
  // Writes to /dev/full fail with ENOSPC: a full disk, for real.
  else symlinkSync('/dev/full', `${path}.partial`);
  return path;
}

for (const fault of FAULTS) {
  for (const gz of [false, true]) {
    const ext = gz ? '.gz' : '';
    test(`writeTFRecord${gz ? ' (gzip)' : ''}: ${fault} is a WriteError naming the file`, async (t) => {
      const path = faultyPath(fault, `out.tfrecord${ext}`);
      const error = await t.throwsAsync(settles(collect(records().pipe(writeTFRecord(path))), 'writeTFRecord'), { instanceOf: WriteError });
      t.true(error.message.includes(path), error.message);
      t.false(existsSync(path));
    });
    test(`writeJsonLines${gz ? ' (gzip)' : ''}: ${fault} is a WriteError naming the file`, async (t) => {
      const path = faultyPath(fault, `out.jsonl${ext}`);
      const error = await t.throwsAsync(settles(collect(rows().pipe(writeJsonLines(path))), 'writeJsonLines'), { instanceOf: WriteError });
      t.true(error.message.includes(path), error.message);
      t.false(existsSync(path));
    });
  }
}

test('writeTFRecord with shards: one failing shard fails the pass, names its file, and leaves no output', async (t) => {
  const dir = fresh();
  const path = join(dir, 'out.tfrecord');
  symlinkSync('/dev/full', `${path}-00001-of-00002.partial`);
  const error = await t.throwsAsync(settles(collect(records().pipe(writeTFRecord(path, { shards: 2 }))), 'sharded'), { instanceOf: WriteError });
  t.true(error.message.includes(`${path}-00001-of-00002`), error.message);
  t.deepEqual(readdirSync(dir).filter((f) => !f.endsWith('.partial')), []);
});

/**
 * Runs `body` while every file opened (openSync) under `dir` is /dev/full instead: the kernel's
 * real ENOSPC, for writers whose file names are random (cache spill, snapshot). Tests using it
 * are serial: the patch is process-wide.
 */
async function withFullDisk<T>(dir: string, body: () => Promise<T>): Promise<T> {
  const realOpen = fs.openSync;
  fs.openSync = ((path: fs.PathLike, flags: fs.OpenMode = 'r', mode?: fs.Mode | null) => realOpen(String(path).startsWith(`${dir}/`) ? '/dev/full' : path, flags, mode)) as typeof fs.openSync;
  syncBuiltinESMExports();
  try {
    return await body();
  } finally {
    fs.openSync = realOpen;
    syncBuiltinESMExports();
  }
}

test('RecordFileWriter: ENOSPC (/dev/full) and an unopenable path are WriteErrors naming the file; nothing is dropped silently', (t) => {
  const writer = new RecordFileWriter('/dev/full');
  writer.write({ a: 1 });
  const error = t.throws(() => writer.close(), { instanceOf: WriteError });
  t.regex(error.message, /ENOSPC.*\/dev\/full/);
  t.throws(() => writer.write({ a: 2 }), { instanceOf: WriteError }, 'a later write rethrows');
  const dir = fresh();
  writeFileSync(join(dir, 'file'), 'x');
  t.throws(() => new RecordFileWriter(join(dir, 'file', 'x.bin')), { instanceOf: WriteError, message: /ENOTDIR.*file\/x\.bin/ });
});

const elements = (count: number, size: number) => fromIterable(() => Array.from({ length: count }, (_, i) => ({ i, v: new Float32Array(size).fill(i) })));

test.serial('cache spill on a full disk: a WriteError naming the spill file, and the next pass starts over', async (t) => {
  const dir = fresh();
  const op = cache<{ i: number; v: Float32Array }>({ maxBytes: 10_000, dir });
  const source = elements(2000, 256);
  const error = await withFullDisk(dir, () => t.throwsAsync(settles(collect(source.pipe(op)), 'cache'), { instanceOf: WriteError }));
  t.regex(error.message, new RegExp(`ENOSPC.*${dir}/rxdata-cache-[^ ]+\\.bin`));
  t.false(op.filled);
  t.deepEqual(readdirSync(dir), [], 'the spill file is removed');
  // The disk has room again: the next pass records and replays.
  t.is((await collect(source.pipe(op))).length, 2000);
  t.true(op.filled);
  t.is((await collect(source.pipe(op))).length, 2000);
});

test('cache spill into an unusable directory: a WriteError naming it', async (t) => {
  const dir = fresh();
  writeFileSync(join(dir, 'file'), 'x');
  const op = cache({ maxBytes: 10_000, dir: join(dir, 'file', 'spill') });
  const error = await t.throwsAsync(collect(elements(500, 64).pipe(op)), { instanceOf: WriteError });
  t.true(error.message.includes(join(dir, 'file', 'spill')), error.message);
});

for (const [size, when] of [
  [4, 'at the last flush'],
  [4096, 'while recording'],
] as const) {
  test.serial(`snapshot on a full disk (${when}): a WriteError naming the file, nothing committed, the next pass records`, async (t) => {
    const dir = fresh();
    const op = snapshot<{ i: number; v: Float32Array }>(dir, { key: `full-${size}` });
    const source = elements(500, size);
    const error = await withFullDisk(dir, () => t.throwsAsync(settles(collect(source.pipe(op)), 'snapshot'), { instanceOf: WriteError }));
    t.true(error.message.includes(snapshotPath(dir, `full-${size}`)), error.message);
    t.regex(error.message, /ENOSPC/);
    t.deepEqual(readdirSync(dir), []);
    t.is((await collect(source.pipe(op))).length, 500);
    t.true(existsSync(snapshotPath(dir, `full-${size}`)), 'recorded once the disk has room');
  });
}

test('snapshot: a failed open does not disable it; a later pass records', async (t) => {
  const base = fresh();
  writeFileSync(join(base, 'blocker'), 'x');
  const dir = join(base, 'blocker', 'snap');
  const calls = { n: 0 };
  const source = fromIterable(() => {
    calls.n++;
    return [1, 2, 3];
  });
  const op = snapshot<number>(dir, { key: 'k' });
  const error = await t.throwsAsync(lastValueFrom(source.pipe(op)), { instanceOf: WriteError });
  t.true(error.message.includes(dir), error.message);
  // The directory becomes usable: the same operator records on its next pass, then replays.
  rmSync(join(base, 'blocker'));
  t.deepEqual(await collect(source.pipe(op)), [1, 2, 3]);
  t.true(existsSync(snapshotPath(dir, 'k')));
  t.deepEqual(await collect(source.pipe(op)), [1, 2, 3]);
  t.is(calls.n, 1, 'the third pass replays');
});
