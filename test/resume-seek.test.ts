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
import { appendFileSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { lastValueFrom, map, range, type Observable } from 'rxjs';
import * as arrow from 'apache-arrow';
import avro from 'avsc';
import { parquetMetadata } from 'hyparquet';
import { batch, fromFiles, fromImageFolder, fromIterable, interleave, shuffle, writeParquet, type NDArray } from '../src/index.js';
import { PNG } from 'pngjs';
import { frameRecord } from '../connectors/files/tfrecord.js';
import type { PipelineCheckpoint } from '../src/state/index.js';
import { train } from './fixtures/resume/train.js';
import fc from 'fast-check';
import { splitLines, type Line } from '../connectors/files/lines.js';
import { holds } from './helpers.js';

type Position = { mode: string; path: string; offset?: number; record?: number; headerEnd?: number; group?: number; row?: number };
type Slot = { input: number; taken: number; label: string; position?: Position } | null;

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
async function checkSeek<T>(
  t: ExecutionContext,
  dir: string,
  build: () => Observable<T>,
  stops: number[],
  mode: 'seek' | 'rowGroup' | 'recordBatch' | 'skip' = 'seek',
  /** Garbles what lies before a position that is no byte offset (Parquet row groups); true when it did. */
  garbleBefore?: (p: Position) => boolean,
): Promise<void> {
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
      if (garbleBefore?.(p)) garbled++;
    }
    const rest = await train(build, epochs, { restore: first.state });
    t.deepEqual([...first.trained, ...rest.trained], whole, `resumed after ${stop} of ${whole.length}`);
    restore();
  }
  if (mode === 'seek' || garbleBefore) t.true(garbled >= stops.length, `prefixes garbled: ${garbled}`);
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
  const pad = 'p'.repeat(600);
  writeFileSync(join(bad, 'a.jsonl'), Array.from({ length: 300 }, (_, i) => (i === 250 ? '{"bad": ' : JSON.stringify({ i, pad }))).join('\n') + '\n');
  writeFileSync(join(bad, 'b.jsonl'), Array.from({ length: 300 }, (_, i) => JSON.stringify({ i, pad })).join('\n') + '\n');
  const build = (): Observable<unknown> => fromFiles(bad, { format: 'jsonl', cycleLength: 2 });
  const whole = await t.throwsAsync(train(build, 1));
  t.regex(whole!.message, /a\.jsonl:251\b/);
  const first = await train(build, 1, { stopAfter: 60 });
  const slot = slotsOf(first.state!).find((s) => s.label.endsWith('a.jsonl'))!;
  t.is(slot.position?.record, slot.taken + 1, 'the next line to read');
  t.true(slot.taken > 20);
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

/** A numeric CSV with a header: `id,a,b,label`. */
const numericCsv = (f: number, n: number, eol = '\n'): string =>
  ['id,a,b,label', ...Array.from({ length: n }, (_, i) => `${f * 1000 + i},${(i * 7) % 13},${(i % 5) / 4},${i % 3}`)].join(eol) + eol;
const idsOf = (row: { xs: Float32Array; ys: number | Float32Array }): string => `${row.xs[0]}:${row.ys as number}`;

test('CSV fast path (labelled numeric rows): the header is read from the file\'s start, the rows from the offset', async (t) => {
  const dir = tempDir();
  writeParts(dir, 'csv', (f, n) => numericCsv(f, n, f === 1 ? '\r\n' : '\n'));
  const build = (): Observable<unknown> => pipe(fromFiles(dir, { format: 'csv', labels: ['label'], cycleLength: 3, blockLength: 2 }).pipe(map(idsOf)));
  await checkSeek(t, dir, build, STOPS);
});

