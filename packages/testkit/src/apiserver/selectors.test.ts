import { describe, expect, it } from 'vitest';
import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
} from './selectors.js';

describe('label selectors', () => {
  const labels = { app: 'web', tier: 'front', 'example.com/x': 'y' };
  const cases: [string, boolean][] = [
    ['', true],
    ['app=web', true],
    ['app==web', true],
    ['app!=web', false],
    ['app!=db', true],
    ['missing!=x', true],
    ['app in (db, web)', true],
    ['app in (db)', false],
    ['app notin (db)', true],
    ['app notin (web,db)', false],
    ['missing notin (x)', true],
    ['tier', true],
    ['missing', false],
    ['!missing', true],
    ['!tier', false],
    ['app=web,tier=front,example.com/x=y', true],
    ['app=web,tier=back', false],
  ];
  it.each(cases)('%s → %s', (raw, expected) => {
    expect(matchesLabels(parseLabelSelector(raw), labels)).toBe(expected);
  });

  it('rejects malformed selectors with 400', () => {
    expect(() => parseLabelSelector('app in db')).toThrow(/unable to parse requirement/);
    expect(() => parseLabelSelector('a=b=c')).toThrow(/invalid label value/);
  });
});

describe('field selectors', () => {
  const fields: Record<string, string> = {
    'spec.nodeName': 'n1',
    'status.phase': 'Running',
    'metadata.name': 'p',
  };
  const supported = Object.keys(fields);
  it('matches = and != and rejects unsupported labels', () => {
    const get = (f: string): string => fields[f] ?? '';
    expect(matchesFields(parseFieldSelector('spec.nodeName=n1', supported), get)).toBe(true);
    expect(matchesFields(parseFieldSelector('spec.nodeName==n2', supported), get)).toBe(false);
    expect(
      matchesFields(parseFieldSelector('spec.nodeName=n1,status.phase!=Failed', supported), get),
    ).toBe(true);
    expect(matchesFields(parseFieldSelector('status.phase!=Running', supported), get)).toBe(false);
    expect(() => parseFieldSelector('spec.foo=1', supported)).toThrow(
      'field label not supported: spec.foo',
    );
  });
});
