import test from 'ava';
import { CommitTracker } from '../connectors/kafka/tracker.js';

test('the commit watermark advances only over contiguous acknowledged offsets', (t) => {
  const tracker = new CommitTracker();
  for (const o of [5n, 6n, 7n, 8n, 9n]) tracker.emitted('t', 0, o);
  tracker.emitted('t', 1, 0n);
  tracker.ack('t', 0, 6n);
  tracker.ack('t', 0, 8n);
  t.deepEqual(tracker.due(), []);
  tracker.ack('t', 0, 5n);
  t.deepEqual(tracker.due().map((d) => [d.topic, d.partition, d.offset]), [['t', 0, '7']]);
  tracker.committedAt('t', 0, 7n);
  t.deepEqual(tracker.due(), []);
  tracker.ack('t', 0, 7n);
  t.deepEqual(tracker.due().map((d) => d.offset), ['9']);
  t.is(tracker.outstanding, 2);
  // Duplicate and stale acks change nothing.
  tracker.ack('t', 0, 7n);
  tracker.ack('t', 0, 1n);
  t.is(tracker.outstanding, 2);
  tracker.forget('t', 1);
  t.is(tracker.outstanding, 1);
  tracker.ack('t', 1, 0n);
  t.deepEqual(tracker.partitions(), ['t/0']);
});
