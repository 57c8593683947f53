/**
 * Integer quantities printed the way apimachinery's `resource.Quantity.String()`
 * prints them, so eviction messages read exactly like the kubelet's
 * (`Threshold quantity: 100Mi, available: 50Mi.`).
 */

/** How a quantity prints: binary suffixes (`Ki`…`Ei`) for bytes, decimal (`k`…`E`) for counts. */
export type QuantityPrintFormat = 'BinarySI' | 'DecimalSI';

const binarySuffixes = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'] as const;
const decimalSuffixes = ['', 'k', 'M', 'G', 'T', 'P', 'E'] as const;

/**
 * Prints an integer amount in the canonical form of `format`
 * (apimachinery `CanonicalizeBytes`): BinarySI uses the largest power of 1024 that
 * divides the amount exactly (`52428800` → `50Mi`, `1536` → `1536`) and falls back to
 * DecimalSI below 1024; DecimalSI uses the largest power of 1000 (`5000` → `5k`).
 */
export function formatQuantity(amount: number, format: QuantityPrintFormat): string {
  let value = BigInt(Math.trunc(amount));
  const negative = value < 0n;
  if (negative) value = -value;
  let useFormat = format;
  if (useFormat === 'BinarySI' && value < 1024n) useFormat = 'DecimalSI';
  const base = useFormat === 'BinarySI' ? 1024n : 1000n;
  const suffixes = useFormat === 'BinarySI' ? binarySuffixes : decimalSuffixes;
  let exponent = 0;
  if (value !== 0n) {
    while (exponent < suffixes.length - 1 && value % base === 0n) {
      value /= base;
      exponent++;
    }
  }
  return `${negative ? '-' : ''}${value}${suffixes[exponent] ?? ''}`;
}
