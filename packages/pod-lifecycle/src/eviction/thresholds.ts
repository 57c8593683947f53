import {
  InvalidConfigError,
  isNodeAgentError,
  parseQuantity,
  quantityValue,
  type ParsedQuantity,
} from '@nodeagent/core';
import { formatQuantity, type QuantityPrintFormat } from './quantity-format.js';
import {
  isEvictionSignal,
  evictionSignals,
  type EvictionSignal,
  type SignalObservation,
  type SignalObservations,
} from './signals.js';

/**
 * The kubelet's hard eviction thresholds on Linux when `evictionHard` is not set
 * (kubelet `DefaultEvictionHard`; the same as the agent's `defaultEvictionHard`).
 */
export const defaultEvictionHard: Readonly<Record<string, string>> = Object.freeze({
  'memory.available': '100Mi',
  'nodefs.available': '10%',
  'nodefs.inodesFree': '5%',
  'imagefs.available': '15%',
  'imagefs.inodesFree': '5%',
});

/** Default `evictionPressureTransitionPeriod`: 5 minutes, in ms. */
export const defaultEvictionPressureTransitionPeriodMs = 5 * 60_000;

/**
 * A threshold's amount (kubelet `evictionapi.ThresholdValue`): an absolute quantity
 * or a fraction of the signal's capacity.
 */
export type ThresholdValue =
  | { kind: 'quantity'; value: number; format: QuantityPrintFormat }
  | { kind: 'percentage'; fraction: number };

/** One eviction threshold (kubelet `evictionapi.Threshold`; the operator is always LessThan). */
export interface Threshold {
  signal: EvictionSignal;
  /** The signal is met while `available < quantity(value)`. */
  value: ThresholdValue;
  /** How long the threshold must be met before acting, ms; 0 means a hard threshold. */
  gracePeriodMs: number;
  /** Reclaim this much beyond the threshold before it counts as resolved. */
  minReclaim?: ThresholdValue;
}

/** The eviction settings of the KubeletConfiguration that thresholds are parsed from. */
export interface EvictionThresholdConfig {
  /** Hard thresholds by signal (`memory.available: 100Mi`). Default {@link defaultEvictionHard}. */
  evictionHard?: Readonly<Record<string, string>>;
  /** Soft thresholds by signal; each needs a grace period. Default none. */
  evictionSoft?: Readonly<Record<string, string>>;
  /** Grace periods of the soft thresholds: Go durations (`1m30s`) or milliseconds. */
  evictionSoftGracePeriod?: Readonly<Record<string, string | number>>;
  /** Minimum reclaim by signal (`500Mi`, `5%`). Default none. */
  evictionMinimumReclaim?: Readonly<Record<string, string>>;
}

/** True for a threshold that acts at once (kubelet `isHardEvictionThreshold`). */
export function isHardEvictionThreshold(threshold: Threshold): boolean {
  return threshold.gracePeriodMs === 0;
}

const durationUnits: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a Go duration (`time.ParseDuration`: `300ms`, `1.5h`, `2h45m`, `0`) to ms.
 * @throws InvalidConfigError on anything else.
 */
export function parseGoDuration(text: string, field: string): number {
  const fail = (): never => {
    throw new InvalidConfigError(
      `${field}: invalid duration ${JSON.stringify(text)} (expected a Go duration such as 30s, 1m30s, 2h)`,
    );
  };
  let rest = text.trim();
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest.startsWith('-')) sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') fail();
  let total = 0;
  const part = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/;
  while (rest.length > 0) {
    const match = part.exec(rest);
    if (!match) return fail();
    const unit = durationUnits[match[2] ?? ''];
    if (unit === undefined) return fail();
    total += Number.parseFloat(match[1] ?? '0') * unit;
    rest = rest.slice(match[0].length);
  }
  return sign * total;
}

/** Parses `10%` to a float32 fraction exactly as the kubelet does (`parsePercentage`). */
function parsePercentage(text: string, field: string): number {
  const body = text.slice(0, -1);
  const value = Number(body);
  if (body.trim() === '' || !Number.isFinite(value)) {
    throw new InvalidConfigError(
      `${field}: invalid percentage ${JSON.stringify(text)} (expected e.g. 10%)`,
    );
  }
  // Go: strconv.ParseFloat(s, 32), then float32(value) / 100.
  return Math.fround(Math.fround(value) / 100);
}

