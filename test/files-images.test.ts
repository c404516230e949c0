import test from 'ava';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
