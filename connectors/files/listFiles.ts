/** Which files a pattern list names: paths, directories and globs, sorted, optionally sharded. */
import fg from 'fast-glob';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** One part of the file list per worker: worker `index` of `count` reads files index, index+count, … */
export interface FileShard {
  readonly count: number;
  readonly index: number;
}

export interface ListFilesOptions {
  /** Only this worker's share of the (sorted) file list. */
  readonly shard?: FileShard;
  /** Reading a directory: only files with these extensions (e.g. `['.png', '.jpg']`). Default: all. */
  readonly extensions?: readonly string[];
}

const escapeGlob = (path: string): string => fg.escapePath(path.split('\\').join('/'));

/**
 * Lists the files `patterns` name, in a stable order: each entry is a file path, a directory
 * (every file below it, recursively) or a fast-glob pattern. The list is deduplicated and
 * sorted by path, so every worker sees the same order, then sharded at the file level.
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
  const found = new Set<string>();
  for (const pattern of list) {
    const info = await stat(pattern).catch(() => undefined);
    if (info?.isFile()) {
      found.add(resolve(pattern));
    } else if (info?.isDirectory()) {
      for (const file of await fg(join(escapeGlob(pattern), '**/*').split('\\').join('/'), { onlyFiles: true, absolute: true, dot: false })) found.add(resolve(file));
    } else if (fg.isDynamicPattern(pattern)) {
      for (const file of await fg(pattern, { onlyFiles: true, absolute: true })) found.add(resolve(file));
    } else {
      throw new Error(`listFiles: no such file or directory: ${pattern}`);
    }
  }
  let files = [...found];
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
