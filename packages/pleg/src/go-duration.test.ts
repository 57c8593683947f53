import { describe, expect, it } from 'vitest';
import { formatGoDuration } from './go-duration.js';

describe('formatGoDuration (Go time.Duration.String)', () => {
  it.each([
    [0, '0s'],
    [185_000, '3m5s'],
    [180_000, '3m0s'],
    [3_600_000, '1h0m0s'],
    [3_725_000, '1h2m5s'],
    [1_500, '1.5s'],
    [90_500, '1m30.5s'],
    [250, '250ms'],
    [1.5, '1.5ms'],
    [0.002, '2µs'],
    [0.000_001, '1ns'],
    [180_000.25, '3m0.00025s'],
    [-1_500, '-1.5s'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
  });
});
