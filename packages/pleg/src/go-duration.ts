const nsPerUs = 1_000;
const nsPerMs = 1_000_000;
const nsPerS = 1_000_000_000;

/** `value / unit` printed with up to the unit's precision, trailing zeros trimmed (Go style). */
function fixed(ns: number, unit: number, digits: number): string {
  const whole = Math.floor(ns / unit);
  const frac = ns - whole * unit;
  if (frac === 0) return String(whole);
  const fracText = String(frac).padStart(digits, '0').replace(/0+$/, '');
  return `${whole}.${fracText}`;
}

/**
 * Formats a duration given in milliseconds the way Go's `time.Duration.String()`
 * does, as the kubelet prints durations in messages: `3m5s`, `3m0s`, `1h0m0s`,
 * `1.5s`, `250ms`, `0s`. Sub-nanosecond parts are rounded away.
 */
export function formatGoDuration(ms: number): string {
  let ns = Math.round(ms * nsPerMs);
  if (ns === 0) return '0s';
  const sign = ns < 0 ? '-' : '';
  ns = Math.abs(ns);
  if (ns < nsPerUs) return `${sign}${ns}ns`;
  if (ns < nsPerMs) return `${sign}${fixed(ns, nsPerUs, 3)}µs`;
  if (ns < nsPerS) return `${sign}${fixed(ns, nsPerMs, 6)}ms`;
  const hours = Math.floor(ns / (3600 * nsPerS));
  ns -= hours * 3600 * nsPerS;
  const minutes = Math.floor(ns / (60 * nsPerS));
  ns -= minutes * 60 * nsPerS;
  const seconds = `${fixed(ns, nsPerS, 9)}s`;
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}`;
  return `${sign}${seconds}`;
}
