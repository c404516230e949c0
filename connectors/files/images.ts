/** Images: PNG (pngjs) and JPEG (jpeg-js) decoding, resizing, channel selection, and folder-per-class datasets. */
import { lstat, readdir, readFile, realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import jpeg from 'jpeg-js';
import type { Observable } from 'rxjs';
import { scoped } from '../../src/flow.js';
import { CheckpointError, registerStage, withoutRegistry } from '../../src/state/registry.js';
import { InnerCursor, offerCursor } from '../../src/state/sources.js';
import { withSignal } from '../../src/abort.js';
import { RecordError, messageOf, type OnError } from '../../src/errors.js';
import type { NDArray } from '../../src/types.js';
import { linkTarget, selectFiles, walkFiles, type FileShard, type FollowSymlinks } from './listFiles.js';
import { decodeRgbaWithSharp, loadSharp, sharpLoadFailure } from './sharpDecode.js';
import { pullBatches } from './source.js';
import { checkPixels, decodePng } from './png.js';

/** Channels of a decoded image: 1 gray (ITU-R 601 luma, as tf.image.rgb_to_grayscale), 3 RGB, 4 RGBA. */
export type Channels = 1 | 3 | 4;

export interface DecodeImageOptions {
  /** Resize to `[height, width]` (bilinear, half-pixel centres like `tf.image.resize`). */
  readonly size?: readonly [number, number];
  /** Default 3. */
  readonly channels?: Channels;
  /** Where the bytes came from, for error messages. */
  readonly origin?: string;
  /**
   * Largest image accepted, in pixels (width × height), read from the header before anything is
   * decoded or allocated; a larger one is a RecordError. Default {@link MAX_PIXELS} (50 M: an
   * 8K photo; its RGBA pixels alone take 200 MB).
   */
  readonly maxPixels?: number;
}

/** Default `maxPixels`: 50 million pixels. */
export const MAX_PIXELS = 50_000_000;

/** Width and height from a JPEG's frame header (SOFn), scanning the marker segments before it; undefined when not found. */
export function jpegSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) return undefined;
    const marker = bytes[i + 1];
    // Fill bytes, and markers without a length (TEM, RSTn).
    if (marker === 0xff) {
      i++;
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    // Start of scan or end of image before any frame header: none to read.
    if (marker === 0xda || marker === 0xd9) return undefined;
    const length = (bytes[i + 2] << 8) | bytes[i + 3];
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) {
      if (i + 9 > bytes.length) return undefined;
      return { height: (bytes[i + 5] << 8) | bytes[i + 6], width: (bytes[i + 7] << 8) | bytes[i + 8] };
    }
    i += 2 + length;
  }
  return undefined;
}

/** A decoded image: row-major `[height, width, channels]` bytes. */
export type Image = NDArray<Uint8Array> & { readonly shape: readonly [number, number, number] };

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47];
const JPEG_MAGIC = [0xff, 0xd8];
const startsWith = (bytes: Uint8Array, magic: number[]): boolean => magic.every((b, i) => bytes[i] === b);

/**
 * Decodes PNG or JPEG bytes (told apart by their magic numbers) into pixels.
 *
 * ```
 * bytes ─pngjs / jpeg-js─▶ RGBA [h, w, 4] ─resize (bilinear)─▶ ─channels─▶ { data: Uint8Array, shape: [h, w, c] }
 * ```
 *
 * Anything else, or a corrupt file, is a {@link RecordError} naming `origin`.
 *
 * @example
 * ```ts
 * const { data, shape } = decodeImage(await readFile('cat.png'), { size: [32, 32], channels: 3 });
 * ```
 */
export function decodeImage(bytes: Uint8Array, options: DecodeImageOptions = {}): Image {
  const { channels = 3, size, origin, maxPixels = MAX_PIXELS } = options;
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new RangeError(`decodeImage: channels must be 1, 3 or 4, got ${String(channels)}`);
  if (!(maxPixels > 0)) throw new RangeError(`decodeImage: maxPixels must be > 0, got ${maxPixels}`);
  let rgba: Uint8Array;
  let width: number;
  let height: number;
  try {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (startsWith(bytes, PNG_MAGIC)) {
      const png = decodePng(buffer, maxPixels);
      ({ width, height } = png);
      rgba = png.data;
    } else if (startsWith(bytes, JPEG_MAGIC)) {
      const declared = jpegSize(bytes);
      if (declared) checkPixels(declared.width, declared.height, maxPixels);
      // jpeg-js's own limits back the header check up (its frame parsing checks them before allocating):
      // RGBA output plus the component planes take about 8 bytes a pixel.
      const img = jpeg.decode(buffer, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: maxPixels / 1e6, maxMemoryUsageInMB: Math.max(64, Math.ceil((maxPixels * 12) / 2 ** 20)) });
      ({ width, height } = img);
      rgba = img.data;
    } else {
      throw new Error('not a PNG or JPEG file');
    }
    if (!(width > 0 && height > 0) || rgba.length < width * height * 4) throw new Error(`bad dimensions ${width}x${height}`);
  } catch (error) {
    throw new RecordError(`cannot decode image: ${messageOf(error)}`, origin, { cause: error });
  }
  let [h, w] = [height, width];
  if (size && (size[0] !== h || size[1] !== w)) {
    rgba = resizeBilinear(rgba, h, w, size[0], size[1]);
    [h, w] = size;
  }
  return { data: selectChannels(rgba, h * w, channels), shape: [h, w, channels] };
}

