import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { decodeImage, decodeImageAsync, fromImageFolder } from '../connectors/files/images.js';
import { loadSharp } from '../connectors/files/sharpDecode.js';
import { RecordError } from '../src/errors.js';
import { collect } from './helpers.js';

/** A photo-like RGBA image: smooth gradients plus mild seeded noise. */
function photo(w: number, h: number): Uint8Array {
  const rgba = new Uint8Array(w * h * 4);
  let s = 7;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const noise = (s >>> 28) - 8;
      const o = (y * w + x) * 4;
      rgba[o] = Math.max(0, Math.min(255, Math.round((255 * x) / w) + noise));
      rgba[o + 1] = Math.max(0, Math.min(255, Math.round((255 * y) / h) + noise));
      rgba[o + 2] = Math.max(0, Math.min(255, 128 + Math.round(100 * Math.sin(x / 7) * Math.cos(y / 5)) + noise));
      rgba[o + 3] = 255;
    }
  }
  return rgba;
}
const W = 64;
const H = 48;
const jpegBytes = new Uint8Array(jpeg.encode({ data: photo(W, H), width: W, height: H }, 90).data);
const pngImage = new PNG({ width: W, height: H });
pngImage.data.set(photo(W, H));
const pngBytes = new Uint8Array(PNG.sync.write(pngImage));

/** Mean and largest absolute difference of two equally long byte arrays. */
function diff(a: Uint8Array, b: Uint8Array): { mean: number; max: number } {
  let total = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    total += d;
    if (d > max) max = d;
  }
  return { mean: total / a.length, max };
}

// sharp is an optional dependency: where it is missing, the fallback is tested instead.
const hasSharp = (await loadSharp()) !== undefined;
const withSharp = hasSharp ? test : test.skip;
const withoutSharp = hasSharp ? test.skip : test;

withoutSharp("without sharp: 'auto' decodes with jpeg-js, 'sharp' says why it cannot", async (t) => {
  t.deepEqual((await decodeImageAsync(jpegBytes, { decoder: 'auto' })).data, decodeImage(jpegBytes).data);
  await t.throwsAsync(decodeImageAsync(jpegBytes, { decoder: 'sharp' }), { message: /sharp does not load here/ });
});

withSharp('JPEG: sharp and jpeg-js give the same shape and close pixels', async (t) => {
  for (const channels of [1, 3, 4] as const) {
    const js = await decodeImageAsync(jpegBytes, { decoder: 'js', channels });
    const native = await decodeImageAsync(jpegBytes, { decoder: 'sharp', channels });
    t.deepEqual(native.shape, [H, W, channels]);
    t.deepEqual(js.shape, native.shape);
    t.deepEqual(js.data, decodeImage(jpegBytes, { channels }).data, "decoder 'js' is decodeImage");
    const { mean, max } = diff(js.data, native.data);
    // Two JPEG decoders (IDCT, chroma upsampling) differ by a few levels, never by much.
    t.log(`channels ${channels}: mean ${mean.toFixed(2)}, max ${max}`);
    t.true(mean < 1.5 && max <= 8, `channels ${channels}: mean ${mean.toFixed(2)}, max ${max}`);
  }
});

withSharp('PNG is lossless: sharp and pngjs agree exactly; resized images agree closely', async (t) => {
  const js = await decodeImageAsync(pngBytes, { decoder: 'js' });
  const native = await decodeImageAsync(pngBytes, { decoder: 'sharp' });
  t.deepEqual(native.data, js.data);
  for (const bytes of [pngBytes, jpegBytes]) {
    const small = { size: [24, 32] as const };
    const a = await decodeImageAsync(bytes, { ...small, decoder: 'js' });
    const b = await decodeImageAsync(bytes, { ...small, decoder: 'sharp' });
    t.deepEqual(b.shape, [24, 32, 3]);
    t.deepEqual(a.shape, b.shape);
    // Half-pixel bilinear against libvips' area-averaging shrink: close on a smooth image.
    const { mean } = diff(a.data, b.data);
    t.log(`resized: mean ${mean.toFixed(2)}`);
    t.true(mean < 3, `mean difference ${mean.toFixed(2)}`);
  }
});

withSharp('bad bytes through sharp are a RecordError naming the origin', async (t) => {
  const bad = jpegBytes.slice(0, 40);
  await t.throwsAsync(decodeImageAsync(bad, { decoder: 'sharp', origin: 'cut.jpg' }), { instanceOf: RecordError, message: /cannot decode image: .*\(at cut\.jpg\)$/ });
  await t.throwsAsync(decodeImageAsync(new Uint8Array([1, 2, 3]), { decoder: 'auto', origin: 'x.bin' }), { instanceOf: RecordError, message: /x\.bin/ });
  await t.throwsAsync(decodeImageAsync(jpegBytes, { decoder: 'gpu' as never }), { instanceOf: RangeError });
});

withSharp('fromImageFolder: the same labels and shapes through either decoder', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'rxdata-sharp-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  for (const label of ['a', 'b']) {
    mkdirSync(join(root, label));
    writeFileSync(join(root, label, '1.jpg'), jpegBytes);
    writeFileSync(join(root, label, '2.png'), pngBytes);
  }
  const js = await collect(fromImageFolder(root, { size: [16, 16], decoder: 'js' }));
  const native = await collect(fromImageFolder(root, { size: [16, 16], decoder: 'sharp' }));
  t.deepEqual(native.map((x) => [x.path, x.label, x.image.shape]), js.map((x) => [x.path, x.label, x.image.shape]));
  for (let i = 0; i < js.length; i++) t.true(diff(js[i].image.data, native[i].image.data).mean < 4);
});