function parseThresholdQuantity(text: string, field: string): ParsedQuantity {
  try {
    return parseQuantity(text);
  } catch (err) {
    if (!isNodeAgentError(err)) throw err;
    throw new InvalidConfigError(`${field}: ${err.message}`, { cause: err });
  }
}

function quantityThresholdValue(signal: EvictionSignal, q: ParsedQuantity): ThresholdValue {
  // Quantity.String() keeps the suffix family it was written in (`100Mi`, `1G`).
  const format: QuantityPrintFormat = q.format === 'BinarySI' ? 'BinarySI' : 'DecimalSI';
  return { kind: 'quantity', value: quantityValue(q, signal), format };
}

/**
 * Parses one threshold statement (kubelet `parseThresholdStatement`): a quantity that
 * must be positive, or a percentage in [0 %, 100 %]. `0%` and `100%` disable the
 * threshold (undefined is returned), as in the kubelet.
 */
function parseThresholdStatement(
  signalName: string,
  text: string,
  setting: string,
): ThresholdValue | undefined {
  const field = `${setting}[${JSON.stringify(signalName)}]`;
  if (!isEvictionSignal(signalName)) {
    throw new InvalidConfigError(
      `${field}: unsupported eviction signal ${JSON.stringify(signalName)} (supported: ${evictionSignals.join(', ')})`,
    );
  }
  const signal = signalName;
  if (text.endsWith('%')) {
    if (text === '0%' || text === '100%') return undefined;
    const fraction = parsePercentage(text, field);
    if (fraction < 0) {
      throw new InvalidConfigError(
        `${field}: eviction percentage threshold ${signal} must be >= 0%: ${text}`,
      );
    }
    if (fraction > 1) {
      throw new InvalidConfigError(
        `${field}: eviction percentage threshold ${signal} must be <= 100%: ${text}`,
      );
    }
    return { kind: 'percentage', fraction };
  }
  const q = parseThresholdQuantity(text, field);
  if (q.numerator <= 0n) {
    throw new InvalidConfigError(
      `${field}: eviction threshold ${signal} must be positive: ${text}`,
    );
  }
  return quantityThresholdValue(signal, q);
}

function parseMinimumReclaim(signalName: string, text: string): ThresholdValue {
  const field = `evictionMinimumReclaim[${JSON.stringify(signalName)}]`;
  if (!isEvictionSignal(signalName)) {
    throw new InvalidConfigError(
      `${field}: unsupported eviction signal ${JSON.stringify(signalName)} (supported: ${evictionSignals.join(', ')})`,
    );
  }
  if (text.endsWith('%')) {
    const fraction = parsePercentage(text, field);
    if (fraction <= 0) {
      throw new InvalidConfigError(
        `${field}: eviction percentage minimum reclaim ${signalName} must be positive: ${text}`,
      );
    }
    if (fraction > 1) {
      throw new InvalidConfigError(
        `${field}: eviction percentage minimum reclaim ${signalName} must be <= 100%: ${text}`,
      );
    }
    return { kind: 'percentage', fraction };
  }
  const q = parseThresholdQuantity(text, field);
  if (q.numerator < 0n) {
    throw new InvalidConfigError(
      `${field}: negative eviction minimum reclaim specified for ${signalName}`,
    );
  }
  return quantityThresholdValue(signalName, q);
}

function parseGracePeriod(signalName: string, value: string | number): number {
  const field = `evictionSoftGracePeriod[${JSON.stringify(signalName)}]`;
  if (!isEvictionSignal(signalName)) {
    throw new InvalidConfigError(
      `${field}: unsupported eviction signal ${JSON.stringify(signalName)} (supported: ${evictionSignals.join(', ')})`,
    );
  }
  const ms = typeof value === 'number' ? value : parseGoDuration(value, field);
  if (!Number.isFinite(ms) || ms < 0) {
    throw new InvalidConfigError(
      `${field}: invalid eviction grace period specified: ${value}, must be a positive value`,
    );
  }
  return ms;
}

