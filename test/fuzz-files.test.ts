/**
 * Property-based fuzzing of the file parsers (fast-check): random, truncated and mutated bytes
 * must either parse or fail with an RxDataError naming their origin — never hang (each run has a
 * time limit), never a raw TypeError/RangeError (also not wrapped as a "cannot read file"), never
 * a record past the limits set. Round trips check that valid input comes back exactly.
 *
 * Deterministic: a fixed seed. `FUZZ_RUNS=n` runs every property n times (default: a budget that
 * keeps this file near 15 s on 2 cores); `FUZZ_SEED` changes the seed to explore further.
 */
import test from 'ava';
import fc from 'fast-check';
import { holds } from './helpers.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync, gzipSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import { PipelineStats, RxDataError, consume, decodeImage, frameRecord, fromFiles, maskedCrc32c, parseExample, serializeExample, type FromFilesOptions } from '../src/index.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261130);
const runs = (n: number): number => (process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : n);
/** fast-check parameters: fixed seed, a per-run time limit (a hang is a failure, not a stuck test). */
const params = (numRuns: number): fc.Parameters<unknown> => ({ seed: SEED, numRuns: runs(numRuns), timeout: 10_000 });

const dir = mkdtempSync(join(tmpdir(), 'rxdata-fuzz-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
let fileNumber = 0;
const tempFile = (name: string, bytes: Uint8Array): string => {
  const path = join(dir, `${fileNumber++}-${name}`);
  writeFileSync(path, bytes);
  return path;
};

/** fromFiles with the format chosen at run time. */
const anyFormat = fromFiles as (patterns: string, options: FromFilesOptions) => Observable<unknown>;

/** Small limits, so that the fuzzer can reach them. */
const MAX_RECORD = 4096;
const MAX_LINE = 512;
const MAX_PIXELS = 64 * 64;

/** An error a parser may raise: an RxDataError naming `origin`, not hiding a programming error as its cause. */
function checkError(error: unknown, origin: string, where: string): void {
  if (!(error instanceof RxDataError)) throw new Error(`${where}: raw ${error instanceof Error ? error.name : typeof error}: ${String(error)}`);
  if (!error.message.includes(origin)) throw new Error(`${where}: the error does not name ${origin}: ${error.message}`);
  const cause = error.cause;
  // A bug of ours surfacing through a wrapper: a JS error thrown by rxdata's own code (libraries'
  // errors on bad input, such as protobufjs's RangeError on a truncated message, are their verdicts).
  if (cause instanceof TypeError || cause instanceof RangeError || cause instanceof ReferenceError) {
    const thrower = (cause.stack ?? '').split('\n').find((l) => l.trimStart().startsWith('at '));
    if (thrower && !thrower.includes('node_modules') && !thrower.includes('node:') && /\/(connectors|src|operators)\//.test(thrower)) {
      throw new Error(`${where}: a ${cause.name} from rxdata's code inside an RxDataError: ${cause.message}\n${cause.stack ?? ''}`);
    }
  }
}

/**
 * Reads `path` with `options` under both error modes: 'fail' gives records or an error naming the
 * file; 'skip' never fails, and counts what 'fail' failed on. `check` sees each result.
 */
async function readsOrNames(path: string, options: FromFilesOptions, check: (records: unknown[]) => void = () => undefined): Promise<void> {
  let failed = false;
  try {
    check(await lastValueFrom(anyFormat(path, { ...options, onError: 'fail' }).pipe(toArray())));
  } catch (error) {
    checkError(error, path, 'onError fail');
    failed = true;
  }
  const stats = new PipelineStats();
  let records: unknown[];
  try {
    records = await lastValueFrom(anyFormat(path, { ...options, onError: 'skip' }).pipe(consume((r) => r, { stats }), toArray()));
  } catch (error) {
    throw new Error(`onError skip failed: ${String(error)}`);
  }
  check(records);
  if (failed && stats.get('fromFiles')?.skipped === 0) throw new Error('onError fail failed, skip skipped nothing');
}

/** How to damage a good file: cut it, overwrite bytes, insert bytes. Positions are fractions of its length. */
const damage = fc.record({
  cut: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
  writes: fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
  insert: fc.option(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.uint8Array({ maxLength: 24 })), { nil: undefined }),
});
type Damage = typeof damage extends fc.Arbitrary<infer D> ? D : never;

function applyDamage(good: Uint8Array, d: Damage): Buffer {
  let bytes = Buffer.from(good);
  if (d.insert) {
    const at = Math.floor(d.insert[0] * bytes.length);
    bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(d.insert[1]), bytes.subarray(at)]);
  }
  for (const [where, value] of d.writes) if (bytes.length > 0) bytes[Math.min(bytes.length - 1, Math.floor(where * bytes.length))] = value;
  if (d.cut !== undefined) bytes = bytes.subarray(0, Math.floor(d.cut * bytes.length));
  return bytes;
}

