import { describe, expect, it } from 'vitest';
import { isNodeAgentError } from '@nodeagent/core';
import { InvalidPodSpecError } from '../errors.js';
import {
  addQuantities,
  compareQuantities,
  parseQuantity,
  quantityMilliValue,
  quantityValue,
} from './quantity.js';

const value = (s: string | number): number => quantityValue(parseQuantity(s));
const milli = (s: string | number): number => quantityMilliValue(parseQuantity(s));

describe('parseQuantity', () => {
  it('parses CPU quantities to exact millicores', () => {
    expect(milli('100m')).toBe(100);
    expect(milli('0.1')).toBe(100);
    expect(milli('1')).toBe(1000);
    expect(milli(2)).toBe(2000);
    expect(milli('1.5')).toBe(1500);
    expect(milli('.5')).toBe(500);
    expect(milli('1.')).toBe(1000);
    expect(milli('250m')).toBe(250);
    expect(milli('0.0001')).toBe(1); // rounds up like MilliValue()
    expect(milli('1500u')).toBe(2);
    expect(milli('+3')).toBe(3000);
  });

  it('parses memory quantities to exact bytes (binary, decimal, exponent)', () => {
    expect(value('128Mi')).toBe(128 * 1024 * 1024);
    expect(value('1Ki')).toBe(1024);
    expect(value('1.5Gi')).toBe(1610612736);
    expect(value('1G')).toBe(1_000_000_000);
    expect(value('1k')).toBe(1000);
    expect(value('64M')).toBe(64_000_000);
    expect(value('1e3')).toBe(1000);
    expect(value('1E3')).toBe(1000);
    expect(value('12e6')).toBe(12_000_000);
    expect(value('1e-3')).toBe(1); // rounds up
  });

  it('formats record the suffix family', () => {
    expect(parseQuantity('1Gi').format).toBe('BinarySI');
    expect(parseQuantity('1e9').format).toBe('DecimalExponent');
    expect(parseQuantity('100m').format).toBe('DecimalSI');
  });

  it('compares and adds exactly', () => {
    expect(compareQuantities(parseQuantity('0.1'), parseQuantity('100m'))).toBe(0);
    expect(compareQuantities(parseQuantity('1Ki'), parseQuantity('1k'))).toBe(1);
    expect(compareQuantities(parseQuantity('1k'), parseQuantity('1Ki'))).toBe(-1);
    expect(quantityMilliValue(addQuantities(parseQuantity('0.1'), parseQuantity('150m')))).toBe(
      250,
    );
    expect(quantityValue(addQuantities(parseQuantity('1Gi'), parseQuantity('1G')))).toBe(
      2073741824,
    );
  });

  it.each([
    '',
    ' 1',
    '1 ',
    'abc',
    '1.2.3',
    '1Kb',
    '1KiB',
    'Mi',
    '--1',
    '1e',
    '1e1.5',
    '.',
    '1ki',
    'm',
    '0x10',
  ])('rejects %j with a clear InvalidPodSpecError', (bad) => {
    let caught: unknown;
    try {
      parseQuantity(bad, 'spec.containers{c}.resources.limits.cpu');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidPodSpecError);
    expect(isNodeAgentError(caught, 'InvalidArgument')).toBe(true);
    expect((caught as Error).message).toContain('spec.containers{c}.resources.limits.cpu');
    expect((caught as Error).message).toContain('is invalid');
  });

  it('rejects absurd exponents and non-finite numbers', () => {
    expect(() => parseQuantity('1e99999')).toThrow(/exponent out of range/);
    expect(() => parseQuantity(Number.NaN)).toThrow(InvalidPodSpecError);
    expect(() => parseQuantity(Number.POSITIVE_INFINITY)).toThrow(InvalidPodSpecError);
  });

  it('refuses to turn values beyond 2^53 into numbers', () => {
    expect(() => value('1E')).toThrow(/too large/);
    expect(value('1P')).toBe(1e15);
  });
});
