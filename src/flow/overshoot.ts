/**
 * The limit for producers that ignore demand (a plain RxJS source, a hot Subject): a stage of
 * ours keeps what they push beyond its own bound up to {@link MAX_OVERSHOOT}, then fails with a
 * `LimitError` instead of growing without end. Sources of ours never come near it.
 */
import { LimitError } from '../errors.js';

/** Elements a stage of ours keeps for a producer that ignores demand beyond its own bound. */
export const MAX_OVERSHOOT = 10_000;

/** The error a stage fails with when a producer that ignores demand overran it by {@link MAX_OVERSHOOT}. */
export function overshootError(stage: string): LimitError {
  return new LimitError(`${stage}: a producer that ignores demand pushed more than ${MAX_OVERSHOOT} elements past this stage's bound (put prefetch, lossy(n), or a pushSource with an overflow policy in front of it)`);
}