/** Bytes to feed a parser: random, or a good sample damaged, optionally gzipped (then maybe damaged again). */
function hostile(good: Uint8Array): fc.Arbitrary<{ bytes: Buffer; gz: boolean }> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 1500 }).map((b) => ({ bytes: Buffer.from(b), gz: false })),
    damage.map((d) => ({ bytes: applyDamage(good, d), gz: false })),
    fc.tuple(damage, fc.boolean()).map(([d, first]) => ({
      // Damage before compressing (bad content, valid gzip) or after (corrupt gzip).
      bytes: first ? gzipSync(applyDamage(good, d)) : applyDamage(gzipSync(good), d),
      gz: true,
    })),
  );
}

const CSV_GOOD = Buffer.from('a,b,c,d\n1,2.5,x,true\n"q,1",3,"y\n z",false\n4,-5e3,"say ""hi""",1\r\n\n7,8,,0\n');
const JSONL_GOOD = Buffer.from('{"a":1,"b":[1,2,{"c":null}]}\n"text"\n[1,2,3]\n{"__proto__":{"x":1},"é":"ü"}\n\n42\n');
const LINES_GOOD = Buffer.from('one\ntwo\r\nthree\rfour é\n\nlast');
const EXAMPLES = Array.from({ length: 6 }, (_, i) => serializeExample({ x: [i, i / 2], y: { int64: [i] }, s: `r${i}` }));
const TFRECORD_GOOD = Buffer.concat(EXAMPLES.map((e) => frameRecord(e)));
const BINARY_GOOD = Buffer.from(Array.from({ length: 3 + 7 * 5 + 2 }, (_, i) => i));

const lineBytes = (records: unknown[]): void => {
  for (const r of records) if (typeof r === 'string' && Buffer.byteLength(r) > MAX_LINE) throw new Error(`a line of ${Buffer.byteLength(r)} bytes passed maxLineBytes=${MAX_LINE}`);
};

test('fuzz: lines', async (t) => {
  holds(t, await fc.check(
    fc.asyncProperty(hostile(LINES_GOOD), async ({ bytes, gz }) => {
      await readsOrNames(tempFile(gz ? 'f.txt.gz' : 'f.txt', bytes), { format: 'lines', maxLineBytes: MAX_LINE }, lineBytes);
    }),
    params(60),
  ), runs(60));
});

test('fuzz: CSV (plain, typed, labelled)', async (t) => {
  const variants: FromFilesOptions[] = [
    { format: 'csv', maxLineBytes: MAX_LINE },
    { format: 'csv', maxLineBytes: MAX_LINE, columns: { a: { type: 'int', default: 0 }, b: { type: 'float' }, d: { type: 'bool', default: false } } },
    { format: 'csv', maxLineBytes: MAX_LINE, header: false, columnNames: ['p', 'q', 'r', 's'], labels: ['p'] },
  ];
  holds(t, await fc.check(
    fc.asyncProperty(hostile(CSV_GOOD), fc.constantFrom(0, 1, 2), async ({ bytes, gz }, v) => {
      await readsOrNames(tempFile(gz ? 'f.csv.gz' : 'f.csv', bytes), variants[v]);
    }),
    params(80),
  ), runs(80));
});

test('fuzz: JSON lines', async (t) => {
  holds(t, await fc.check(
    fc.asyncProperty(hostile(JSONL_GOOD), async ({ bytes, gz }) => {
      await readsOrNames(tempFile(gz ? 'f.jsonl.gz' : 'f.jsonl', bytes), { format: 'jsonl', maxLineBytes: MAX_LINE });
    }),
    params(60),
  ), runs(60));
});