/**
 * Which decoder reads images: `'sharp'` (libvips, an optional dependency: native, threaded, more
 * formats, JPEG shrink-on-load, antialiased resize), `'js'` (pngjs / jpeg-js: always there, resizes
 * like `tf.image.resize`), or `'auto'`: sharp where it loads, else js.
 */
export type ImageDecoder = 'auto' | 'sharp' | 'js';

/**
 * {@link decodeImage} with a choice of decoder; the output is the same `{ data, shape }`, the
 * pixels close but not equal across decoders (see `decodeRgbaWithSharp`). sharp decodes on libuv's
 * thread pool, so several calls at once (`parallelMap(decode, { concurrency: 4 })`) use several cores.
 *
 * @example
 * ```ts
 * const { data, shape } = await decodeImageAsync(bytes, { size: [224, 224], decoder: 'auto' });
 * ```
 */
export async function decodeImageAsync(bytes: Uint8Array, options: DecodeImageOptions & { readonly decoder?: ImageDecoder } = {}): Promise<Image> {
  const { decoder = 'auto', channels = 3, size, origin, maxPixels = MAX_PIXELS } = options;
  if (decoder !== 'auto' && decoder !== 'sharp' && decoder !== 'js') throw new RangeError(`decodeImage: decoder must be 'auto', 'sharp' or 'js', got ${String(decoder)}`);
  const sharp = decoder === 'js' ? undefined : await loadSharp();
  if (!sharp) {
    if (decoder === 'sharp') throw new Error(`decodeImage: decoder 'sharp' asked for, but sharp does not load here: ${messageOf(sharpLoadFailure())}`);
    return decodeImage(bytes, options);
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new RangeError(`decodeImage: channels must be 1, 3 or 4, got ${String(channels)}`);
  let decoded;
  try {
    decoded = await decodeRgbaWithSharp(sharp, bytes, size, maxPixels);
  } catch (error) {
    throw new RecordError(`cannot decode image: ${messageOf(error)}`, origin, { cause: error });
  }
  const { rgba, height, width } = decoded;
  return { data: selectChannels(rgba, height * width, channels), shape: [height, width, channels] };
}

/**
 * Bilinear resize of RGBA pixels with half-pixel centres (`tf.image.resize`'s default in TF 2):
 * output pixel centre (y + 0.5) · inH / outH − 0.5, clamped at the edges. Downscaling by large
 * factors aliases, as in TensorFlow without `antialias`.
 */
export function resizeBilinear(src: Uint8Array, inH: number, inW: number, outH: number, outW: number): Uint8Array {
  if (!(Number.isInteger(outH) && Number.isInteger(outW) && outH >= 1 && outW >= 1)) throw new RangeError(`resize: size must be positive integers, got [${outH}, ${outW}]`);
  const out = new Uint8Array(outH * outW * 4);
  const sy = inH / outH;
  const sx = inW / outW;
  for (let y = 0; y < outH; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), inH - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, inH - 1);
    const dy = fy - y0;
    for (let x = 0; x < outW; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), inW - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, inW - 1);
      const dx = fx - x0;
      const a = (y0 * inW + x0) * 4;
      const b = (y0 * inW + x1) * 4;
      const c = (y1 * inW + x0) * 4;
      const d = (y1 * inW + x1) * 4;
      const o = (y * outW + x) * 4;
      for (let k = 0; k < 4; k++) {
        const top = src[a + k] + (src[b + k] - src[a + k]) * dx;
        const bottom = src[c + k] + (src[d + k] - src[c + k]) * dx;
        out[o + k] = Math.round(top + (bottom - top) * dy);
      }
    }
  }
  return out;
}

