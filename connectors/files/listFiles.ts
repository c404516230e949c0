/** Which files a pattern list names: paths, directories and globs, sorted, optionally sharded. */
import picomatch from 'picomatch';
import { readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, posix, relative, resolve, sep } from 'node:path';

/** One part of the file list per worker: worker `index` of `count` reads files index, index+count, … */
export interface FileShard {
  readonly count: number;
  readonly index: number;
}

/**
 * Which symbolic links a directory walk follows: `'within'` (default) only those whose real
 * target lies inside the real path of the directory being listed (a glob's base directory), so
 * a link cannot make rxdata read files outside the tree it was pointed at; `true` every link;
 * `false` none. In every case a directory is never entered again below itself (a link loop),
 * and dangling links are ignored.
 */
export type FollowSymlinks = boolean | 'within';

export interface ListFilesOptions {
  /** Only this worker's share of the (sorted) file list. */
  readonly shard?: FileShard;
  /** Reading a directory: only files with these extensions (e.g. `['.png', '.jpg']`). Default: all. */
  readonly extensions?: readonly string[];
  /** See {@link FollowSymlinks}. Default `'within'`. */
  readonly followSymlinks?: FollowSymlinks;
}

/** Whether real path `path` is `root` or below it. */
export function isWithin(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** Options of one walk: how links are followed, the real path they must stay under, how deep to go. */
export interface WalkOptions {
  readonly followSymlinks: FollowSymlinks;
  /** Real path of the tree's root (for `'within'`). */
  readonly realRoot: string;
  /** Real path of `dir` itself, when known. */
  readonly realDir?: string;
  /** Levels below `dir` to descend (1: its own entries only). Default unlimited. */
  readonly maxDepth?: number;
}

/**
 * The files below directory `dir` (paths built from `dir`, through the links followed), skipping
 * names that start with a dot. Entries are visited in sorted order. `ancestors` holds the real
 * paths of the directories above (loop detection).
 */
export async function walkFiles(dir: string, options: WalkOptions): Promise<string[]> {
  const out: string[] = [];
  const { followSymlinks, realRoot, maxDepth = Infinity } = options;
  const visit = async (logical: string, real: string, ancestors: ReadonlySet<string>, depth: number): Promise<void> => {
    if (ancestors.has(real)) return;
    const below = new Set(ancestors).add(real);
    const entries = await readdir(logical, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const path = join(logical, entry.name);
      if (entry.isFile()) {
        out.push(path);
      } else if (entry.isDirectory()) {
        if (depth < maxDepth) await visit(path, join(real, entry.name), below, depth + 1);
      } else if (entry.isSymbolicLink() && followSymlinks !== false) {
        const target = await linkTarget(path, followSymlinks, realRoot);
        if (!target) continue;
        if (target.isFile) out.push(path);
        else if (target.isDirectory && depth < maxDepth) await visit(path, target.real, below, depth + 1);
      }
    }
  };
  await visit(dir, options.realDir ?? (await realpath(dir)), new Set(), 1);
  return out;
}

/** Where a link leads, if the policy lets it be followed; undefined for a dangling link or one it refuses. */
export async function linkTarget(path: string, followSymlinks: FollowSymlinks, realRoot: string): Promise<{ real: string; isFile: boolean; isDirectory: boolean } | undefined> {
  if (followSymlinks === false) return undefined;
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    return undefined;
  }
  if (followSymlinks === 'within' && !isWithin(real, realRoot)) return undefined;
  const info = await stat(real).catch(() => undefined);
  if (!info) return undefined;
  return { real, isFile: info.isFile(), isDirectory: info.isDirectory() };
}

/** Files matching a glob pattern: the tree below its base directory walked like a directory, paths matched with picomatch. */
async function globFiles(pattern: string, followSymlinks: FollowSymlinks): Promise<string[]> {
  // Paths are built with path.join, which normalises: so is the pattern.
  const normalised = posix.normalize(pattern.split('\\').join('/'));
  const { base, glob } = picomatch.scan(normalised);
  const root = base === '' ? '.' : base;
  const info = await stat(root).catch(() => undefined);
  if (!info?.isDirectory()) return [];
  // A pattern without ** matches at a fixed depth: walk no deeper than its segments.
  const maxDepth = glob.includes('**') ? Infinity : glob.split('/').length;
  const isMatch = picomatch(normalised, { dot: false });
  const files = await walkFiles(root, { followSymlinks, realRoot: await realpath(root), maxDepth });
  return files.filter((f) => isMatch(base === '' ? relative('.', f).split(sep).join('/') : f.split(sep).join('/')));
}

/**
 * Lists the files `patterns` name, in a stable order: each entry is a file path, a directory
 * (every file below it, recursively) or a glob pattern. The list is deduplicated and sorted by
 * path, so every worker sees the same order, then sharded at the file level. Names starting with
 * a dot are skipped below a directory or glob. Symbolic links are followed as `followSymlinks`
 * says (default: only those staying inside the directory listed); a path named explicitly is
 * always read.
 *
 * ```
 * ['data/b.csv', 'data/*.csv'] ──▶ [data/a.csv, data/b.csv, data/c.csv] ──shard {2, 1}──▶ [data/b.csv]
 * ```
 *
 * @example
 * ```ts
 * await listFiles(['shards/train-*.tfrecord'], { shard: { count: workers, index: rank } });
 * ```
 */
export async function listFiles(patterns: string | readonly string[], options: ListFilesOptions = {}): Promise<string[]> {
  const list = typeof patterns === 'string' ? [patterns] : patterns;
  const { followSymlinks = 'within' } = options;
  const found = new Set<string>();
  for (const pattern of list) {
    const info = await stat(pattern).catch(() => undefined);
    if (info?.isFile()) {
      found.add(resolve(pattern));
    } else if (info?.isDirectory()) {
      for (const file of await walkFiles(pattern, { followSymlinks, realRoot: await realpath(pattern) })) found.add(resolve(file));
    } else if (picomatch.scan(pattern.split('\\').join('/')).isGlob) {
      for (const file of await globFiles(pattern, followSymlinks)) found.add(resolve(file));
    } else {
      throw new Error(`listFiles: no such file or directory: ${pattern}`);
    }
  }
  return selectFiles([...found], options);
}

/** The extension filter, the stable sort and the shard of {@link listFiles}, on absolute paths. */
export function selectFiles(all: string[], options: Pick<ListFilesOptions, 'extensions' | 'shard'>): string[] {
  let files = all;
  const { extensions } = options;
  if (extensions) files = files.filter((f) => extensions.some((e) => f.toLowerCase().endsWith(e.toLowerCase())));
  // Code-unit order, not locale order: the same on every machine.
  files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const { shard } = options;
  if (shard) {
    const { count, index } = shard;
    if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`shard.count must be an integer >= 1, got ${count}`);
    if (!(Number.isInteger(index) && index >= 0 && index < count)) throw new RangeError(`shard.index must be an integer in [0, ${count}), got ${index}`);
    files = files.filter((_, i) => i % count === index);
  }
  return files;
}