test('CSV general path (csv-parse: quoted fields with line breaks): seek, and line numbers stay the file\'s', async (t) => {
  const dir = tempDir();
  writeParts(dir, 'csv', (f, n) => ['name,note,v', ...Array.from({ length: n }, (_, i) => `r${f}-${i},"${i % 4 === 0 ? 'two\nlines' : 'one, line'}",${i}`)].join('\n') + '\n');
  const build = (): Observable<unknown> =>
    pipe(fromFiles(dir, { format: 'csv', cycleLength: 3, blockLength: 2 }).pipe(map((r) => `${String(r.name)}|${String(r.note)}|${String(r.v)}`)));
  await checkSeek(t, dir, build, STOPS);
  // A bad row far after the position names its line in the file, as the uninterrupted run does.
  const bad = tempDir();
  const pad = 'q'.repeat(500);
  const rows = (broken: boolean): string => ['name,note,v', ...Array.from({ length: 400 }, (_, i) => `r${i},"${i % 3 ? pad : 'a\nb'}",${broken && i === 350 ? 'x,y' : i}`)].join('\n') + '\n';
  writeFileSync(join(bad, 'a.csv'), rows(true));
  writeFileSync(join(bad, 'b.csv'), rows(false));
  const build2 = (): Observable<unknown> => fromFiles(bad, { format: 'csv', cycleLength: 2, columns: { v: { type: 'int' } } });
  const whole = await t.throwsAsync(train(build2, 1));
  t.regex(whole!.message, /a\.csv:\d+/);
  const first = await train(build2, 1, { stopAfter: 60 });
  t.is(slotsOf(first.state!)[0].position?.mode, 'seek');
  const resumed = await t.throwsAsync(train(build2, 1, { restore: first.state }));
  t.is(resumed!.message, whole!.message);
});

test('CSV fast path handing over to csv-parse mid-file (a quote appears), and a CSV without a header', async (t) => {
  const dir = tempDir();
  // Quotes only past the fast path's first 256 KiB read: it hands the rest of the file over to csv-parse there.
  for (let f = 0; f < 2; f++) {
    const lines = ['id,a,label'];
    for (let i = 0; i < 26_000; i++) lines.push(i > 22_000 && i % 9 === 0 ? `${f * 100_000 + i},"${i % 10}",${i % 2}` : `${f * 100_000 + i},${i % 10},${i % 2}`);
    writeFileSync(join(dir, `big-${f}.csv`), lines.join('\n') + '\n');
  }
  const build = (): Observable<unknown> =>
    fromFiles(dir, { format: 'csv', labels: ['label'], cycleLength: 2, blockLength: 50 }).pipe(map(idsOf), shuffle(64, { seed: 3 }), batch(100));
  await checkSeek(t, dir, build, [230, 470]);

  const plain = tempDir();
  writeParts(plain, 'csv', (f, n) => Array.from({ length: n }, (_, i) => `${f * 1000 + i},${i % 7},${i % 2}`).join('\n') + '\n');
  const noHeader = (): Observable<unknown> =>
    pipe(fromFiles(plain, { format: 'csv', header: false, columnNames: ['id', 'a', 'label'], labels: ['label'], cycleLength: 3 }).pipe(map(idsOf)));
  await checkSeek(t, plain, noHeader, STOPS);
});

test('Parquet resumes at its row group and row: the groups before are never read (garbled, they would not decode)', async (t) => {
  const dir = tempDir();
  for (let f = 0; f < 4; f++) {
    await lastValueFrom(range(0, 600).pipe(map((i) => ({ id: f * 1000 + i, x: (i * 7) % 13 })), writeParquet(join(dir, `part-${f}.parquet`), { rowGroupSize: 50, types: { id: 'INT32', x: 'INT32' } })));
  }
  const build = (): Observable<unknown> =>
    pipe(fromFiles<{ id: number; x: number }>(dir, { format: 'parquet', cycleLength: 3, blockLength: 7 }).pipe(map((r) => `${r.id}:${r.x}`)));
  const garbleGroups = (p: Position): boolean => {
    const bytes = readFileSync(p.path);
    const metadata = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    if (!p.group) return false;
    const chunkStart = (g: number): number => Math.min(...metadata.row_groups[g].columns.map((c) => Number(c.meta_data!.dictionary_page_offset ?? c.meta_data!.data_page_offset)));
    // Past the last group: everything up to the footer (its length sits before the closing magic).
    garble(p.path, 4, p.group < metadata.row_groups.length ? chunkStart(p.group) : bytes.length - 8 - bytes.readUInt32LE(bytes.length - 8));
    return true;
  };
  await checkSeek(t, dir, build, [20, 70, 130], 'rowGroup', garbleGroups);
  // Whole row groups as column batches: one element per group.
  const columns = (): Observable<unknown> =>
    fromFiles(dir, { format: 'parquet', output: 'columns', cycleLength: 2 }).pipe(map((b) => Array.from((b.id as NDArray).data as Int32Array).join(',')), shuffle(4, { seed: 1 }), batch(2));
  await checkSeek(t, dir, columns, [3, 9, 14], 'rowGroup', garbleGroups);
});