test('fuzz: TFRecord, raw and as tf.train.Example', async (t) => {
  const spec = { x: { type: 'float', shape: [2] }, y: { type: 'int64', shape: [] }, s: { type: 'string', shape: [] } } as const;
  const recordSizes = (records: unknown[]): void => {
    for (const r of records) if (r instanceof Uint8Array && r.length > MAX_RECORD) throw new Error(`a record of ${r.length} bytes passed maxRecordBytes`);
  };
  // Also headers claiming huge lengths, with valid CRCs: the reader must refuse them before allocating.
  const lyingHeader = fc.tuple(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.uint8Array({ maxLength: 64 })).map(([length, tail]) => {
    const header = Buffer.alloc(12);
    header.writeBigUInt64LE(length);
    header.writeUInt32LE(maskedCrc32c(header.subarray(0, 8)), 8);
    return { bytes: Buffer.concat([TFRECORD_GOOD.subarray(0, 40), header, tail]), gz: false };
  });
  holds(t, await fc.check(
    fc.asyncProperty(fc.oneof(hostile(TFRECORD_GOOD), lyingHeader), fc.boolean(), fc.boolean(), async ({ bytes, gz }, verifyCrc, example) => {
      const path = tempFile(gz ? 'f.tfrecord.gz' : 'f.tfrecord', bytes);
      await readsOrNames(path, { format: 'tfrecord', verifyCrc, maxRecordBytes: MAX_RECORD, ...(example ? { example: spec } : {}) }, recordSizes);
    }),
    params(80),
  ), runs(80));
});

test('fuzz: fixed-length binary records', async (t) => {
  holds(t, await fc.check(
    fc.asyncProperty(hostile(BINARY_GOOD), fc.integer({ min: 1, max: 9 }), fc.nat({ max: 4 }), fc.nat({ max: 4 }), async ({ bytes, gz }, recordBytes, headerBytes, footerBytes) => {
      await readsOrNames(tempFile(gz ? 'f.bin.gz' : 'f.bin', bytes), { format: 'binary', recordBytes, headerBytes, footerBytes }, (records) => {
        for (const r of records) if (!(r instanceof Uint8Array && r.length === recordBytes)) throw new Error('a record of the wrong size');
      });
    }),
    params(60),
  ), runs(60));
});

test('fuzz: parseExample on random and damaged records', async (t) => {
  const parse = parseExample({ x: { type: 'float', shape: [2] }, y: { type: 'int64', shape: [], default: 0 }, s: { type: 'string' }, b: { type: 'bytes', default: new Uint8Array(0) } });
  const records = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.tuple(fc.constantFrom(...EXAMPLES), damage).map(([e, d]) => applyDamage(e, d)),
  );
  holds(t, fc.check(
    fc.property(records, (record) => {
      try {
        parse(record, 'record #7');
      } catch (error) {
        checkError(error, 'record #7', 'parseExample');
      }
    }),
    params(1500),
  ), runs(1500));
});

function pngOf(width: number, height: number, options: { colorType?: 0 | 2 | 4 | 6; inputHasAlpha?: boolean; interlace?: boolean } = {}): Buffer {
  const image = new PNG({ width, height, colorType: options.colorType ?? 6 });
  for (let i = 0; i < image.data.length; i++) image.data[i] = (i * 37) & 255;
  return PNG.sync.write(image, { colorType: options.colorType ?? 6 });
}
const IMAGES = [
  pngOf(7, 5),
  pngOf(6, 6, { colorType: 0 }),
  pngOf(9, 3, { colorType: 2 }),
  jpeg.encode({ data: Buffer.alloc(16 * 8 * 4, 128), width: 16, height: 8 }, 80).data,
];

