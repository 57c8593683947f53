import { InvalidConfigError } from '@nodeagent/core';

/**
 * When and what image garbage collection deletes: the kubelet's `ImageGCPolicy`
 * (`imageGCHighThresholdPercent`, `imageGCLowThresholdPercent`, `imageMinimumGCAge`,
 * `imageMaximumGCAge` of the KubeletConfiguration).
 */
export interface ImageGcPolicy {
  /**
   * Image-fs usage (percent of capacity) at or above which GC frees space; 0–100.
   * 100 disables size-based GC. Kubelet default 85.
   */
  highThresholdPercent: number;
  /** Usage (percent) GC frees space down to; 0–100, below the high threshold. Default 80. */
  lowThresholdPercent: number;
  /** Images first seen less than this many milliseconds ago are never deleted. Default 2 min. */
  minAgeMs: number;
  /**
   * Images unused for longer than this (milliseconds) are deleted whatever the disk
   * usage, once the manager has run that long; 0 turns it off (the default).
   */
  maxAgeMs: number;
}

/** The kubelet's defaults: 85 % / 80 %, minimum age 2 min, no maximum age. */
export const defaultImageGcPolicy: Readonly<ImageGcPolicy> = Object.freeze({
  highThresholdPercent: 85,
  lowThresholdPercent: 80,
  minAgeMs: 2 * 60_000,
  maxAgeMs: 0,
});

/**
 * How many dead containers to keep: the kubelet's `ContainerGCPolicy`
 * (`--minimum-container-ttl-duration`, `--maximum-dead-containers-per-container`,
 * `--maximum-dead-containers`).
 */
export interface ContainerGcPolicy {
  /** Dead containers created less than this many milliseconds ago are kept. Default 0. */
  minAgeMs: number;
  /**
   * Dead containers kept per (pod, container name); below 0 means no limit. Default 1.
   * The newest dead instance of a container of a pod that still exists is always
   * kept (status and restart counts are derived from it), even with 0.
   */
  maxPerPodContainer: number;
  /** Dead containers kept on the node in total; below 0 means no limit (the default -1). */
  maxContainers: number;
}

/** The kubelet's defaults: minimum age 0, one dead container per container, no global cap. */
export const defaultContainerGcPolicy: Readonly<ContainerGcPolicy> = Object.freeze({
  minAgeMs: 0,
  maxPerPodContainer: 1,
  maxContainers: -1,
});

function checkNumber(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidConfigError(
      `invalid image GC policy: ${field} must be a finite number, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * Fills in the defaults and validates an image GC policy the way the kubelet does
 * (`NewImageGCManager` and KubeletConfiguration validation): both thresholds in
 * [0, 100], low below high unless high is 100 (which disables size-based GC), minimum
 * age not negative, maximum age 0 or at least the minimum age.
 *
 * @throws InvalidConfigError naming the offending field
 */
export function validateImageGcPolicy(policy: Partial<ImageGcPolicy> = {}): ImageGcPolicy {
  const p: ImageGcPolicy = { ...defaultImageGcPolicy, ...stripUndefined(policy) };
  const high = checkNumber('highThresholdPercent', p.highThresholdPercent);
  const low = checkNumber('lowThresholdPercent', p.lowThresholdPercent);
  const minAge = checkNumber('minAgeMs', p.minAgeMs);
  const maxAge = checkNumber('maxAgeMs', p.maxAgeMs);
  if (high < 0 || high > 100) {
    throw new InvalidConfigError(
      `invalid image GC policy: highThresholdPercent ${high} must be in the range [0, 100]`,
    );
  }
  if (low < 0 || low > 100) {
    throw new InvalidConfigError(
      `invalid image GC policy: lowThresholdPercent ${low} must be in the range [0, 100]`,
    );
  }
  if (high !== 100 && low >= high) {
    throw new InvalidConfigError(
      `invalid image GC policy: lowThresholdPercent ${low} must be lower than highThresholdPercent ${high} (a highThresholdPercent of 100 disables size-based GC)`,
    );
  }
  if (minAge < 0) {
    throw new InvalidConfigError(
      `invalid image GC policy: minAgeMs ${minAge} must not be negative`,
    );
  }
  if (maxAge < 0) {
    throw new InvalidConfigError(
      `invalid image GC policy: maxAgeMs ${maxAge} must not be negative (0 disables it)`,
    );
  }
  if (maxAge !== 0 && maxAge < minAge) {
    throw new InvalidConfigError(
      `invalid image GC policy: maxAgeMs ${maxAge} must not be lower than minAgeMs ${minAge}`,
    );
  }
  return p;
}

/**
 * Fills in the defaults and validates a container GC policy: minimum age not
 * negative, the two counts whole numbers (negative = no limit).
 *
 * @throws InvalidConfigError naming the offending field
 */
export function validateContainerGcPolicy(
  policy: Partial<ContainerGcPolicy> = {},
): ContainerGcPolicy {
  const p: ContainerGcPolicy = { ...defaultContainerGcPolicy, ...stripUndefined(policy) };
  for (const field of ['minAgeMs', 'maxPerPodContainer', 'maxContainers'] as const) {
    const value: unknown = p[field];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new InvalidConfigError(
        `invalid container GC policy: ${field} must be a finite number, got ${String(value)}`,
      );
    }
  }
  if (p.minAgeMs < 0) {
    throw new InvalidConfigError(
      `invalid container GC policy: minAgeMs ${p.minAgeMs} must not be negative`,
    );
  }
  for (const field of ['maxPerPodContainer', 'maxContainers'] as const) {
    if (!Number.isInteger(p[field])) {
      throw new InvalidConfigError(
        `invalid container GC policy: ${field} ${p[field]} must be a whole number (negative = no limit)`,
      );
    }
  }
  return p;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}
