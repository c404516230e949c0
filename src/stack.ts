/**
 * Stacking elements into batches of typed arrays, and back: the one structure walker behind
 * `batch`, `paddedBatch`, `raggedBatch` and `unbatch`, so all four read an element the same way.
 * One allocation per feature per batch, one copy per element: a batch then becomes a tensor with
 * one more copy. The rule (docs/batching.md):
 *
 * - a number is a scalar (float32 unless a `dtype` says otherwise), a boolean a uint8 scalar;
 * - a typed array is a rank-1 tensor of its own type, an NDArray (`{ data, shape }`) a tensor;
 * - a JS array whose items are all numbers (or all booleans), or all such arrays of one shape,
 *   is a tensor; any other array (`[1, 'foo']`, `[i, Float32Array]`) is a tuple, batched item
 *   by item, as is any array marked with `tuple(...)`;
 * - a plain object is a struct, batched field by field (own enumerable keys only);
 * - anything else (strings, null, Dates) is collected into a plain array.
 *
 * The walker lives in `src/stack/`, one job per module: `walk.ts` (where in an element, and how a
 * fault there is named), `dtype.ts` (typed-array classes, dtype specs, exact storage), `nested.ts`
 * (nested JS arrays as tensors), `fields.ts` (objects read into columns: the records hot path),
 * `stack.ts` (`stack`), `pad.ts` (`padStack`), `ragged.ts` (`raggedStack`), `unstack.ts`
 * (`unstack`, `batchSize`). No code is generated at run time (`new Function`, `eval`): it runs
 * under `--disallow-code-generation-from-strings` and a CSP without `unsafe-eval`
 * (test/stack-csp.test.ts).
 */
export { isPlainObject } from './stack/walk.js';
export { nestedInfo } from './stack/nested.js';
export { stack, type StackOptions } from './stack/stack.js';
export { padStack, type PaddedShapes, type PadValues, type PadOptions } from './stack/pad.js';
export { raggedStack } from './stack/ragged.js';
export { unstack, batchSize } from './stack/unstack.js';
