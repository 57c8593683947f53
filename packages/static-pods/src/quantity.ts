/**
 * Parsing of Kubernetes resource quantities (`resource.Quantity`): a decimal number
 * followed by a binary-SI suffix (`Ki` … `Ei`), a decimal-SI suffix (`n`, `u`, `m`,
 * `k`, `M`, `G`, `T`, `P`, `E`) or a decimal exponent (`e3`, `E-2`).
 */

const QUANTITY_PATTERN =
  /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;

const SUFFIX_MULTIPLIER: Readonly<Record<string, number>> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/**
 * The numeric value of a quantity (`"100m"` → 0.1, `"1Gi"` → 1073741824), or
 * undefined when `text` is not a valid quantity. Precision is that of a double, which
 * is enough to compare requests with limits.
 */
export function parseQuantity(text: string): number | undefined {
  const match = QUANTITY_PATTERN.exec(text);
  if (!match) return undefined;
  const sign = match[1] === '-' ? -1 : 1;
  const digits = Number(match[2]);
  const suffix = match[3] ?? '';
  const multiplier =
    suffix.startsWith('e') || suffix.startsWith('E')
      ? 10 ** Number(suffix.slice(1))
      : SUFFIX_MULTIPLIER[suffix];
  if (multiplier === undefined || !Number.isFinite(digits)) return undefined;
  return sign * digits * multiplier;
}
