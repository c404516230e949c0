/**
 * Image decoding through `sharp` (libvips, prebuilt in the npm package, runs on libuv's thread
 * pool): an optional dependency, loaded on first use by dynamic import, so rxdata works without it.
 */
import type { Sharp, SharpOptions } from 'sharp';

/** The `sharp` function, as its module exports it. */
export type SharpFactory = (input: Uint8Array, options?: SharpOptions) => Sharp;

let loading: Promise<SharpFactory | undefined> | undefined;
let failure: unknown;

/**
 * `sharp`, or `undefined` where it is not installed or its native part does not load here
 * (another platform's package, a libc it was not built for). Loaded once per thread.
 */
export function loadSharp(): Promise<SharpFactory | undefined> {
  loading ??= import('sharp').then(
    (module) => (module as unknown as { default: SharpFactory }).default,
    (error: unknown) => {
      failure = error;
      return undefined;
    },
  );
  return loading;
}

/** Why `sharp` did not load (for the error of `decoder: 'sharp'`), once `loadSharp` resolved to undefined. */
export function sharpLoadFailure(): unknown {
  return failure;
}

/** RGBA pixels of a decoded (and resized) image. */
export interface RgbaImage {
  readonly rgba: Uint8Array;
  readonly height: number;
  readonly width: number;
}

/**
 * Decodes any format libvips reads (JPEG, PNG, WebP, GIF, TIFF, AVIF…) into 8-bit RGBA and, with
 * `size`, resizes it to exactly `[height, width]` (aspect ratio not kept, like `tf.image.resize`).
 *
 * libvips resizes with a linear kernel that averages over the source area when shrinking
 * (antialiased, as `tf.image.resize(…, antialias=True)`), and may decode a JPEG at 1/2, 1/4 or
 * 1/8 scale first: pixels are close to, not equal to, the js decoder's (half-pixel bilinear, no
 * antialiasing). EXIF orientation is not applied, as in the js decoder.
 */
export async function decodeRgbaWithSharp(sharp: SharpFactory, bytes: Uint8Array, size?: readonly [number, number], maxPixels?: number): Promise<RgbaImage> {
  // libvips refuses an image whose header claims more than maxPixels before decoding it.
  let pipeline = sharp(bytes, { failOn: 'error', ...(maxPixels === undefined ? {} : { limitInputPixels: Math.floor(maxPixels) }) });
  if (size) pipeline = pipeline.resize(size[1], size[0], { fit: 'fill', kernel: 'linear' });
  let result: { data: Buffer; info: { channels: number; height: number; width: number } };
  try {
    result = await pipeline.toColourspace('srgb').ensureAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (error) {
    // libvips repeats its warnings line by line: one line, each said once.
    const message = error instanceof Error ? error.message : String(error);
    throw new Error([...new Set(message.split('\n').map((line) => line.trim()).filter(Boolean))].join('; '), { cause: error });
  }
  const { data, info } = result;
  if (info.channels !== 4) throw new Error(`sharp gave ${info.channels} channels, expected 4`);
  // A Buffer of its own (sharp allocates one per image, outside the pool): view it, no copy.
  return { rgba: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), height: info.height, width: info.width };
}
