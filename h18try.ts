import { lastValueFrom, toArray, range, map } from 'rxjs';
import { fromFiles, writeParquet } from './src/index.js';
await lastValueFrom(range(0, 25).pipe(map((i) => ({ id: i, x: i / 2, xs: new Float32Array([i, i + 1]), name: `n${i}`, ok: i % 2 === 0, p: { a: i, s: 'q' }, tags: ['a', 'b'].slice(0, i % 3) })), writeParquet('/tmp/h18w2.parquet', { rowGroupSize: 10, codec: 'gzip' }), toArray()));
console.log((await lastValueFrom(fromFiles('/tmp/h18w2.parquet', { format: 'parquet' }).pipe(toArray()))).slice(0, 3));
