/** Seeded pseudo-random numbers (mulberry32): small, fast, and the same sequence on every platform. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes a base seed with an epoch number into a new, well-spread seed (splitmix32 finaliser). */
export function mixSeed(seed: number, epoch: number): number {
  let h = (seed ^ Math.imul(epoch + 1, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export function randomSeed(): number {
  return (Math.random() * 2 ** 32) >>> 0;
}

/** mulberry32 with its state readable and settable, so a shuffle can save and restore its place in the sequence. */
export class Mulberry32 {
  /** The generator's whole state: the same value gives the same sequence from here on. */
  state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    const a = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
