import test from 'ava';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { PipelineStats, RecordError, batch, consume, decodeImage, fromImageFolder, imageFolderClasses } from '../src/index.js';
import { mulberry32 } from '../src/random.js';
import { collect } from './helpers.js';

/** A w×h RGBA image filled with one colour, as PNG bytes. */
function png(w: number, h: number, rgba: [number, number, number, number]): Buffer {
  const image = new PNG({ width: w, height: h });
  for (let i = 0; i < w * h; i++) image.data.set(rgba, i * 4);
  return PNG.sync.write(image);
}

function jpg(w: number, h: number, rgb: [number, number, number]): Buffer {
  const data = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) data.set([...rgb, 255], i * 4);
  return jpeg.encode({ data, width: w, height: h }, 95).data;
}

function folder(): string {
  const root = mkdtempSync(join(tmpdir(), 'rxdata-img-'));
  mkdirSync(join(root, 'red'));
  mkdirSync(join(root, 'blue'));
  mkdirSync(join(root, 'blue', 'nested'));
  writeFileSync(join(root, 'red', '1.png'), png(4, 6, [255, 0, 0, 255]));
  writeFileSync(join(root, 'red', '2.jpg'), jpg(8, 8, [250, 10, 10]));
  writeFileSync(join(root, 'blue', 'a.png'), png(2, 2, [0, 0, 255, 128]));
  writeFileSync(join(root, 'blue', 'nested', 'b.jpeg'), jpg(16, 4, [0, 0, 250]));
  writeFileSync(join(root, 'blue', 'notes.txt'), 'ignored');
  return root;
}

test('fromImageFolder: labels from sorted folder names, resized, channels selected', async (t) => {
  const root = folder();
  t.deepEqual(await imageFolderClasses(root), ['blue', 'red']);
  const items = await collect(fromImageFolder(root, { size: [4, 4], channels: 3 }));
  t.deepEqual(items.map((i) => [i.labelName, i.label, i.path.slice(root.length + 1)]), [
    ['blue', 0, 'blue/a.png'],
    ['blue', 0, 'blue/nested/b.jpeg'],
    ['red', 1, 'red/1.png'],
    ['red', 1, 'red/2.jpg'],
  ]);
  for (const { image } of items) t.deepEqual(image.shape, [4, 4, 3]);
  t.deepEqual([...items[2].image.data.subarray(0, 3)], [255, 0, 0]);
  // JPEG is lossy: close to the colour written.
  const [r, g, b] = items[3].image.data;
  t.true(r > 230 && g < 30 && b < 30);
  // Batches stack into [n, h, w, c].
  const batches = await collect(fromImageFolder(root, { size: [4, 4] }).pipe(batch(2)));
  t.deepEqual(batches[0].image.shape, [2, 4, 4, 3]);
  t.deepEqual([...batches[0].label.data], [0, 0]);
});

test('decodeImage: channels 1 / 4, no resize keeps the size, bilinear resize interpolates', (t) => {
  const gray = decodeImage(png(3, 2, [255, 0, 0, 255]), { channels: 1 });
  t.deepEqual(gray.shape, [2, 3, 1]);
  t.is(gray.data[0], 76); // 0.2989 · 255
  const rgba = decodeImage(png(2, 2, [0, 0, 255, 128]), { channels: 4 });
  t.deepEqual([...rgba.data.subarray(0, 4)], [0, 0, 255, 128]);
  // A 1×2 image black|white resized to 1×4: half-pixel centres give 0, 64, 191, 255.
  const image = new PNG({ width: 2, height: 1 });
  image.data.set([0, 0, 0, 255, 255, 255, 255, 255]);
  const wide = decodeImage(PNG.sync.write(image), { size: [1, 4], channels: 1 });
  t.deepEqual([...wide.data], [0, 64, 191, 255]);
});

test('an undecodable image is a RecordError naming the file; skip counts it', async (t) => {
  const root = folder();
  writeFileSync(join(root, 'red', '3.png'), Buffer.from('\x89PNG\r\n\x1a\n garbage'));
  const error = await t.throwsAsync(collect(fromImageFolder(root, { size: [4, 4] })), { instanceOf: RecordError });
  t.regex(error.message, /cannot decode image.*red\/3\.png/);
  const stats = new PipelineStats();
  const items = await collect(fromImageFolder(root, { size: [4, 4], onError: 'skip' }).pipe(consume((v) => v, { stats })));
  t.is(items.length, 4);
  t.is(stats.get('fromImageFolder')?.skipped, 1);
});

test('fuzz: random and truncated image bytes decode or give a RecordError naming the file', (t) => {
  const random = mulberry32(3);
  const good = [png(5, 5, [1, 2, 3, 255]), jpg(9, 9, [100, 150, 200])];
  for (let trial = 0; trial < 80; trial++) {
    const source = good[trial % 2];
    let bytes: Buffer;
    if (trial % 4 < 2) {
      bytes = source.subarray(0, Math.floor(random() * source.length));
    } else {
      bytes = Buffer.from(source);
      for (let k = 0; k < 4; k++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    }
    try {
      const image = decodeImage(bytes, { origin: `fuzz-${trial}`, size: [3, 3] });
      t.deepEqual(image.shape, [3, 3, 3]);
    } catch (error) {
      t.true(error instanceof RecordError, `trial ${trial}: ${String(error)}`);
      t.regex((error as Error).message, new RegExp(`fuzz-${trial}\\)`));
    }
  }
});

/** A PNG built chunk by chunk (valid CRCs): 8-bit RGB, `width`×`height`, with the given IDAT payload (or none). */
function rawPng(width: number, height: number, idat?: Buffer, interlace = 0): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([length, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  ihdr[12] = interlace;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), ...(idat ? [chunk('IDAT', idat)] : []), chunk('IEND', Buffer.alloc(0))]);
}

