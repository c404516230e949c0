/** Symbolic links in listed trees: loops are never followed, links leading outside are followed only when allowed. */
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PNG } from 'pngjs';
import { fromFiles, fromImageFolder, imageFolderClasses, listFiles } from '../src/index.js';
import { collect } from './helpers.js';

const base = mkdtempSync(join(tmpdir(), 'rxdata-links-'));
test.after.always(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

/**
 * root/a/x.txt, root/b/y.txt, root/c.txt → a/x.txt (file link inside), root/a/loop → root,
 * root/b/deeper/up → root/b (loops), root/out → outside/ (outside), root/dangling → nowhere.
 */
function tree(): { root: string; outside: string } {
  const dir = join(base, `t${n++}`);
  const root = join(dir, 'root');
  const outside = join(dir, 'outside');
  mkdirSync(join(root, 'a'), { recursive: true });
  mkdirSync(join(root, 'b', 'deeper'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(root, 'a', 'x.txt'), 'x\n');
  writeFileSync(join(root, 'b', 'y.txt'), 'y\n');
  writeFileSync(join(outside, 'secret.txt'), 'secret\n');
  symlinkSync(join(root, 'a', 'x.txt'), join(root, 'c.txt'));
  symlinkSync(root, join(root, 'a', 'loop'));
  symlinkSync('..', join(root, 'b', 'deeper', 'up'));
  symlinkSync(outside, join(root, 'out'));
  symlinkSync(join(dir, 'nowhere'), join(root, 'dangling'));
  return { root, outside };
}

const rel = (root: string, files: string[]): string[] => files.map((f) => relative(root, f));

test('listFiles: by default links are followed only inside the root, loops never, dangling links ignored', async (t) => {
  const { root } = tree();
  t.deepEqual(rel(root, await listFiles(root)), ['a/x.txt', 'b/y.txt', 'c.txt']);
  t.deepEqual(rel(root, await listFiles(root, { followSymlinks: 'within' })), ['a/x.txt', 'b/y.txt', 'c.txt']);
  // A glob walks the same way from its base.
  t.deepEqual(rel(root, await listFiles(join(root, '**/*.txt'))), ['a/x.txt', 'b/y.txt', 'c.txt']);
  t.deepEqual(rel(root, await listFiles(join(root, '*.txt'))), ['c.txt']);
});

test('listFiles: followSymlinks true reads outside the root but still never loops; false follows nothing', async (t) => {
  const { root } = tree();
  t.deepEqual(rel(root, await listFiles(root, { followSymlinks: true })), ['a/x.txt', 'b/y.txt', 'c.txt', 'out/secret.txt']);
  t.deepEqual(rel(root, await listFiles(join(root, '**/*.txt'), { followSymlinks: true })), ['a/x.txt', 'b/y.txt', 'c.txt', 'out/secret.txt']);
  t.deepEqual(rel(root, await listFiles(root, { followSymlinks: false })), ['a/x.txt', 'b/y.txt']);
  // fromFiles passes the option on: the records of the files listed, each once.
  t.deepEqual(await collect(fromFiles(root, { format: 'lines' })), ['x', 'y', 'x']);
  t.deepEqual(await collect(fromFiles(root, { format: 'lines', followSymlinks: true })), ['x', 'y', 'x', 'secret']);
});

test('listFiles: a loop of links between two folders ends (each folder entered once per path)', async (t) => {
  const dir = join(base, `t${n++}`);
  mkdirSync(join(dir, 'p'), { recursive: true });
  mkdirSync(join(dir, 'q'));
  writeFileSync(join(dir, 'p', '1.txt'), '1');
  writeFileSync(join(dir, 'q', '2.txt'), '2');
  symlinkSync(join(dir, 'q'), join(dir, 'p', 'to-q'));
  symlinkSync(join(dir, 'p'), join(dir, 'q', 'to-p'));
  const files = rel(dir, await listFiles(dir, { followSymlinks: true }));
  // p/to-q/to-p is p again (an ancestor): not entered. 4 entries, not the 40 levels an OS allows.
  t.deepEqual(files, ['p/1.txt', 'p/to-q/2.txt', 'q/2.txt', 'q/to-p/1.txt']);
});

function png(): Buffer {
  const image = new PNG({ width: 2, height: 2 });
  image.data.fill(255);
  return PNG.sync.write(image);
}

test('fromImageFolder: top-level and nested class links follow the same rule; a loop does not duplicate images', async (t) => {
  const dir = join(base, `t${n++}`);
  const root = join(dir, 'images');
  const outside = join(dir, 'elsewhere');
  mkdirSync(join(root, 'cat', 'sub'), { recursive: true });
  mkdirSync(join(outside, 'dogs'), { recursive: true });
  mkdirSync(join(outside, 'more-cats'), { recursive: true });
  writeFileSync(join(root, 'cat', '1.png'), png());
  writeFileSync(join(root, 'cat', 'sub', '2.png'), png());
  writeFileSync(join(outside, 'dogs', 'd.png'), png());
  writeFileSync(join(outside, 'more-cats', 'm.png'), png());
  symlinkSync(join(root, 'cat'), join(root, 'cat', 'loop')); // a loop
  symlinkSync(join(root, 'cat', 'sub'), join(root, 'kitten')); // top-level, inside
  symlinkSync(join(outside, 'dogs'), join(root, 'dog')); // top-level, outside
  symlinkSync(join(outside, 'more-cats'), join(root, 'cat', 'more')); // nested, outside
  const list = async (options: { followSymlinks?: boolean | 'within' }): Promise<string[]> =>
    (await collect(fromImageFolder(root, options))).map((i) => `${i.labelName}:${relative(root, i.path)}`);
  t.deepEqual(await imageFolderClasses(root), ['cat', 'kitten']);
  t.deepEqual(await list({}), ['cat:cat/1.png', 'cat:cat/sub/2.png', 'kitten:kitten/2.png']);
  t.deepEqual(await imageFolderClasses(root, true), ['cat', 'dog', 'kitten']);
  t.deepEqual(await list({ followSymlinks: true }), ['cat:cat/1.png', 'cat:cat/more/m.png', 'cat:cat/sub/2.png', 'dog:dog/d.png', 'kitten:kitten/2.png']);
  t.deepEqual(await imageFolderClasses(root, false), ['cat']);
  t.deepEqual(await list({ followSymlinks: false }), ['cat:cat/1.png', 'cat:cat/sub/2.png']);
  // A class named explicitly whose folder is a refused link: a clear error, not an empty class.
  await t.throwsAsync(collect(fromImageFolder(root, { classes: ['cat', 'dog'] })), { message: /class folder .*dog is a symbolic link that followSymlinks=within does not follow/ });
});

test('fromImageFolder: class names with .., separators or absolute paths are refused', (t) => {
  const root = join(base, `t${n++}`);
  for (const bad of ['..', '../elsewhere', 'a/b', 'a\\b', '/etc', '.', '']) {
    t.throws(() => fromImageFolder(root, { classes: ['ok', bad] }), { instanceOf: RangeError, message: /is not a folder name inside the root/ }, bad);
  }
});