function selectChannels(rgba: Uint8Array, pixels: number, channels: Channels): Uint8Array {
  if (channels === 4) return rgba.length === pixels * 4 ? rgba : rgba.slice(0, pixels * 4);
  const out = new Uint8Array(pixels * channels);
  for (let i = 0; i < pixels; i++) {
    const r = rgba[i * 4];
    const g = rgba[i * 4 + 1];
    const b = rgba[i * 4 + 2];
    if (channels === 1) {
      out[i] = Math.round(0.2989 * r + 0.587 * g + 0.114 * b);
    } else {
      out[i * 3] = r;
      out[i * 3 + 1] = g;
      out[i * 3 + 2] = b;
    }
  }
  return out;
}

export interface ImageFolderOptions {
  /** Resize every image to `[height, width]` (needed to batch images of different sizes). */
  readonly size?: readonly [number, number];
  /** Default 3. */
  readonly channels?: Channels;
  /** File extensions read. Default `.png`, `.jpg`, `.jpeg`. */
  readonly extensions?: readonly string[];
  /** Only this worker's share of the sorted file list. */
  readonly shard?: FileShard;
  /** `'skip'`: an undecodable image is skipped and counted. Default `'fail'`. */
  readonly onError?: OnError;
  /** The class names in index order; default the sorted sub-folder names of `root`. Each must be a plain folder name (no `/`, `\\`, `..`, absolute path): a RangeError otherwise. */
  readonly classes?: readonly string[];
  /** Symbolic links followed (class folders and below): default `'within'`, only links leading inside `root`. See `listFiles`. */
  readonly followSymlinks?: FollowSymlinks;
  /** Largest image decoded, in pixels; a larger one is a RecordError (or skipped). Default 50 M (see `decodeImage`). */
  readonly maxPixels?: number;
  /** The source's name in pipeline statistics. Default `fromImageFolder`. */
  readonly name?: string;
  /** Which decoder reads the images (see {@link ImageDecoder}). Default `'auto'`. */
  readonly decoder?: ImageDecoder;
  /** Aborting fails the source with an `AbortError` naming it and cancels the file read in flight. */
  readonly signal?: AbortSignal;
}

/** One labelled image (a type alias, not an interface, so that `batch` stacks it field by field). */
export type LabelledImage = {
  readonly image: Image;
  /** The class index: the position of `labelName` in the sorted class list. */
  readonly label: number;
  readonly labelName: string;
  readonly path: string;
};

/**
 * The class names of an image folder: its sub-folders, sorted (the index of each is its label).
 * A symbolic link to a folder counts as a class when `followSymlinks` lets it be followed
 * (default: only when it leads inside `root`), the same rule as for folders further down.
 */
export async function imageFolderClasses(root: string, followSymlinks: FollowSymlinks = 'within'): Promise<string[]> {
  const realRoot = await realpath(root);
  const entries = await readdir(root, { withFileTypes: true });
  const classes: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    if (entry.isDirectory()) classes.push(entry.name);
    else if (entry.isSymbolicLink() && (await linkTarget(join(root, entry.name), followSymlinks, realRoot))?.isDirectory) classes.push(entry.name);
  }
  return classes.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A class name must name one folder directly inside the root: no separators, no `..`, not absolute. */
function checkClassName(name: unknown): void {
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\\') || name.includes('\0') || isAbsolute(name)) {
    throw new RangeError(`fromImageFolder: class ${JSON.stringify(name)} is not a folder name inside the root (no '/', '\\', '..' or absolute paths)`);
  }
}

/** The image files of one class folder, as the link policy allows; a class folder that is a refused link is an error. */
async function classFiles(root: string, realRoot: string, name: string, followSymlinks: FollowSymlinks): Promise<string[]> {
  const dir = join(root, name);
  const info = await lstat(dir).catch(() => undefined);
  if (!info) throw new Error(`fromImageFolder: no folder for class '${name}': ${dir}`);
  let real: string;
  if (info.isSymbolicLink()) {
    const target = await linkTarget(dir, followSymlinks, realRoot);
    if (!target?.isDirectory) throw new Error(`fromImageFolder: class folder ${dir} is a symbolic link that followSymlinks=${String(followSymlinks)} does not follow (or a dangling one)`);
    real = target.real;
  } else if (info.isDirectory()) {
    real = join(realRoot, name);
  } else {
    throw new Error(`fromImageFolder: class '${name}' is not a folder: ${dir}`);
  }
  // Links below are checked against the image folder's root, not the class folder's.
  return walkFiles(dir, { followSymlinks, realRoot, realDir: real });
}

/** What `fromImageFolder` saves in a pipeline checkpoint: the index of the next file in the sorted (sharded) list, and the path before it (checked on restore). */
interface ImageFolderState {
  readonly mode: 'fileIndex';
  readonly next: number;
  readonly path: string | undefined;
}

