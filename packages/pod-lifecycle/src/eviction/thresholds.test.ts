import { InvalidConfigError } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import { formatQuantity } from './quantity-format.js';
import { makeSignalObservations } from './signals.js';
import {
  defaultEvictionHard,
  formatThresholdQuantity,
  parseGoDuration,
  parseThresholdConfig,
  thresholdQuantity,
  thresholdsMet,
} from './thresholds.js';

const Mi = 1024 * 1024;
const Gi = 1024 * Mi;

function rejects(config: Parameters<typeof parseThresholdConfig>[0], message: RegExp): void {
  let error: unknown;
  try {
    parseThresholdConfig(config);
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(InvalidConfigError);
  expect((error as Error).message).toMatch(message);
}

describe('parseThresholdConfig', () => {
  it('defaults to the kubelet Linux hard thresholds', () => {
    expect(defaultEvictionHard).toEqual({
      'memory.available': '100Mi',
      'nodefs.available': '10%',
      'nodefs.inodesFree': '5%',
      'imagefs.available': '15%',
      'imagefs.inodesFree': '5%',
    });
    const thresholds = parseThresholdConfig();
    expect(thresholds.map((t) => [t.signal, t.gracePeriodMs])).toEqual([
      ['memory.available', 0],
      ['nodefs.available', 0],
      ['nodefs.inodesFree', 0],
      ['imagefs.available', 0],
      ['imagefs.inodesFree', 0],
    ]);
    expect(thresholds[0]?.value).toEqual({ kind: 'quantity', value: 100 * Mi, format: 'BinarySI' });
    expect(thresholds[1]?.value).toEqual({ kind: 'percentage', fraction: Math.fround(0.1) });
  });

  it('parses soft thresholds with grace periods and minimum reclaims', () => {
    const thresholds = parseThresholdConfig({
      evictionHard: { 'memory.available': '1Gi', 'pid.available': '1k' },
      evictionSoft: { 'memory.available': '2Gi', 'nodefs.available': '20%' },
      evictionSoftGracePeriod: { 'memory.available': '1m30s', 'nodefs.available': 5000 },
      evictionMinimumReclaim: { 'memory.available': '500Mi', 'nodefs.available': '5%' },
    });
    expect(thresholds).toEqual([
      {
        signal: 'memory.available',
        value: { kind: 'quantity', value: Gi, format: 'BinarySI' },
        gracePeriodMs: 0,
        minReclaim: { kind: 'quantity', value: 500 * Mi, format: 'BinarySI' },
      },
      {
        signal: 'pid.available',
        value: { kind: 'quantity', value: 1000, format: 'DecimalSI' },
        gracePeriodMs: 0,
      },
      {
        signal: 'memory.available',
        value: { kind: 'quantity', value: 2 * Gi, format: 'BinarySI' },
        gracePeriodMs: 90_000,
        minReclaim: { kind: 'quantity', value: 500 * Mi, format: 'BinarySI' },
      },
      {
        signal: 'nodefs.available',
        value: { kind: 'percentage', fraction: Math.fround(0.2) },
        gracePeriodMs: 5000,
        minReclaim: { kind: 'percentage', fraction: Math.fround(0.05) },
      },
    ]);
  });

  it('ignores 0% and 100% like the kubelet', () => {
    expect(
      parseThresholdConfig({
        evictionHard: { 'memory.available': '0%', 'nodefs.available': '100%' },
      }),
    ).toEqual([]);
  });

  it('rejects bad values with clear messages', () => {
    rejects(
      { evictionHard: { 'memory.free': '100Mi' } },
      /evictionHard\["memory.free"\]: unsupported eviction signal "memory.free" \(supported: memory.available/,
    );
    rejects(
      { evictionHard: { 'memory.available': '100Mx' } },
      /evictionHard\["memory.available"\]: quantity "100Mx" is invalid/,
    );
    rejects(
      { evictionHard: { 'memory.available': '0' } },
      /eviction threshold memory.available must be positive: 0/,
    );
    rejects({ evictionHard: { 'memory.available': '-1Mi' } }, /must be positive/);
    rejects(
      { evictionHard: { 'nodefs.available': '150%' } },
      /eviction percentage threshold nodefs.available must be <= 100%: 150%/,
    );
    rejects(
      { evictionHard: { 'nodefs.available': '-5%' } },
      /eviction percentage threshold nodefs.available must be >= 0%: -5%/,
    );
    rejects({ evictionHard: { 'nodefs.available': 'abc%' } }, /invalid percentage "abc%"/);
    rejects(
      { evictionSoft: { 'memory.available': '1Gi' } },
      /grace period must be specified for the soft eviction threshold memory.available/,
    );
    rejects(
      {
        evictionSoft: { 'memory.available': '1Gi' },
        evictionSoftGracePeriod: { 'memory.available': '1m', 'nodefs.available': '1m' },
      },
      /evictionSoftGracePeriod\["nodefs.available"\]: grace period given for nodefs.available but evictionSoft has no threshold for it/,
    );
    rejects(
      {
        evictionSoft: { 'memory.available': '1Gi' },
        evictionSoftGracePeriod: { 'memory.available': '1 minute' },
      },
      /invalid duration "1 minute"/,
    );
    rejects(
      {
        evictionSoft: { 'memory.available': '1Gi' },
        evictionSoftGracePeriod: { 'memory.available': '-1m' },
      },
      /must be a positive value/,
    );
    rejects(
      { evictionMinimumReclaim: { 'memory.available': '-1Mi' } },
      /negative eviction minimum reclaim specified for memory.available/,
    );
    rejects(
      { evictionMinimumReclaim: { 'memory.available': '0%' } },
      /minimum reclaim memory.available must be positive/,
    );
  });
});

describe('parseGoDuration', () => {
  it('parses Go durations', () => {
    expect(parseGoDuration('5m', 'f')).toBe(300_000);
    expect(parseGoDuration('1h2m3.5s', 'f')).toBe(3_723_500);
    expect(parseGoDuration('250ms', 'f')).toBe(250);
    expect(parseGoDuration('0', 'f')).toBe(0);
    expect(() => parseGoDuration('5', 'f')).toThrow(InvalidConfigError);
    expect(() => parseGoDuration('', 'f')).toThrow(InvalidConfigError);
  });
});

describe('threshold quantities', () => {
  it('percentages apply to the capacity with the kubelet float32 arithmetic', () => {
    const [nodefs] = parseThresholdConfig({ evictionHard: { 'nodefs.available': '10%' } });
    if (!nodefs) throw new Error('missing');
    expect(thresholdQuantity(nodefs.value, 10 * Gi)).toBe(Math.trunc(10 * Gi * Math.fround(0.1)));
    expect(formatThresholdQuantity(nodefs.value, 1000 * Mi)).toBe(
      formatQuantity(Math.trunc(1000 * Mi * Math.fround(0.1)), 'BinarySI'),
    );
  });

  it('prints like resource.Quantity.String()', () => {
    expect(formatQuantity(100 * Mi, 'BinarySI')).toBe('100Mi');
    expect(formatQuantity(50 * Mi, 'BinarySI')).toBe('50Mi');
    expect(formatQuantity(1536, 'BinarySI')).toBe('1536');
    expect(formatQuantity(1000, 'BinarySI')).toBe('1k');
    expect(formatQuantity(0, 'BinarySI')).toBe('0');
    expect(formatQuantity(5000, 'DecimalSI')).toBe('5k');
    expect(formatQuantity(12345, 'DecimalSI')).toBe('12345');
    expect(formatQuantity(3 * Gi, 'BinarySI')).toBe('3Gi');
  });

  it('meets quantity and percentage thresholds per signal, honouring minimum reclaim', () => {
    const thresholds = parseThresholdConfig({
      evictionHard: {
        'memory.available': '100Mi',
        'nodefs.available': '10%',
        'nodefs.inodesFree': '5%',
        'imagefs.available': '15%',
        'imagefs.inodesFree': '5%',
        'pid.available': '1000',
      },
      evictionMinimumReclaim: { 'memory.available': '50Mi' },
    });
    const t = '2026-01-01T00:00:00Z';
    const observations = makeSignalObservations({
      node: {
        nodeName: 'n',
        startTime: t,
        memory: { time: t, availableBytes: 99 * Mi, workingSetBytes: 900 * Mi },
        fs: {
          time: t,
          availableBytes: 9 * Gi,
          capacityBytes: 100 * Gi,
          inodesFree: 6000,
          inodes: 100_000,
        },
        runtime: {
          imageFs: {
            time: t,
            availableBytes: 16 * Gi,
            capacityBytes: 100 * Gi,
            inodesFree: 4000,
            inodes: 100_000,
          },
        },
        rlimit: { time: t, maxpid: 32768, curproc: 31800 },
      },
      pods: [],
    });
    expect(observations['memory.available']).toEqual({
      available: 99 * Mi,
      capacity: 999 * Mi,
      time: t,
    });
    expect(observations['pid.available']).toEqual({ available: 968, capacity: 32768, time: t });
    expect(thresholdsMet(thresholds, observations, false).map((x) => x.signal)).toEqual([
      'memory.available',
      'nodefs.available',
      'imagefs.inodesFree',
      'pid.available',
    ]);
    const recovered = makeSignalObservations({
      node: {
        nodeName: 'n',
        startTime: t,
        memory: { time: t, availableBytes: 120 * Mi, workingSetBytes: 880 * Mi },
      },
      pods: [],
    });
    expect(thresholdsMet(thresholds, recovered, false)).toEqual([]);
    // 120Mi < 100Mi + 50Mi: not yet reclaimed enough.
    expect(thresholdsMet(thresholds, recovered, true).map((x) => x.signal)).toEqual([
      'memory.available',
    ]);
  });
});