test('Arrow IPC files (random access to the saved record batch) and streams resume at their batch and row', async (t) => {
  const dir = tempDir();
  for (let f = 0; f < 4; f++) {
    const batches = Array.from({ length: 12 }, (_, b) => arrow.tableFromArrays({ id: Int32Array.from({ length: 40 }, (_, i) => f * 1000 + b * 40 + i) }).batches[0]);
    writeFileSync(join(dir, `part-${f}.${f % 2 ? 'arrows' : 'arrow'}`), arrow.tableToIPC(new arrow.Table(batches), f % 2 ? 'stream' : 'file'));
  }
  const build = (): Observable<unknown> => pipe(fromFiles<{ id: number }>(dir, { format: 'arrow', cycleLength: 3, blockLength: 5 }).pipe(map((r) => r.id)));
  await checkSeek(t, dir, build, [10, 45, 80], 'recordBatch');
});

test('Avro container files: the header is read from the start, then the file from the saved block, its emitted records dropped', async (t) => {
  const dir = tempDir();
  const type = avro.Type.forSchema({ type: 'record', name: 'R', fields: [{ name: 'id', type: 'int' }, { name: 's', type: 'string' }] });
  for (let f = 0; f < 4; f++) {
    // Done once the file stream has finished: the encoder's own 'finish' comes before its bytes reach the file.
    const encoder = new avro.streams.BlockEncoder(type, { blockSize: 256 });
    const written = pipeline(encoder, createWriteStream(join(dir, `part-${f}.avro`)));
    for (let i = 0; i < 300; i++) encoder.write({ id: f * 1000 + i, s: 'z'.repeat(i % 9) });
    encoder.end();
    await written;
  }
  const build = (): Observable<unknown> => pipe(fromFiles<{ id: number; s: string }>(dir, { format: 'avro', cycleLength: 3, blockLength: 4 }).pipe(map((r) => `${r.id}${r.s}`)));
  await checkSeek(t, dir, build, STOPS);
});