/**
 * Reads a directory tree where each sub-folder of `root` is a class (Keras'
 * `image_dataset_from_directory` layout) as labelled, decoded images, one file per demand.
 *
 * ```
 * root/cat/1.png, root/cat/2.jpg, root/dog/3.png
 *   ──▶ { image: {data, shape: [h, w, c]}, label: 0, labelName: 'cat', path } …   (sorted by path)
 * ```
 *
 * Classes are the sorted sub-folder names, so the mapping is the same on every run and machine;
 * files are visited in sorted path order (shuffle downstream). Images nested deeper take the
 * label of their top-level folder.
 *
 * @example
 * ```ts
 * fromImageFolder('data/flowers', { size: [64, 64], channels: 3 })
 *   .pipe(map(({ image, label }) => ({ xs: image, ys: label })), shuffle(500), batch(32));
 * ```
 */
export function fromImageFolder(root: string, options: ImageFolderOptions = {}): Observable<LabelledImage> {
  const { size, channels = 3, extensions = ['.png', '.jpg', '.jpeg'], shard, onError = 'fail', maxPixels, followSymlinks = 'within' } = options;
  // Class names come from data (a config, a labels file): one naming '../x' would read outside the root.
  options.classes?.forEach(checkClassName);
  const key = {};
  const { signal } = options;
  const name = options.name ?? 'fromImageFolder';
  const images = pullBatches<LabelledImage>(key, name, (stage, cursor) =>
    (async function* () {
      const classes = options.classes ? [...options.classes] : await imageFolderClasses(root, followSymlinks);
      const index = new Map(classes.map((c, i) => [c, i]));
      const realRoot = await realpath(root);
      const absoluteRoot = resolve(root);
      const all: string[] = [];
      for (const name of classes) for (const file of await classFiles(root, realRoot, name, followSymlinks)) all.push(resolve(file));
      const files = selectFiles(all, { shard, extensions });
      // Resumable: the position is the number of files done when the last image was handed on.
      const saved = cursor?.restored as ImageFolderState | undefined;
      const first = saved?.next ?? 0;
      if (saved && first > 0 && files[first - 1] !== saved.path) {
        throw new CheckpointError(`restore: ${name}: file #${first - 1} is ${JSON.stringify(files[first - 1])}, the checkpoint has ${JSON.stringify(saved.path)} (the folder changed since)`);
      }
      if (cursor) cursor.describe = (next): ImageFolderState => ({ mode: 'fileIndex', next, path: files[next - 1] });
      for (let k = first; k < files.length; k++) {
        const path = files[k];
        const labelName = relative(absoluteRoot, path).split(sep)[0];
        const label = index.get(labelName)!;
        let image: Image;
        try {
          const bytes = await readFile(path, { signal });
          stage.extra.bytesRead = (stage.extra.bytesRead ?? 0) + bytes.length;
          image = await decodeImageAsync(bytes, { size, channels, origin: path, maxPixels, decoder: options.decoder });
        } catch (error) {
          // A read cancelled by the signal is no bad image: the source is already failing.
          if (signal?.aborted) throw error;
          const failure = error instanceof RecordError ? error : new RecordError(`cannot read image: ${messageOf(error)}`, path, { cause: error });
          if (onError === 'skip') {
            stage.skip(failure);
            continue;
          }
          throw failure;
        }
        if (cursor) {
          cursor.ends[0] = k + 1;
          cursor.lines[0] = 0;
        }
        yield [{ image, label, labelName, path }];
      }
    })(),
  );
  // In a resumable pipeline: a source stage whose state is the file index (InnerCursor carries it out of the reader).
  const resumableImages = scoped<LabelledImage>((subscriber) => {
    const box: { cursor?: InnerCursor } = {};
    const handle = registerStage({
      kind: 'fromImageFolder',
      name,
      role: 'source',
      save: (): ImageFolderState | undefined => {
        const cursor = box.cursor;
        // Nothing handed on since a restore (or a fresh start): the position it started from.
        return cursor?.describe && handle!.out > 0 ? (cursor.describe(cursor.offset, 0) as ImageFolderState) : (handle!.restored as ImageFolderState | undefined);
      },
    });
    if (!handle) return images.subscribe(subscriber);
    const cursor = new InnerCursor(handle.restored);
    box.cursor = cursor;
    const target = handle.emitter(subscriber);
    return withoutRegistry(() => offerCursor(cursor, () => images.subscribe(target)));
  });
  return withSignal(resumableImages, signal, `fromImageFolder(${root})`);
}
