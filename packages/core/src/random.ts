import { createToken, type InjectionToken } from './token.js';

/** Randomness (jitter, back-off spreading) behind an injectable source, so tests can fix it. */
export interface Random {
  /** A uniformly distributed number in [0, 1). */
  float(): number;
}
export const Random: InjectionToken<Random> = createToken<Random>('Random');

/** `Math.random()`. */
export const mathRandom: Random = { float: () => Math.random() };

/**
 * Adds up to `maxFactor * base` of random jitter to `base`, the way the kubelet's
 * `wait.Jitter` does: the result lies in [base, base * (1 + maxFactor)).
 */
export function jitter(base: number, maxFactor: number, random: Random = mathRandom): number {
  const factor = maxFactor <= 0 ? 1 : maxFactor;
  return base + random.float() * factor * base;
}
