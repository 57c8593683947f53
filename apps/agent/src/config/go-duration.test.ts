import { describe, expect, it } from 'vitest';
import {
  GoDurationError,
  formatGoDuration,
  parseGoDurationMs,
  parseGoDurationNs,
} from './go-duration.js';

describe('parseGoDurationNs (Go time.ParseDuration)', () => {
  it.each([
    ['0', 0n],
    ['+0', 0n],
    ['-0', 0n],
    ['0s', 0n],
    ['1ns', 1n],
    ['1us', 1_000n],
    ['1µs', 1_000n],
    ['1μs', 1_000n],
    ['300ms', 300_000_000n],
    ['20s', 20_000_000_000n],
    ['1m', 60_000_000_000n],
    ['1m0s', 60_000_000_000n],
    ['1h2m3s', 3_723_000_000_000n],
    ['2h45m', 9_900_000_000_000n],
    ['1.5s', 1_500_000_000n],
    ['.5s', 500_000_000n],
    ['5.s', 5_000_000_000n],
    ['1.000000001s', 1_000_000_001n],
    ['0.0000000001s', 0n], // below a nanosecond: truncated, as Go does
    ['-1.5h', -5_400_000_000_000n],
    ['1h1h', 7_200_000_000_000n],
    ['9223372036854775807ns', 9_223_372_036_854_775_807n],
    ['-9223372036854775808ns', -9_223_372_036_854_775_808n],
  ])('%s → %s ns', (text, ns) => {
    expect(parseGoDurationNs(text)).toBe(ns);
  });

  it.each([
    ['', ''],
    ['-', ''],
    ['s', ''],
    ['.s', ''],
    ['20', 'missing unit'],
    ['1m20', 'missing unit'],
    ['20 seconds', 'unknown unit " seconds"'],
    ['20sec', 'unknown unit "sec"'],
    ['1d', 'unknown unit "d"'],
    ['1S', 'unknown unit "S"'],
    [' 1s', ''],
    ['9223372036854775808ns', 'overflow'],
    ['3000000h', 'overflow'],
  ])('rejects %j', (text, reason) => {
    let error: unknown;
    try {
      parseGoDurationNs(text);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(GoDurationError);
    expect((error as Error).message).toContain(`invalid duration ${JSON.stringify(text)}`);
    expect((error as GoDurationError).reason).toContain(reason);
  });

  it('gives milliseconds with sub-millisecond fractions', () => {
    expect(parseGoDurationMs('1m0s')).toBe(60_000);
    expect(parseGoDurationMs('1500us')).toBe(1.5);
    expect(parseGoDurationMs('1ns')).toBe(0.000001);
  });
});

describe('formatGoDuration (Go Duration.String)', () => {
  it.each([
    [0, '0s'],
    [60_000, '1m0s'],
    [20_000, '20s'],
    [300, '300ms'],
    [1_500, '1.5s'],
    [3_723_000, '1h2m3s'],
    [3_600_000, '1h0m0s'],
    [0.0015, '1.5µs'],
    [0.000001, '1ns'],
    [-90_000, '-1m30s'],
  ])('%s ms → %s', (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
  });

  it('round-trips through the parser', () => {
    for (const text of ['1h2m3.5s', '45m0s', '250ms', '2.000001s']) {
      expect(formatGoDuration(parseGoDurationMs(text))).toBe(text);
    }
  });
});
