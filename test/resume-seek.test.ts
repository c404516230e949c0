/**
 * Files resume by seeking (issue 17): a checkpoint of `fromFiles` inside an interleave of several
 * files (+ shuffle + batch) saves, per open file, the byte offset of its next record (or the
 * Parquet row group and row), its record number and the file's size and CRC; a restored run
 * seeks there. Each case checks, at several stops, that the interrupted run followed by the
 * resumed one is exactly the uninterrupted run, and that the prefix of every open file was not
 * read again: after the checkpoint it is overwritten with garbage of the same length (the 64
 * bytes before the offset, which the restore checks, are left alone) — a seek never sees it, a
 * re-read would fail or give other records.
 */
import test, { type ExecutionContext } from 'ava';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { map, type Observable } from 'rxjs';
import { batch, fromFiles, shuffle } from '../src/index.js';
import { frameRecord } from '../connectors/files/tfrecord.js';
import type { PipelineCheckpoint } from '../src/state/index.js';
import { train } from './fixtures/resume/train.js';

type Slot = { input: number; taken: number; label: string; position?: { mode: string; path: string; offset?: number; record?: number; headerEnd?: number; rowGroup?: number; row?: number } } | null;

/** The open slots `interleave` saved in a checkpoint. */
function slotsOf(state: PipelineCheckpoint): Exclude<Slot, null>[] {
  const stage = state.stages.find((s) => s.kind === 'interleave');
  if (!stage) throw new Error('no interleave stage in the checkpoint');
  return ((stage.state as { slots: Slot[] }).slots).filter((s): s is Exclude<Slot, null> => s !== null);
}

/** Overwrites `[from, to)` of `path` with 0xff bytes (same size). */
function garble(path: string, from: number, to: number): void {
  const bytes = readFileSync(path);
  bytes.fill(0xff, from, to);
  writeFileSync(path, bytes);
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'rxdata-seek-'));
}

/** Snapshot of every file of `dir`, to put back after a case garbled them. */
function snapshot(dir: string): () => void {
  const files = readdirSync(dir).map((name) => [join(dir, name), readFileSync(join(dir, name))] as const);
  return () => files.forEach(([path, bytes]) => writeFileSync(path, bytes));
}

/**
 * Uninterrupted, then for each stop: interrupted with a checkpoint, every open file's prefix
 * garbled (when `mode` seeks), resumed. Returns how many slots were checked with a garbled prefix.
 */
async function checkSeek<T>(t: ExecutionContext, dir: string, build: () => Observable<T>, stops: number[], mode: 'seek' | 'rowGroup' | 'skip' = 'seek'): Promise<void> {
  // One epoch: the garbled prefixes would be read by the next one.
  const epochs = 1;
  const { trained: whole } = await train(build, epochs);
  t.true(whole.length > 20);
  const restore = snapshot(dir);
  let garbled = 0;
  for (const stop of stops) {
    const first = await train(build, epochs, { stopAfter: stop });
    t.truthy(first.state, `a checkpoint at ${stop}`);
    const slots = slotsOf(first.state!);
    for (const slot of slots) {
      if (slot.taken === 0) continue;
      t.is(slot.position?.mode, mode, `${slot.label}: saved in mode ${mode}`);
      const p = slot.position!;
      if (mode === 'seek' && p.offset! - 64 > p.headerEnd!) {
        garble(p.path, p.headerEnd!, p.offset! - 64);
        garbled++;
      }
    }
    const rest = await train(build, epochs, { restore: first.state });
    t.deepEqual([...first.trained, ...rest.trained], whole, `resumed after ${stop} of ${whole.length}`);
    restore();
  }
  if (mode === 'seek') t.true(garbled >= stops.length, `prefixes garbled: ${garbled}`);
  // Across an epoch boundary (the files untouched): the restored epoch ends and the next starts fresh.
  const { trained: two } = await train(build, 2);
  const first = await train(build, 2, { stopAfter: stops[stops.length - 1] });
  const rest = await train(build, 2, { restore: first.state });
  t.deepEqual([...first.trained, ...rest.trained], two, 'resumed across two epochs');
}

/** Five files of 150–230 records each, `record(f, i)` giving record i of file f. */
function writeParts(dir: string, ext: string, content: (f: number, n: number) => Buffer | string): void {
  for (let f = 0; f < 5; f++) writeFileSync(join(dir, `part-${f}.${ext}`), content(f, 150 + f * 20));
}

const STOPS = [3, 17, 40, 61];
const pipe = <T>(source: Observable<T>): Observable<unknown> => source.pipe(shuffle(16, { seed: 11 }), batch(5));

test('lines: resumes by seeking to each open file\'s offset (CRLF, a multi-byte character, an empty line)', async (t) => {
  const dir = tempDir();
  writeParts(dir, 'txt', (f, n) => Array.from({ length: n }, (_, i) => (i % 37 === 5 ? '' : `${f},${i},é${'x'.repeat(i % 7)}`)).join(f % 2 ? '\r\n' : '\n') + '\n');
  await checkSeek(t, dir, () => pipe(fromFiles(dir, { format: 'lines', cycleLength: 3, blockLength: 2 })), STOPS);
});