/**
 * Parses and validates the eviction thresholds (kubelet `ParseThresholdConfig` plus
 * the KubeletConfiguration validation). Rejects, with an {@link InvalidConfigError}
 * naming the setting and signal: an unknown signal, an unparsable quantity, a
 * non-positive quantity, a percentage outside 0–100 %, a soft threshold without a
 * grace period, a grace period without a soft threshold, a negative grace period or
 * minimum reclaim. A soft threshold with a grace period of 0 would be a hard one and
 * is rejected too.
 */
export function parseThresholdConfig(config: EvictionThresholdConfig = {}): Threshold[] {
  const results: Threshold[] = [];
  const hard = config.evictionHard ?? defaultEvictionHard;
  for (const [signal, text] of Object.entries(hard)) {
    const value = parseThresholdStatement(signal, text, 'evictionHard');
    if (value) results.push({ signal: signal as EvictionSignal, value, gracePeriodMs: 0 });
  }
  const gracePeriods = new Map<string, number>();
  for (const [signal, value] of Object.entries(config.evictionSoftGracePeriod ?? {})) {
    gracePeriods.set(signal, parseGracePeriod(signal, value));
  }
  const soft = config.evictionSoft ?? {};
  for (const [signal, text] of Object.entries(soft)) {
    const value = parseThresholdStatement(signal, text, 'evictionSoft');
    const gracePeriodMs = gracePeriods.get(signal);
    if (gracePeriodMs === undefined) {
      throw new InvalidConfigError(
        `evictionSoft[${JSON.stringify(signal)}]: grace period must be specified for the soft eviction threshold ${signal} (set evictionSoftGracePeriod[${JSON.stringify(signal)}])`,
      );
    }
    if (gracePeriodMs === 0) {
      throw new InvalidConfigError(
        `evictionSoftGracePeriod[${JSON.stringify(signal)}]: the grace period of a soft eviction threshold must be greater than 0 (use evictionHard for immediate eviction)`,
      );
    }
    if (value) results.push({ signal: signal as EvictionSignal, value, gracePeriodMs });
  }
  for (const signal of gracePeriods.keys()) {
    if (!(signal in soft)) {
      throw new InvalidConfigError(
        `evictionSoftGracePeriod[${JSON.stringify(signal)}]: grace period given for ${signal} but evictionSoft has no threshold for it`,
      );
    }
  }
  for (const [signal, text] of Object.entries(config.evictionMinimumReclaim ?? {})) {
    const minReclaim = parseMinimumReclaim(signal, text);
    for (const threshold of results) {
      if (threshold.signal === signal) threshold.minReclaim = minReclaim;
    }
  }
  return results;
}

/**
 * The threshold's amount against a capacity (kubelet `GetThresholdQuantity`):
 * a quantity as is, a percentage as `trunc(capacity × fraction)`.
 */
export function thresholdQuantity(value: ThresholdValue, capacity: number): number {
  return value.kind === 'quantity' ? value.value : Math.trunc(capacity * value.fraction);
}

/** How the threshold's amount prints in messages (kubelet `Quantity.String()`). */
export function formatThresholdQuantity(value: ThresholdValue, capacity: number): string {
  const format = value.kind === 'quantity' ? value.format : 'BinarySI';
  return formatQuantity(thresholdQuantity(value, capacity), format);
}

/**
 * The thresholds whose signal is below their amount (kubelet `thresholdsMet`); with
 * `enforceMinReclaim`, the amount is raised by the minimum reclaim, so a threshold
 * stays met until that much more is free. Signals without an observation never meet.
 */
export function thresholdsMet(
  thresholds: readonly Threshold[],
  observations: SignalObservations,
  enforceMinReclaim: boolean,
): Threshold[] {
  return thresholds.filter((threshold) => {
    const observed: SignalObservation | undefined = observations[threshold.signal];
    if (!observed) return false;
    let quantity = thresholdQuantity(threshold.value, observed.capacity);
    if (enforceMinReclaim && threshold.minReclaim) {
      quantity += thresholdQuantity(threshold.minReclaim, observed.capacity);
    }
    return quantity > observed.available;
  });
}

/** A key that identifies a threshold (signal, value and grace period), for maps. */
export function thresholdKey(threshold: Threshold): string {
  const v = threshold.value;
  const value = v.kind === 'quantity' ? `q${v.value}` : `p${v.fraction}`;
  return `${threshold.signal}|${value}|${threshold.gracePeriodMs}`;
}