test('property: a line\'s reported end is the byte offset after its break (or inside a split \\r\\n), whatever the chunking (\\r\\n split across chunks, multi-byte characters, invalid UTF-8)', async (t) => {
  const piece = fc.oneof(fc.constantFrom('\n', '\r', '\r\n', 'é', '€', '𝄞', 'a', 'bc', ''), fc.constant('\xff'));
  const details = await fc.check(
    fc.asyncProperty(fc.array(piece, { maxLength: 60 }), fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 10 }), async (pieces, cuts) => {
      // '\xff' stands for an invalid byte (one byte, decoded as a 3-byte replacement character).
      const bytes = Buffer.concat(pieces.map((p) => (p === '\xff' ? Buffer.from([0xff]) : Buffer.from(p))));
      const chunks: Buffer[] = [];
      for (let at = 0, k = 0; at < bytes.length; k++) {
        const n = cuts[k % cuts.length];
        chunks.push(bytes.subarray(at, at + n));
        at += n;
      }
      const lines: Line[] = [];
      for await (const batch of splitLines((async function* () { yield* chunks; })(), 1 << 20, undefined, { offset: 0, line: 1 })) lines.push(...batch);
      // Expected ends: after each break ('\r\n' one break), and the end of the data for a last line without one.
      const ends: number[] = [];
      for (let i = 0; i < bytes.length; i++) {
        if (bytes[i] === 13 && bytes[i + 1] === 10) continue;
        if (bytes[i] === 10 || bytes[i] === 13) ends.push(i + 1);
      }
      if (bytes.length > 0 && ends[ends.length - 1] !== bytes.length) {
        const tail = bytes.subarray((ends[ends.length - 1] ?? 0));
        if (tail.length > 0) ends.push(bytes.length);
      }
      // A '\r\n' split by a chunk ends its line after the '\r' (the line was handed on before the '\n' came): a restore passes over that '\n' (position.ts).
      const same = (end: number, k: number): boolean => end === ends[k] || (end === ends[k] - 1 && bytes[end - 1] === 13 && bytes[end] === 10);
      return lines.length === ends.length && lines.every((l, k) => l.end !== undefined && same(l.end, k));
    }),
    { numRuns: 300, seed: 17 },
  );
  holds(t, details, 300);
});

test('fromImageFolder saves the index of the next file: a restored run decodes only the files after it (the ones before are garbled)', async (t) => {
  const root = tempDir();
  const paths: string[] = [];
  for (const cls of ['a', 'b', 'c']) {
    mkdirSync(join(root, cls));
    for (let i = 0; i < 12; i++) {
      const image = new PNG({ width: 2, height: 2 });
      image.data.fill(cls.charCodeAt(0) + i);
      const path = join(root, cls, `${String(i).padStart(2, '0')}.png`);
      writeFileSync(path, PNG.sync.write(image));
      paths.push(path);
    }
  }
  const build = (): Observable<unknown> =>
    fromImageFolder(root, { channels: 1 }).pipe(map((r) => `${r.labelName}:${r.image.data[0]}`), shuffle(5, { seed: 2 }), batch(3));
  const { trained: whole } = await train(build, 1);
  for (const stop of [2, 5, 9]) {
    const first = await train(build, 1, { stopAfter: stop });
    const state = first.state!.stages.find((s) => s.kind === 'fromImageFolder')!.state as { mode: string; next: number; path: string };
    t.is(state.mode, 'fileIndex');
    const before = paths.slice(0, state.next).map((p) => [p, readFileSync(p)] as const);
    for (const [p] of before) writeFileSync(p, 'not a png');
    const rest = await train(build, 1, { restore: first.state });
    t.deepEqual([...first.trained, ...rest.trained], whole, `resumed after ${stop}`);
    for (const [p, bytes] of before) writeFileSync(p, bytes);
  }
});

test('an interleave over nested fromFiles (and over iterables) resumes by record-skip: the nested files do not claim the outer slots\' positions', async (t) => {
  const root = tempDir();
  const dirs = [0, 1, 2].map((d) => {
    const dir = join(root, `d${d}`);
    mkdirSync(dir);
    for (let f = 0; f < 2; f++) writeFileSync(join(dir, `${f}.txt`), Array.from({ length: 40 }, (_, i) => `${d}.${f}.${i}`).join('\n') + '\n');
    return dir;
  });
  const build = (): Observable<unknown> =>
    fromIterable(dirs).pipe(interleave((dir: string) => fromFiles(dir, { format: 'lines', cycleLength: 2 }), { cycleLength: 2, blockLength: 3 }), shuffle(8, { seed: 4 }), batch(4));
  const { trained: whole } = await train(build, 1);
  for (const stop of [3, 11, 25]) {
    const first = await train(build, 1, { stopAfter: stop });
    for (const slot of slotsOf(first.state!)) t.is(slot.position, undefined, 'no position: record-skip');
    const rest = await train(build, 1, { restore: first.state });
    t.deepEqual([...first.trained, ...rest.trained], whole, `resumed after ${stop}`);
  }
});