test('JSON lines: seek, and the line numbers of errors after the seek are the file\'s', async (t) => {
  const dir = tempDir();
  writeParts(dir, 'jsonl', (f, n) => Array.from({ length: n }, (_, i) => JSON.stringify({ f, i, s: 'ü'.repeat(i % 3) })).join('\n') + '\n');
  await checkSeek(t, dir, () => pipe(fromFiles(dir, { format: 'jsonl', cycleLength: 3, blockLength: 3 })), STOPS);
  // A bad line after the position: the restored run, which never read the lines before it, names its real line.
  const bad = tempDir();
  // The bad line lies in a later read chunk than the checkpoint (a stopped run runs on within its chunk until it is torn down).
  const pad = 'p'.repeat(60);
  writeFileSync(join(bad, 'a.jsonl'), Array.from({ length: 3000 }, (_, i) => (i === 2500 ? '{"bad": ' : JSON.stringify({ i, pad }))).join('\n') + '\n');
  writeFileSync(join(bad, 'b.jsonl'), Array.from({ length: 3000 }, (_, i) => JSON.stringify({ i, pad })).join('\n') + '\n');
  const build = (): Observable<unknown> => fromFiles(bad, { format: 'jsonl', cycleLength: 2 });
  const whole = await t.throwsAsync(train(build, 1));
  t.regex(whole!.message, /a\.jsonl:2501\b/);
  const first = await train(build, 1, { stopAfter: 150 });
  const slot = slotsOf(first.state!).find((s) => s.label.endsWith('a.jsonl'))!;
  t.is(slot.position?.record, slot.taken + 1, 'the next line to read');
  t.true(slot.taken > 50);
  const resumed = await t.throwsAsync(train(build, 1, { restore: first.state }));
  t.is(resumed!.message, whole!.message);
});

test('TFRecord: frames resume at their offset; a truncated, appended or rewritten file is refused naming it and the sizes', async (t) => {
  const dir = tempDir();
  writeParts(dir, 'tfrecord', (f, n) => Buffer.concat(Array.from({ length: n }, (_, i) => frameRecord(Buffer.from(`${f}:${i}:${'y'.repeat(i % 50)}`)))));
  const build = (): Observable<unknown> => pipe(fromFiles(dir, { format: 'tfrecord', cycleLength: 3, blockLength: 2 }).pipe(map((b: Uint8Array) => Buffer.from(b).toString())));
  await checkSeek(t, dir, build, STOPS);

  const first = await train(build, 1, { stopAfter: 30 });
  const slot = slotsOf(first.state!).find((s) => s.taken > 0)!;
  const path = slot.position!.path;
  const original = readFileSync(path);
  truncateSync(path, slot.position!.offset! - 10);
  const shorter = await t.throwsAsync(train(build, 1, { restore: first.state }));
  t.is(shorter!.name, 'CheckpointError');
  t.true(shorter!.message.includes(path), shorter!.message);
  t.regex(shorter!.message, new RegExp(`saved size ${original.length} bytes.*found ${slot.position!.offset! - 10} bytes`));
  writeFileSync(path, original);
  appendFileSync(path, frameRecord(Buffer.from('more')));
  const longer = await t.throwsAsync(train(build, 1, { restore: first.state }));
  t.regex(longer!.message, /longer: appended files are refused/);
  const rewritten = Buffer.from(original);
  rewritten[slot.position!.offset! - 3] ^= 1;
  writeFileSync(path, rewritten);
  const changed = await t.throwsAsync(train(build, 1, { restore: first.state }));
  t.regex(changed!.message, /bytes before offset \d+ differ/);
  writeFileSync(path, original);
  const fine = await train(build, 1, { restore: first.state });
  t.true(fine.trained.length > 0);
});

test('fixed-length binary records (with a header) seek to a record boundary', async (t) => {
  const dir = tempDir();
  writeParts(dir, 'bin', (f, n) => {
    const out = Buffer.alloc(7 + n * 12, 0x20);
    for (let i = 0; i < n; i++) out.write(`${String(f).padStart(2)}:${String(i).padStart(8)}`, 7 + i * 12);
    return out;
  });
  const build = (): Observable<unknown> =>
    pipe(fromFiles(dir, { format: 'binary', recordBytes: 12, headerBytes: 7, cycleLength: 3, blockLength: 2 }).pipe(map((b: Uint8Array) => Buffer.from(b).toString())));
  await checkSeek(t, dir, build, STOPS);
});

test('gzip cannot seek: the state says mode \'skip\' and the resume reads past the records taken, exactly', async (t) => {
  const dir = tempDir();
  writeParts(dir, 'txt.gz', (f, n) => gzipSync(Array.from({ length: n }, (_, i) => `${f},${i}`).join('\n') + '\n'));
  await checkSeek(t, dir, () => pipe(fromFiles(dir, { format: 'lines', cycleLength: 3, blockLength: 2 })), STOPS, 'skip');
});
