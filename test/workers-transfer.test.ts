import test from 'ava';
import { prepareTransfer } from '../src/workers/transfer.js';

test('prepareTransfer lists whole buffers once, compacts partial views, leaves shared memory and plain values', (t) => {
  const whole = new Float32Array(4);
  const batch = new Int32Array(10);
  const part = batch.subarray(2, 5);
  const shared = new Uint8Array(new SharedArrayBuffer(8));
  const pooled = Buffer.from('pooled bytes');
  const element = { x: { data: whole, shape: [2, 2] }, again: new Uint8Array(whole.buffer), part, shared, pooled, label: 3, names: ['a', 'b'], nested: [[whole]] };
  const prepared = prepareTransfer(element);
  const out = prepared.value as typeof element;
  t.deepEqual(prepared.transfer.length, 3, 'whole, the compact copy of part, the compact copy of pooled');
  t.true(prepared.transfer.includes(whole.buffer as ArrayBuffer));
  t.is(out.x.data, whole, 'a whole-buffer view is kept as is');
  t.is(out.nested[0][0], whole);
  t.not(out.part, part);
  t.deepEqual([...out.part], [...part]);
  t.is(out.part.buffer.byteLength, 12, 'the copy owns just its bytes');
  t.is(out.shared, shared, 'shared memory is left to be shared');
  t.false(Buffer.isBuffer(out.pooled));
  t.is(Buffer.from(out.pooled).toString(), 'pooled bytes');
  t.is(out.label, 3);
  t.is(out.names, element.names, 'containers without replacements are not copied');
  t.not(out, element, 'a container with a replacement is copied…');
  t.is(element.part, part, '…and the original is untouched');
  t.is(prepared.movedBytes, 16 + 12 + pooled.byteLength);
  t.is(prepared.copiedBytes, 12 + pooled.byteLength);
});

test('prepareTransfer with move false lists nothing but still compacts; a moved buffer is an error', (t) => {
  const part = new Float64Array(8).subarray(1, 3);
  const prepared = prepareTransfer([part, new Float32Array(2)], false);
  t.deepEqual(prepared.transfer, []);
  t.is((prepared.value as Float64Array[])[0].buffer.byteLength, 16);
  const moved = new Float32Array(4);
  structuredClone(moved, { transfer: [moved.buffer] });
  t.throws(() => prepareTransfer({ moved }), { instanceOf: TypeError, message: /moved to another thread already/ });
  t.notThrows(() => prepareTransfer(new Float32Array(0)), 'an empty array is not a moved one');
});
