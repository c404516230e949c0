/**
 * A piecewise-constant quantity integrated over time: how many calls were running, whether a
 * stage was blocked… A stage sets it at its own state changes (cheap: a compare, and a
 * multiply when it changes); the tuner reads the integral at its ticks, so the mean over any
 * window is exact, not sampled.
 */
export class Level {
  /** The value now. */
  private value = 0;
  /** When it took that value. */
  private since: number;
  /** ∫ value dt up to `since`. */
  private area = 0;

  constructor(now: number) {
    this.since = now;
  }

  get current(): number {
    return this.value;
  }

  set(value: number, now: number): void {
    if (value === this.value) return;
    this.area += this.value * (now - this.since);
    this.value = value;
    this.since = now;
  }

  /** ∫ value dt from creation up to `now`. */
  total(now: number): number {
    return this.area + this.value * (now - this.since);
  }
}
