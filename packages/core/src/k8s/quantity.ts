import { InvalidPodSpecError } from '../errors.js';

/**
 * How a quantity was written (apimachinery `resource.Format`): `BinarySI` for `Ki`…`Ei`,
 * `DecimalExponent` for `e`/`E` exponents, `DecimalSI` for everything else.
 */
export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

/**
 * An exactly parsed Kubernetes quantity (apimachinery `resource.Quantity`): the value
 * is `numerator / denominator` with no rounding, so `0.1` CPU and `100m` are equal and
 * `1.5Gi` is exactly 1610612736 bytes.
 */
export interface Quantity {
  /** Signed numerator. */
  readonly numerator: bigint;
  /** Positive denominator (a power of ten). */
  readonly denominator: bigint;
  /** The suffix family the quantity was written in. */
  readonly format: QuantityFormat;
}

const binarySuffixes: Readonly<Record<string, bigint>> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};

const decimalSuffixes: Readonly<Record<string, number>> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};

/** Exponents beyond this cannot describe any real resource; refusing them keeps BigInt math small. */
const maxDecimalExponent = 400;

const zero: Quantity = { numerator: 0n, denominator: 1n, format: 'DecimalSI' };

function invalid(input: string, why: string, field: string): never {
  throw new InvalidPodSpecError(
    field,
    `quantity ${JSON.stringify(input)} is invalid: ${why} (expected e.g. 100m, 0.5, 128Mi, 1G, 1e3)`,
  );
}

/**
 * Parses a quantity the way apimachinery's `resource.ParseQuantity` does:
 * `<sign><digits>[.<digits>]<suffix>` with suffix one of the binary SI suffixes
 * (`Ki Mi Gi Ti Pi Ei`), the decimal SI suffixes (`n u m "" k M G T P E`) or a decimal
 * exponent (`e3`, `E-2`). Numbers are accepted too, since YAML manifests often write
 * `cpu: 1`. No whitespace is allowed.
 *
 * @param field  Field path used in the error, e.g. `spec.containers[web].resources.limits.cpu`.
 * @throws InvalidPodSpecError when the text is not a quantity.
 */
export function parseQuantity(input: string | number, field = ''): Quantity {
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) invalid(String(input), 'not a finite number', field);
    input = String(input);
  }
  if (typeof input !== 'string') invalid(String(input), 'not a string', field);
  const text = input;
  if (text.length === 0) invalid(text, 'empty', field);
  let i = 0;
  let negative = false;
  if (text[0] === '+' || text[0] === '-') {
    negative = text[0] === '-';
    i++;
  }
  const intStart = i;
  while (i < text.length && text[i]! >= '0' && text[i]! <= '9') i++;
  const intDigits = text.slice(intStart, i);
  let fracDigits = '';
  if (text[i] === '.') {
    i++;
    const fracStart = i;
    while (i < text.length && text[i]! >= '0' && text[i]! <= '9') i++;
    fracDigits = text.slice(fracStart, i);
  }
  if (intDigits.length === 0 && fracDigits.length === 0) invalid(text, 'no digits', field);
  const suffix = text.slice(i);

  // The mantissa as an integer over 10^fraction digits.
  let numerator = BigInt((intDigits || '0') + fracDigits);
  let denominator = 10n ** BigInt(fracDigits.length);
  let format: QuantityFormat = 'DecimalSI';

  const binary = binarySuffixes[suffix];
  const decimal = decimalSuffixes[suffix];
  if (binary !== undefined) {
    numerator *= binary;
    format = 'BinarySI';
  } else if (decimal !== undefined) {
    if (decimal >= 0) numerator *= 10n ** BigInt(decimal);
    else denominator *= 10n ** BigInt(-decimal);
  } else if ((suffix[0] === 'e' || suffix[0] === 'E') && /^[eE][+-]?\d+$/.test(suffix)) {
    const exponent = Number.parseInt(suffix.slice(1), 10);
    if (Math.abs(exponent) > maxDecimalExponent) invalid(text, 'exponent out of range', field);
    if (exponent >= 0) numerator *= 10n ** BigInt(exponent);
    else denominator *= 10n ** BigInt(-exponent);
    format = 'DecimalExponent';
  } else {
    invalid(text, `unknown suffix ${JSON.stringify(suffix)}`, field);
  }
  if (negative) numerator = -numerator;
  return { numerator, denominator, format };
}

/** Integer division rounding away from zero (inf.Dec `RoundUp`, as `Quantity.Value()` does). */
function divRoundUp(n: bigint, d: bigint): bigint {
  const q = n / d;
  if (q * d === n) return q;
  return n > 0n ? q + 1n : q - 1n;
}

function toSafeNumber(value: bigint, what: string, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new InvalidPodSpecError(field, `${what} ${value} is too large`);
  }
  return Number(value);
}

/**
 * The quantity as an integer, rounded up (away from zero) like `Quantity.Value()`:
 * bytes for memory, whole cores for CPU.
 */
export function quantityValue(q: Quantity, field = ''): number {
  return toSafeNumber(divRoundUp(q.numerator, q.denominator), 'value', field);
}

/** The quantity × 1000, rounded up (away from zero) like `Quantity.MilliValue()`: millicores for CPU. */
export function quantityMilliValue(q: Quantity, field = ''): number {
  return toSafeNumber(divRoundUp(q.numerator * 1000n, q.denominator), 'milli value', field);
}

/** Compares two quantities exactly: -1, 0 or 1 (`Quantity.Cmp`). */
export function compareQuantities(a: Quantity, b: Quantity): -1 | 0 | 1 {
  const left = a.numerator * b.denominator;
  const right = b.numerator * a.denominator;
  return left < right ? -1 : left > right ? 1 : 0;
}

/** Exact sum of two quantities (format of the first). */
export function addQuantities(a: Quantity, b: Quantity): Quantity {
  if (a.denominator === b.denominator) {
    return { numerator: a.numerator + b.numerator, denominator: a.denominator, format: a.format };
  }
  return {
    numerator: a.numerator * b.denominator + b.numerator * a.denominator,
    denominator: a.denominator * b.denominator,
    format: a.format,
  };
}

/** True when the quantity is exactly zero. */
export function isZeroQuantity(q: Quantity): boolean {
  return q.numerator === 0n;
}

/** The zero quantity. */
export function zeroQuantity(): Quantity {
  return zero;
}
