import { describe, expect, it } from 'vitest';
import { isNodeAgentError, type k8s } from '@nodeagent/core';
import { container, pod } from './__fixtures__/pods.js';
import {
  AggregateVolumeError,
  collectDownwardApiPayload,
  formatDownwardApiMap,
  goQuote,
  makeConfigMapPayload,
  makeSecretPayload,
  validateVolumeFilePath,
  type VolumePayload,
} from './volume-payload.js';

const text = (p: VolumePayload) =>
  Object.fromEntries(
    [...p].map(([k, v]) => [k, { data: Buffer.from(v.data).toString('utf8'), mode: v.mode }]),
  );

const b64 = (s: string) => Buffer.from(s).toString('base64');

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('validateVolumeFilePath (kubelet atomic writer validatePath)', () => {
  it.each([
    ['', /must not be empty/],
    ['/etc/passwd', /invalid path: must be relative path: \/etc\/passwd/],
    ['a/../../b', /invalid path: must not contain '\.\.': a\/\.\.\/\.\.\/b/],
    ['..', /must not contain '\.\.'/],
    ['..data', /invalid path: must not start with '\.\.': \.\.data/],
    ['x'.repeat(256), /filenames must be less than or equal to 255/],
    [`${'a/'.repeat(2100)}b`, /must be less than or equal to 4096/],
  ])('rejects %j', (path, message) => {
    const err = thrown(() => validateVolumeFilePath(path));
    expect(isNodeAgentError(err, 'InvalidArgument')).toBe(true);
    expect(err.message).toMatch(message);
  });

  it('accepts nested relative paths and names containing dots', () => {
    for (const p of ['a', 'a/b/c.txt', '.hidden', 'a..b', 'dir/..x']) validateVolumeFilePath(p);
  });
});

describe('makeConfigMapPayload (kubelet configmap MakePayload)', () => {
  const cm: k8s.ConfigMap = {
    metadata: { name: 'cfg', namespace: 'team' },
    data: { 'app.conf': 'port=80\n', mode: 'fast' },
    binaryData: { 'logo.bin': Buffer.from([0, 1, 2, 255]).toString('base64') },
  };

  it('all keys of data and binaryData with the default mode', () => {
    const p = makeConfigMapPayload(undefined, cm, 0o644, false);
    expect(text(p)).toMatchObject({
      'app.conf': { data: 'port=80\n', mode: 0o644 },
      mode: { data: 'fast', mode: 0o644 },
    });
    expect([...p.get('logo.bin')!.data]).toEqual([0, 1, 2, 255]);
  });

  it('only the listed items, at their paths, with per-item modes', () => {
    const p = makeConfigMapPayload(
      [
        { key: 'app.conf', path: 'conf/app.conf', mode: 0o400 },
        { key: 'mode', path: 'mode.txt' },
      ],
      cm,
      0o640,
      false,
    );
    expect(text(p)).toEqual({
      'conf/app.conf': { data: 'port=80\n', mode: 0o400 },
      'mode.txt': { data: 'fast', mode: 0o640 },
    });
  });

  it('a missing listed key fails unless optional', () => {
    const items = [{ key: 'nope', path: 'n' }];
    const err = thrown(() => makeConfigMapPayload(items, cm, 0o644, false));
    expect(err.message).toBe('configmap references non-existent config key: nope');
    expect(makeConfigMapPayload(items, cm, 0o644, true).size).toBe(0);
  });

  it('rejects an item path with .. or an absolute path, and a bad mode', () => {
    expect(
      thrown(() => makeConfigMapPayload([{ key: 'mode', path: '../x' }], cm, 0o644, false)).message,
    ).toMatch(/must not contain '\.\.'/);
    expect(
      thrown(() => makeConfigMapPayload([{ key: 'mode', path: '/x' }], cm, 0o644, false)).message,
    ).toMatch(/must be relative path/);
    expect(
      thrown(() =>
        makeConfigMapPayload([{ key: 'mode', path: 'x', mode: 0o1777 }], cm, 0o644, false),
      ).message,
    ).toMatch(/invalid file mode/);
  });
});

