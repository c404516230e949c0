/**
 * The CPU-heavy map of scenario 3: decode a 224×224 JPEG, normalise it to float32 (ImageNet mean
 * and std per channel) and blur it with a 3×3 box filter. Runs on the main thread or, as this
 * module's default export, in a worker (the result moves back, not copied).
 */
import jpeg from 'jpeg-js';
import { move } from 'piscina';

export const SIDE = 224;
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/** A synthetic photo-like image (gradients and noise), JPEG-encoded once per process. */
export function sampleJpeg(seed = 1): Uint8Array {
  const rgba = new Uint8Array(SIDE * SIDE * 4);
  let s = seed >>> 0;
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const noise = s >>> 27;
      const o = (y * SIDE + x) * 4;
      rgba[o] = (x + noise) & 255;
      rgba[o + 1] = (y * 2 + noise) & 255;
      rgba[o + 2] = ((x ^ y) + noise) & 255;
      rgba[o + 3] = 255;
    }
  }
  return new Uint8Array(jpeg.encode({ data: rgba, width: SIDE, height: SIDE }, 90).data);
}

const scratchBuffers: Float32Array[] = [];
function scratch(slot: number, length: number): Float32Array {
  const buffer = scratchBuffers[slot];
  if (buffer !== undefined && buffer.length === length) return buffer;
  return (scratchBuffers[slot] = new Float32Array(length));
}

/** Decode → normalise → 3×3 box blur: 224×224×3 float32, channels last. */
export function preprocess(bytes: Uint8Array): Float32Array {
  const { data, width, height } = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false });
  const n = width * height;
  // Scratch buffers are reused (one set per thread); only the result is new, as it moves away.
  // Fresh scratch per element would add 1.2 MB of garbage to every element, in every thread.
  const norm = scratch(0, n * 3);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) norm[i * 3 + c] = (data[i * 3 + c] / 255 - MEAN[c]) / STD[c];
  }
  // Separable box blur, edges clamped: rows into tmp, then columns into out.
  const tmp = scratch(1, n * 3);
  const out = new Float32Array(n * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const l = Math.max(x - 1, 0);
      const r = Math.min(x + 1, width - 1);
      for (let c = 0; c < 3; c++) {
        const row = y * width;
        tmp[(row + x) * 3 + c] = (norm[(row + l) * 3 + c] + norm[(row + x) * 3 + c] + norm[(row + r) * 3 + c]) / 3;
      }
    }
  }
  for (let y = 0; y < height; y++) {
    const u = Math.max(y - 1, 0);
    const d = Math.min(y + 1, height - 1);
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        out[(y * width + x) * 3 + c] = (tmp[(u * width + x) * 3 + c] + tmp[(y * width + x) * 3 + c] + tmp[(d * width + x) * 3 + c]) / 3;
      }
    }
  }
  return out;
}

/** The worker entry: the result's buffer moves to the main thread. */
export default function task(bytes: Uint8Array): Float32Array {
  return move(preprocess(bytes)) as Float32Array;
}

/**
 * The machine's own ceiling for this work: `count` elements decoded in this thread from copies
 * it makes itself, no message per element. Returns a checksum.
 */
export function many(count: number): number {
  const bytes = sampleJpeg();
  let sum = 0;
  for (let i = 0; i < count; i++) sum += preprocess(bytes.slice())[0];
  return sum;
}
