import { compareQuantities, parseQuantity, type ParsedQuantity, type k8s } from '@nodeagent/core';

/*
 * Quantity arithmetic and canonical formatting for node capacity and allocatable
 * (apimachinery `resource.Quantity.String()`): core parses quantities; writing them
 * back in the API server's canonical form lives here.
 */

const decimalSuffixes: ReadonlyArray<[number, string]> = [
  [18, 'E'],
  [15, 'P'],
  [12, 'T'],
  [9, 'G'],
  [6, 'M'],
  [3, 'k'],
  [0, ''],
  [-3, 'm'],
];
const binarySuffixes: ReadonlyArray<[bigint, string]> = [
  [60n, 'Ei'],
  [50n, 'Pi'],
  [40n, 'Ti'],
  [30n, 'Gi'],
  [20n, 'Mi'],
  [10n, 'Ki'],
];

/**
 * A DecimalSI quantity from a value in thousandths (millicores for CPU), in the
 * canonical form: the largest SI suffix that keeps an integer mantissa
 * (`2000` → `2`, `1900` → `1900m`, `1000000` → `1k`).
 */
export function formatDecimalMilli(milli: bigint): string {
  if (milli === 0n) return '0';
  const negative = milli < 0n;
  const abs = negative ? -milli : milli;
  for (const [exp, suffix] of decimalSuffixes) {
    const unit = 10n ** BigInt(exp + 3);
    if (abs % unit === 0n) return `${negative ? '-' : ''}${abs / unit}${suffix}`;
  }
  return `${negative ? '-' : ''}${abs}m`;
}

/**
 * A BinarySI quantity from a whole number of bytes, in the canonical form: the
 * largest binary suffix that divides it exactly (`1073741824` → `1Gi`,
 * `8141236224` → `7950426Ki`), plain digits below 1024 or when no suffix divides it.
 */
export function formatBinaryBytes(bytes: bigint): string {
  if (bytes > -1024n && bytes < 1024n) return String(bytes);
  const negative = bytes < 0n;
  const abs = negative ? -bytes : bytes;
  for (const [shift, suffix] of binarySuffixes) {
    const unit = 1n << shift;
    if (abs % unit === 0n) return `${negative ? '-' : ''}${abs / unit}${suffix}`;
  }
  return `${negative ? '-' : ''}${abs}`;
}

/** Formats an exact quantity in its own format family (fractions fall back to DecimalSI milli). */
export function formatQuantity(q: ParsedQuantity): string {
  const scaled = q.numerator * 1000n;
  const milli =
    scaled % q.denominator === 0n
      ? scaled / q.denominator
      : scaled / q.denominator + (scaled > 0n ? 1n : -1n);
  if (q.format === 'BinarySI' && milli % 1000n === 0n) return formatBinaryBytes(milli / 1000n);
  return formatDecimalMilli(milli);
}

/**
 * `capacity − reservation`, never below zero (kubelet `MachineInfo` setter:
 * "Negative Allocatable resources don't make sense"), in the capacity's format.
 */
export function subtractClamped(capacity: k8s.Quantity, reservation: ParsedQuantity): string {
  const cap = parseQuantity(capacity);
  const numerator =
    cap.numerator * reservation.denominator - reservation.numerator * cap.denominator;
  const result: ParsedQuantity = {
    numerator: numerator < 0n ? 0n : numerator,
    denominator: cap.denominator * reservation.denominator,
    format: cap.format,
  };
  return formatQuantity(result);
}

/** Whether two resource lists hold the same resources with equal quantities (`1Gi` equals `1024Mi`). */
export function resourceListsEqual(
  a: k8s.ResourceList | undefined,
  b: k8s.ResourceList | undefined,
): boolean {
  const ka = Object.keys(a ?? {});
  const kb = Object.keys(b ?? {});
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    const va = a?.[k];
    const vb = b?.[k];
    if (va === undefined || vb === undefined) return false;
    if (va === vb) continue;
    try {
      if (compareQuantities(parseQuantity(va), parseQuantity(vb)) !== 0) return false;
    } catch {
      return false;
    }
  }
  return true;
}