/** A PNG built from its parts with valid CRCs: any header the fuzzer likes, any pixel data. */
const forgedPng = fc
  .record({
    width: fc.oneof(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 0, max: 2 ** 31 - 1 })),
    height: fc.oneof(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 0, max: 2 ** 31 - 1 })),
    depth: fc.constantFrom(1, 2, 4, 8, 16, 3),
    colorType: fc.constantFrom(0, 2, 3, 4, 6, 5),
    interlace: fc.constantFrom(0, 1, 2),
    idat: fc.oneof(
      fc.nat({ max: 40_000 }).map((n) => deflateSync(Buffer.alloc(n))),
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      fc.constant(undefined),
    ),
  })
  .map(({ width, height, depth, colorType, interlace, idat }) => {
    const chunk = (type: string, data: Buffer): Buffer => {
      const length = Buffer.alloc(4);
      length.writeUInt32BE(data.length);
      const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(body));
      return Buffer.concat([length, body, crc]);
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(width, 0);
    ihdr.writeUInt32BE(height, 4);
    ihdr[8] = depth;
    ihdr[9] = colorType;
    ihdr[12] = interlace;
    const plte = colorType === 3 ? [chunk('PLTE', Buffer.alloc(3 * 16, 7))] : [];
    return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), ...plte, ...(idat ? [chunk('IDAT', idat)] : []), chunk('IEND', Buffer.alloc(0))]);
  });

/** A JPEG with its frame header's dimensions rewritten. */
const forgedJpeg = fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 })).map(([w, h]) => {
  const bytes = Buffer.from(IMAGES[3]);
  const sof = bytes.indexOf(Buffer.from([0xff, 0xc0]));
  bytes.writeUInt16BE(h, sof + 5);
  bytes.writeUInt16BE(w, sof + 7);
  return bytes;
});

test('fuzz: PNG and JPEG decoding (damaged files, forged headers, random pixel data)', (t) => {
  const inputs = fc.oneof(
    fc.uint8Array({ maxLength: 400 }),
    fc.tuple(fc.constantFrom(...IMAGES), damage).map(([good, d]) => applyDamage(good, d)),
    forgedPng,
    forgedJpeg,
  );
  holds(t, fc.check(
    fc.property(inputs, fc.constantFrom(1, 3, 4), fc.boolean(), (bytes, channels, resize) => {
      try {
        const image = decodeImage(bytes, { origin: 'img.bin', channels: channels as 1 | 3 | 4, maxPixels: MAX_PIXELS, ...(resize ? { size: [4, 5] as const } : {}) });
        const [h, w, c] = image.shape;
        if (!resize && h * w > MAX_PIXELS) throw new Error(`an image of ${w}x${h} passed maxPixels`);
        if (image.data.length !== h * w * c) throw new Error('data and shape disagree');
      } catch (error) {
        checkError(error, 'img.bin', 'decodeImage');
      }
    }),
    params(400),
  ), runs(400));
});

test('round trip: TFRecord records of any sizes (across read chunks), plain and gzip', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.nat({ max: 200_000 }).map((n) => new Uint8Array(n).fill(n & 255))), { maxLength: 12 }), fc.boolean(), async (records, gz) => {
      const framed = Buffer.concat(records.map((r) => frameRecord(r)));
      const path = tempFile(gz ? 'rt.tfrecord.gz' : 'rt.tfrecord', gz ? gzipSync(framed) : framed);
      const back = await lastValueFrom(fromFiles(path, { format: 'tfrecord' }).pipe(toArray()));
      t.deepEqual(
        back.map((r) => Buffer.from(r).toString('base64')),
        records.map((r) => Buffer.from(r).toString('base64')),
      );
    }),
    params(25),
  );
});

test('round trip: JSON lines of any JSON values', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 20 }), async (values) => {
      const text = values.map((v) => JSON.stringify(v)).join('\n');
      const back = await lastValueFrom(fromFiles(tempFile('rt.jsonl', Buffer.from(text)), { format: 'jsonl' }).pipe(toArray()));
      t.deepEqual(back, values.map((v) => JSON.parse(JSON.stringify(v)) as unknown));
    }),
    params(40),
  );
});

test('round trip: CSV cells with quotes, delimiters and line breaks', async (t) => {
  const cell = fc.string({ maxLength: 12, unit: fc.constantFrom('a', 'z', ',', '"', '\n', '\r', ' ', 'é', '1') });
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(cell, cell, cell), { maxLength: 15 }), async (rows) => {
      const quote = (s: string): string => `"${s.replaceAll('"', '""')}"`;
      const text = ['p,q,r', ...rows.map((r) => r.map(quote).join(','))].join('\n');
      const back = await lastValueFrom(fromFiles(tempFile('rt.csv', Buffer.from(text)), { format: 'csv' }).pipe(toArray()));
      t.deepEqual(
        back,
        rows.map(([p, q, r]) => ({ p, q, r })),
      );
    }),
    params(40),
  );
});
