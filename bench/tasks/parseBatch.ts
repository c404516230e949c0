/**
 * Scenario 4's worker task: parses a batch of optdigits CSV lines into one float32 buffer,
 * features first ([n, 64], scaled to [0, 1]) then one-hot labels ([n, 10]); the buffer moves
 * back to the main thread.
 */
import { move } from 'piscina';

export const FEATURES = 64;
export const CLASSES = 10;

export function parseLines(lines: readonly string[]): Float32Array {
  const n = lines.length;
  const out = new Float32Array(n * (FEATURES + CLASSES));
  for (let r = 0; r < n; r++) {
    const line = lines[r];
    let start = 0;
    for (let i = 0; i < FEATURES; i++) {
      const end = line.indexOf(',', start);
      out[r * FEATURES + i] = Number(line.slice(start, end)) / 16;
      start = end + 1;
    }
    out[n * FEATURES + r * CLASSES + Number(line.slice(start))] = 1;
  }
  return out;
}

/** Takes the batch's lines, or the lines joined by newlines (one string clones faster than many). */
export default function task(lines: readonly string[] | string): Float32Array {
  return move(parseLines(typeof lines === 'string' ? lines.split('\n') : lines)) as Float32Array;
}
