/**
 * PNG decoding with limits: pngjs's own parsing, filtering and format conversion, but the pixel
 * count checked from the header before anything is allocated, and the pixel data inflated by
 * node:zlib to exactly the size the header implies, so that missing or truncated pixel data is
 * an error rather than an image of zeros (pngjs's sync inflate returns a buffer of the full size
 * whatever the stream held).
 *
 * Uses pngjs's internal modules (pinned major version 7, no `exports` map): the same pieces its
 * `PNG.sync.read` chains, with the inflate step replaced.
 */
import { createRequire } from 'node:module';
import { inflateSync } from 'node:zlib';

interface PngMetadata {
  width: number;
  height: number;
  depth: number;
  interlace: boolean;
  bpp: number;
  colorType: number;
  palette?: unknown;
  transColor?: unknown;
  alpha?: boolean;
}
interface SyncReader {
  read(length: number, callback: (data: Buffer) => void): void;
  process(): void;
}
interface Parser {
  start(): void;
}
interface Dependencies {
  read: SyncReader['read'];
  error(error: Error): void;
  metadata(meta: PngMetadata): void;
  gamma(gamma: number): void;
  palette(palette: unknown): void;
  transColor(color: unknown): void;
  inflateData(data: Buffer): void;
  simpleTransparency(): void;
}

const require = createRequire(import.meta.url);
const SyncReaderClass = require('pngjs/lib/sync-reader.js') as new (buffer: Buffer) => SyncReader;
const ParserClass = require('pngjs/lib/parser.js') as new (options: object, dependencies: Dependencies) => Parser;
const filterSync = require('pngjs/lib/filter-parse-sync.js') as { process(data: Buffer, meta: PngMetadata): Buffer };
const bitmapper = require('pngjs/lib/bitmapper.js') as { dataToBitMap(data: Buffer, meta: PngMetadata): Buffer };
const formatNormaliser = require('pngjs/lib/format-normaliser.js') as (data: Buffer, meta: PngMetadata, skipRescale?: boolean) => Buffer;
const interlace = require('pngjs/lib/interlace.js') as { getImagePasses(width: number, height: number): { width: number; height: number }[] };

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Width and height from a PNG's IHDR (the first chunk), without decoding anything; undefined when there is none. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  if (bytes.length < 24 || !SIGNATURE.every((b, i) => bytes[i] === b)) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Chunk type at 12..16 must be IHDR.
  if (view.getUint32(12) !== 0x49484452) return undefined;
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** Bytes of filtered scanlines a PNG of this metadata holds once inflated. */
function inflatedSize(meta: PngMetadata): number {
  const rowBytes = (width: number): number => ((width * meta.bpp * meta.depth + 7) >> 3) + 1;
  if (!meta.interlace) return rowBytes(meta.width) * meta.height;
  let total = 0;
  for (const pass of interlace.getImagePasses(meta.width, meta.height)) total += rowBytes(pass.width) * pass.height;
  return total;
}

/**
 * Decodes a PNG to RGBA bytes. Throws (a plain Error; the caller adds the origin) when the image
 * has more than `maxPixels` pixels, when its pixel data is missing, truncated or corrupt, or
 * when it is not a PNG.
 */
export function decodePng(buffer: Buffer, maxPixels: number): { width: number; height: number; data: Buffer } {
  const size = pngSize(buffer);
  if (!size) throw new Error('not a PNG: no IHDR chunk');
  checkPixels(size.width, size.height, maxPixels);
  let error: Error | undefined;
  let meta: PngMetadata | undefined;
  const idat: Buffer[] = [];
  const reader = new SyncReaderClass(buffer);
  const parser = new ParserClass(
    {},
    {
      read: reader.read.bind(reader),
      error: (e) => (error = e),
      metadata: (m) => (meta = m),
      gamma: () => undefined,
      palette: (p) => meta && (meta.palette = p),
      transColor: (c) => meta && (meta.transColor = c),
      inflateData: (d) => idat.push(d),
      simpleTransparency: () => meta && (meta.alpha = true),
    },
  );
  parser.start();
  reader.process();
  if (error) throw error;
  if (!meta) throw new Error('no IHDR chunk');
  if (idat.length === 0) throw new Error('no pixel data (IDAT)');
  const expected = inflatedSize(meta);
  let inflated: Buffer;
  try {
    // The cap makes a zip bomb fail instead of allocating past the image's own size.
    inflated = inflateSync(Buffer.concat(idat), { maxOutputLength: Math.max(expected, 1) });
  } catch (cause) {
    if ((cause as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new Error(`pixel data inflates to more than the ${expected} bytes of a ${meta.width}x${meta.height} image`, { cause });
    throw new Error(`corrupt pixel data: ${(cause as Error).message}`, { cause });
  }
  if (inflated.length < expected) throw new Error(`truncated pixel data: ${inflated.length} of ${expected} bytes for ${meta.width}x${meta.height}`);
  const filtered = filterSync.process(inflated, meta);
  const data = formatNormaliser(bitmapper.dataToBitMap(filtered, meta), meta);
  return { width: meta.width, height: meta.height, data };
}

/** Refuses an image over the pixel limit (or with a zero side) before anything is allocated for it. */
export function checkPixels(width: number, height: number, maxPixels: number): void {
  if (!(width > 0 && height > 0)) throw new Error(`bad dimensions ${width}x${height}`);
  if (width * height > maxPixels) throw new Error(`${width}x${height} = ${width * height} pixels exceeds maxPixels=${maxPixels}`);
}