describe('makeSecretPayload', () => {
  const secret: k8s.Secret = {
    metadata: { name: 's', namespace: 'team' },
    data: { password: b64('hunter2'), token: b64('t0k') },
  };

  it('decodes base64 values; stringData overrides', () => {
    expect(text(makeSecretPayload(undefined, secret, 0o600, false))).toEqual({
      password: { data: 'hunter2', mode: 0o600 },
      token: { data: 't0k', mode: 0o600 },
    });
    expect(
      text(
        makeSecretPayload(undefined, { ...secret, stringData: { token: 'plain' } }, 0o644, false),
      ).token?.data,
    ).toBe('plain');
  });

  it('a missing listed key: kubelet wording, unless optional', () => {
    const err = thrown(() => makeSecretPayload([{ key: 'x', path: 'x' }], secret, 0o644, false));
    expect(err.message).toBe('references non-existent secret key: x');
    expect(isNodeAgentError(err, 'NotFound')).toBe(true);
    expect(makeSecretPayload([{ key: 'x', path: 'x' }], secret, 0o644, true).size).toBe(0);
  });
});

describe('downward API files', () => {
  it('goQuote quotes like Go %q', () => {
    expect(goQuote('plain')).toBe('"plain"');
    expect(goQuote('a "b" \\ c')).toBe('"a \\"b\\" \\\\ c"');
    expect(goQuote('l1\nl2\t\x00\x7f')).toBe('"l1\\nl2\\t\\x00\\x7f"');
    expect(goQuote('héllo ✓')).toBe('"héllo ✓"');
  });

  it('formats labels as sorted key="value" lines, no trailing newline', () => {
    expect(formatDownwardApiMap({ tier: 'front', app: 'web', 'a/b': 'x"y' })).toBe(
      'a/b="x\\"y"\napp="web"\ntier="front"',
    );
    expect(formatDownwardApiMap(undefined)).toBe('');
  });

  const p = pod(
    [container('app', { cpu: '250m', memory: '64Mi' }, { cpu: '1', memory: '128Mi' })],
    {},
    { labels: { b: '2', a: '1' }, annotations: { note: 'hi' } },
  );
  const ctx = { podIPs: [], hostIP: '', nodeName: 'n' };

  it('collects metadata and resource files with modes', () => {
    const payload = collectDownwardApiPayload(
      [
        { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
        { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
        { path: 'meta/name', fieldRef: { fieldPath: 'metadata.name' } },
        { path: 'ns', fieldRef: { fieldPath: 'metadata.namespace' } },
        { path: 'uid', fieldRef: { fieldPath: 'metadata.uid' }, mode: 0o400 },
        { path: 'label-a', fieldRef: { fieldPath: "metadata.labels['a']" } },
        {
          path: 'mem',
          resourceFieldRef: { containerName: 'app', resource: 'limits.memory', divisor: '1Mi' },
        },
        {
          path: 'cpu',
          resourceFieldRef: { containerName: 'app', resource: 'requests.cpu', divisor: '1m' },
        },
      ],
      p,
      ctx,
      0o644,
    );
    expect(text(payload)).toEqual({
      labels: { data: 'a="1"\nb="2"', mode: 0o644 },
      annotations: { data: 'note="hi"', mode: 0o644 },
      'meta/name': { data: 'web', mode: 0o644 },
      ns: { data: 'team', mode: 0o644 },
      uid: { data: '1234-abcd', mode: 0o400 },
      'label-a': { data: '1', mode: 0o644 },
      mem: { data: '128', mode: 0o644 },
      cpu: { data: '250', mode: 0o644 },
    });
  });

  it('reports every bad item at once (kubelet aggregate)', () => {
    const err = thrown(() =>
      collectDownwardApiPayload(
        [
          { path: 'a', fieldRef: { fieldPath: 'spec.nodeName' } },
          { path: 'b', resourceFieldRef: { resource: 'limits.cpu' } },
          { path: '../c', fieldRef: { fieldPath: 'metadata.name' } },
        ],
        p,
        ctx,
        0o644,
      ),
    );
    expect(err).toBeInstanceOf(AggregateVolumeError);
    expect(err.message).toMatch(
      /^\[unsupported fieldPath: spec\.nodeName.*containerName is required.*must not contain '\.\.': \.\.\/c\]$/,
    );
  });
});
