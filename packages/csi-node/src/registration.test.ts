import { InvalidArgumentError } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import {
  highestSupportedCsiVersion,
  parseCsiVersion,
  validateCsiPluginInfo,
  type CsiVersion,
} from './registration.js';

const none = (): CsiVersion | undefined => undefined;
const good = {
  type: 'CSIPlugin',
  name: 'a.csi.test',
  endpoint: '/x/csi.sock',
  supportedVersions: ['1.0.0'],
};

describe('CSI plugin validation', () => {
  it('parses generic versions', () => {
    expect(parseCsiVersion('v1.2.3')).toMatchObject({ major: 1, minor: 2, patch: 3 });
    expect(parseCsiVersion('1')).toMatchObject({ major: 1, minor: 0, patch: 0 });
    expect(parseCsiVersion('1.10.0-beta.1')).toMatchObject({ major: 1, minor: 10 });
    expect(parseCsiVersion('one')).toBeUndefined();
    expect(parseCsiVersion('')).toBeUndefined();
  });

  it('picks the highest 1.x version and refuses lists without one', () => {
    expect(highestSupportedCsiVersion(['0.3.0', '1.0.0', '1.9.0', '2.0.0']).text).toBe('1.9.0');
    expect(() => highestSupportedCsiVersion(['0.3.0', '2.0.0', 'x'])).toThrow(
      /none of the CSI versions/,
    );
    expect(() => highestSupportedCsiVersion([])).toThrow(/no supported versions/);
  });

  it('accepts a well-formed CSIPlugin', () => {
    expect(validateCsiPluginInfo(good, none)).toMatchObject({
      name: 'a.csi.test',
      endpoint: '/x/csi.sock',
      version: { text: '1.0.0' },
    });
  });

  it.each([
    ['a missing reply', null, /no PluginInfo/],
    [
      'a device plugin',
      { ...good, type: 'DevicePlugin' },
      /unsupported plugin type "DevicePlugin"/,
    ],
    ['an empty type', { ...good, type: '' }, /unsupported plugin type ""/],
    ['an empty name', { ...good, name: '' }, /empty name/],
    ['a name with a slash', { ...good, name: 'a/b' }, /invalid CSI driver name/],
    ['a name ending in a dot', { ...good, name: 'a.' }, /invalid CSI driver name/],
    ['a 64-character name', { ...good, name: 'a'.repeat(64) }, /invalid CSI driver name/],
    ['no endpoint', { ...good, endpoint: '  ' }, /without an endpoint/],
    ['no versions', { ...good, supportedVersions: [] }, /no supported versions/],
    [
      'only 0.x and 2.x',
      { ...good, supportedVersions: ['0.3.0', '2.0.0'] },
      /none of the CSI versions/,
    ],
    [
      'non-string fields',
      { type: 'CSIPlugin', name: 5, endpoint: {}, supportedVersions: 'x' },
      /empty name/,
    ],
  ])('refuses %s', (_what, info, message) => {
    let err: unknown;
    try {
      validateCsiPluginInfo(info as never, none);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(message);
  });

  it('requires a strictly higher version for an already registered name', () => {
    const registered = (name: string): CsiVersion | undefined =>
      name === 'a.csi.test' ? parseCsiVersion('1.2.0') : undefined;
    expect(() =>
      validateCsiPluginInfo({ ...good, supportedVersions: ['1.2.0'] }, registered),
    ).toThrow(/already registered with version 1.2.0/);
    expect(() =>
      validateCsiPluginInfo({ ...good, supportedVersions: ['1.1.0'] }, registered),
    ).toThrow(/already registered/);
    expect(
      validateCsiPluginInfo({ ...good, supportedVersions: ['1.3.0'] }, registered).version.text,
    ).toBe('1.3.0');
    expect(validateCsiPluginInfo({ ...good, name: 'b.csi.test' }, registered).name).toBe(
      'b.csi.test',
    );
  });
});
