/**
 * Go's `time.Duration` text form, as KubeletConfiguration durations
 * (`metav1.Duration`) are written: `"1m0s"`, `"300ms"`, `"1h2m3s"`, `"1.5s"`, `"-2m"`.
 */

const nanosPerUnit: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['µs', 1_000n], // U+00B5 micro sign
  ['μs', 1_000n], // U+03BC Greek small letter mu
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
]);

/** The largest duration Go can hold: 2^63 - 1 ns (about 292 years). */
const maxDurationNs = (1n << 63n) - 1n;

/** Why a duration string was rejected (the text after `invalid duration "…"`). */
export class GoDurationError extends Error {
  constructor(
    readonly input: string,
    readonly reason: string,
  ) {
    super(`invalid duration ${JSON.stringify(input)}${reason ? ` (${reason})` : ''}`);
    this.name = 'GoDurationError';
  }
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/**
 * Parses a duration exactly as Go's `time.ParseDuration` does — a sequence of decimal
 * numbers, each with an optional fraction and a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`,
 * `h`), with an optional sign; `"0"` alone needs no unit — and returns whole
 * nanoseconds. Fractions are exact (truncated to the nanosecond); values beyond Go's
 * int64 range are rejected like Go rejects them.
 *
 * @throws GoDurationError naming the input and the reason.
 */
export function parseGoDurationNs(input: string): bigint {
  let s = input;
  let negative = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s.startsWith('-');
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw new GoDurationError(input, '');
  let total = 0n;
  while (s !== '') {
    if (!(s[0] === '.' || isDigit(s[0]))) throw new GoDurationError(input, '');
    let i = 0;
    while (isDigit(s[i])) i++;
    const whole = s.slice(0, i);
    let fraction = '';
    if (s[i] === '.') {
      const start = ++i;
      while (isDigit(s[i])) i++;
      fraction = s.slice(start, i);
    }
    if (whole === '' && fraction === '') throw new GoDurationError(input, '');
    const unitStart = i;
    while (i < s.length && s[i] !== '.' && !isDigit(s[i])) i++;
    const unitText = s.slice(unitStart, i);
    if (unitText === '') {
      throw new GoDurationError(input, 'missing unit; units are ns, us, ms, s, m, h');
    }
    const unit = nanosPerUnit.get(unitText);
    if (unit === undefined) {
      throw new GoDurationError(
        input,
        `unknown unit ${JSON.stringify(unitText)}; units are ns, us, ms, s, m, h`,
      );
    }
    let value = BigInt(whole === '' ? '0' : whole) * unit;
    if (fraction !== '') value += (BigInt(fraction) * unit) / 10n ** BigInt(fraction.length);
    total += value;
    if (total > maxDurationNs + (negative ? 1n : 0n)) throw new GoDurationError(input, 'overflow');
    s = s.slice(i);
  }
  return negative ? -total : total;
}

/** {@link parseGoDurationNs} in milliseconds (fractional below 1 ms). */
export function parseGoDurationMs(input: string): number {
  return Number(parseGoDurationNs(input)) / 1e6;
}

/**
 * Formats milliseconds as Go's `Duration.String()` does (`1m0s`, `1h2m3s`, `300ms`,
 * `1.5s`, `0s`), so effective settings print the way the kubelet prints them.
 */
export function formatGoDuration(ms: number): string {
  let ns = BigInt(Math.round(ms * 1e6));
  if (ns === 0n) return '0s';
  const sign = ns < 0n ? '-' : '';
  if (ns < 0n) ns = -ns;
  const frac = (value: bigint, unit: bigint, digits: number): string => {
    const whole = value / unit;
    const rest = value % unit;
    if (rest === 0n) return whole.toString();
    return `${whole}.${rest.toString().padStart(digits, '0').replace(/0+$/, '')}`;
  };
  if (ns < 1_000n) return `${sign}${ns}ns`;
  if (ns < 1_000_000n) return `${sign}${frac(ns, 1_000n, 3)}µs`;
  if (ns < 1_000_000_000n) return `${sign}${frac(ns, 1_000_000n, 6)}ms`;
  const hours = ns / 3_600_000_000_000n;
  ns -= hours * 3_600_000_000_000n;
  const minutes = ns / 60_000_000_000n;
  ns -= minutes * 60_000_000_000n;
  const seconds = `${frac(ns, 1_000_000_000n, 9)}s`;
  if (hours > 0n) return `${sign}${hours}h${minutes}m${seconds}`;
  if (minutes > 0n) return `${sign}${minutes}m${seconds}`;
  return `${sign}${seconds}`;
}