test('a 68-byte PNG claiming 30000x30000 is refused from its header (maxPixels), naming the file', (t) => {
  const hostile = rawPng(30000, 30000, deflateSync(Buffer.alloc(10)));
  t.is(hostile.length, 68);
  const before = process.memoryUsage().arrayBuffers;
  const error = t.throws(() => decodeImage(hostile, { origin: 'bomb.png' }), { instanceOf: RecordError });
  t.regex(error.message, /30000x30000 = 900000000 pixels exceeds maxPixels=50000000.*bomb\.png/);
  // Nothing image-sized was allocated on the way (the image would be 3.6 GB of RGBA).
  t.true(process.memoryUsage().arrayBuffers - before < 64 << 20);
  // The limit is an option.
  t.throws(() => decodeImage(png(40, 30, [1, 2, 3, 255]), { maxPixels: 1199 }), { instanceOf: RecordError, message: /40x30 = 1200 pixels exceeds maxPixels=1199/ });
  t.deepEqual(decodeImage(png(40, 30, [1, 2, 3, 255]), { maxPixels: 1200 }).shape, [30, 40, 3]);
});

test('a PNG with missing or truncated pixel data is an error naming the file, not an image of zeros', (t) => {
  const row = 1 + 100 * 3;
  const cases: [string, Buffer, RegExp][] = [
    ['none.png', rawPng(100, 100), /no pixel data/],
    ['short.png', rawPng(100, 100, deflateSync(Buffer.alloc(10))), /truncated pixel data: 10 of 30100 bytes/],
    ['half.png', rawPng(100, 100, deflateSync(Buffer.alloc(row * 50))), /truncated pixel data: 15050 of 30100/],
    ['interlaced.png', rawPng(100, 100, deflateSync(Buffer.alloc(100)), 1), /truncated pixel data: 100 of/],
    ['garbage.png', rawPng(100, 100, Buffer.from('not zlib at all')), /corrupt pixel data/],
  ];
  for (const [name, bytes, message] of cases) {
    const error = t.throws(() => decodeImage(bytes, { origin: name }), { instanceOf: RecordError }, name);
    t.regex(error.message, message, name);
    t.true(error.message.includes(`(at ${name})`), error.message);
  }
  // The complete image decodes: all-zero filtered rows are black pixels.
  const whole = decodeImage(rawPng(100, 100, deflateSync(Buffer.alloc(row * 100))), { origin: 'whole.png' });
  t.deepEqual(whole.shape, [100, 100, 3]);
  t.true(whole.data.every((v) => v === 0));
  // Interlaced, complete: Adam7 passes add up.
  const passes = [
    [13, 13],
    [12, 13],
    [25, 12],
    [25, 25],
    [50, 25],
    [50, 50],
    [100, 50],
  ];
  const size = passes.reduce((n, [w, h]) => n + (1 + w * 3) * h, 0);
  t.deepEqual(decodeImage(rawPng(100, 100, deflateSync(Buffer.alloc(size)), 1)).shape, [100, 100, 3]);
});

test('a JPEG claiming 10000x10000 is refused from its frame header before decoding', (t) => {
  const bytes = Buffer.from(jpg(8, 8, [10, 20, 30]));
  // Find the SOF0 marker and rewrite its dimensions.
  const sof = bytes.indexOf(Buffer.from([0xff, 0xc0]));
  t.true(sof > 0);
  bytes.writeUInt16BE(10000, sof + 5);
  bytes.writeUInt16BE(10000, sof + 7);
  const before = process.memoryUsage().arrayBuffers;
  const error = t.throws(() => decodeImage(bytes, { origin: 'big.jpg' }), { instanceOf: RecordError });
  t.regex(error.message, /10000x10000 = 100000000 pixels exceeds maxPixels=50000000.*big\.jpg/);
  t.true(process.memoryUsage().arrayBuffers - before < 64 << 20);
  // fromImageFolder passes the limit on: skipped and counted.
  const root = mkdtempSync(join(tmpdir(), 'rxdata-img-'));
  mkdirSync(join(root, 'a'));
  writeFileSync(join(root, 'a', 'big.jpg'), bytes);
  writeFileSync(join(root, 'a', 'small.png'), png(2, 2, [0, 0, 0, 255]));
  writeFileSync(join(root, 'a', 'wide.png'), png(20, 2, [0, 0, 0, 255]));
  return collect(fromImageFolder(root, { size: [2, 2], onError: 'skip', maxPixels: 39 })).then((items) => {
    t.deepEqual(items.map((i) => i.path.slice(root.length + 1)), ['a/small.png']);
  });
});
