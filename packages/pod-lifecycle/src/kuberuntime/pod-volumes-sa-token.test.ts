import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  NotFoundError,
  type ConfigMapManager,
  type ServiceAccountTokenManager,
  type TokenRequestSpec,
  type k8s,
} from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigVolumeManager } from './pod-volumes.js';
import type { DownwardApiContext } from './env.js';
import { makeServiceAccountTokenPayload, projectedTokenFsUser } from './volume-payload.js';
import type { TmpfsMounter } from './volume-mounter.js';

const noMounts: TmpfsMounter = {
  mountTmpfs: () => Promise.resolve(),
  unmount: () => Promise.resolve(),
  mountPointsUnder: () => Promise.resolve([]),
};

const ctx: DownwardApiContext = { podIPs: [], hostIP: '10.0.0.1', nodeName: 'n1' };

/** The volume the API server's ServiceAccount admission adds. */
const kubeApiAccess: k8s.Volume = {
  name: 'kube-api-access-x7k2p',
  projected: {
    defaultMode: 0o644,
    sources: [
      { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      {
        downwardAPI: {
          items: [
            { path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
          ],
        },
      },
    ],
  },
};

function pod(spec: Partial<k8s.PodSpec> = {}): k8s.Pod {
  return {
    metadata: { name: 'web', namespace: 'team', uid: 'uid-1' },
    spec: {
      serviceAccountName: 'builder',
      containers: [{ name: 'c', image: 'busybox' }],
      volumes: [kubeApiAccess],
      ...spec,
    },
  };
}

class FakeTokens implements ServiceAccountTokenManager {
  requests: { namespace: string; name: string; spec: TokenRequestSpec }[] = [];
  deleted: string[] = [];
  token = 'jwt-1';
  fail: Error | undefined;
  getServiceAccountToken(namespace: string, name: string, spec: TokenRequestSpec) {
    this.requests.push({ namespace, name, spec });
    if (this.fail) return Promise.reject(this.fail);
    return Promise.resolve({ token: this.token, expirationTimestamp: '2026-01-01T01:00:07Z' });
  }
  deleteServiceAccountToken(uid: string): void {
    this.deleted.push(uid);
  }
}

const configMaps: ConfigMapManager = {
  getConfigMap: (namespace, name) =>
    name === 'kube-root-ca.crt'
      ? Promise.resolve({ metadata: { name, namespace }, data: { 'ca.crt': 'CA PEM' } })
      : Promise.reject(new NotFoundError(`configmap "${name}" not found`)),
  registerPod() {},
  unregisterPod() {},
};

describe('makeServiceAccountTokenPayload / projectedTokenFsUser', () => {
  it('uses the defaultMode, or 0600 with an fsUser or fsGroup (owned by the fsUser)', () => {
    expect(makeServiceAccountTokenPayload('token', 't', 0o644, {}).get('token')).toEqual({
      data: new TextEncoder().encode('t'),
      mode: 0o644,
    });
    expect(makeServiceAccountTokenPayload('./x/token', 't', 0o444, {}).get('x/token')?.mode).toBe(
      0o444,
    );
    expect(
      makeServiceAccountTokenPayload('token', 't', 0o644, { fsGroup: 2000 }).get('token'),
    ).toMatchObject({ mode: 0o600 });
    const owned = makeServiceAccountTokenPayload('token', 't', 0o644, { fsUser: 1000 });
    expect(owned.get('token')).toMatchObject({ mode: 0o600, fsUser: 1000 });
    expect(() => makeServiceAccountTokenPayload('../token', 't', 0o644, {})).toThrow(
      "invalid path: must not contain '..': ../token",
    );
  });

  it('finds the fsUser only when every container runs as the same user', () => {
    expect(projectedTokenFsUser(pod())).toBeUndefined();
    expect(projectedTokenFsUser(pod({ securityContext: { runAsUser: 1000 } }))).toBe(1000);
    expect(
      projectedTokenFsUser(
        pod({
          securityContext: { runAsUser: 1000 },
          initContainers: [{ name: 'i', image: 'b', securityContext: { runAsUser: 1000 } }],
        }),
      ),
    ).toBe(1000);
    expect(
      projectedTokenFsUser(
        pod({
          securityContext: { runAsUser: 1000 },
          initContainers: [{ name: 'i', image: 'b', securityContext: { runAsUser: 0 } }],
        }),
      ),
    ).toBeUndefined();
    expect(
      projectedTokenFsUser(
        pod({ containers: [{ name: 'c', image: 'b', securityContext: { runAsUser: 7 } }] }),
      ),
    ).toBe(7);
  });
});

describe('ConfigVolumeManager: projected serviceAccountToken', () => {
  let dir: string;
  let tokens: FakeTokens;
  let manager: ConfigVolumeManager;
  const volDir = (): string => join(dir, 'volumes', 'kubernetes.io~projected', kubeApiAccess.name);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'na-sa-token-'));
    tokens = new FakeTokens();
    manager = new ConfigVolumeManager({
      clock: new FakeClock(),
      configMaps,
      serviceAccountTokens: tokens,
      mounter: noMounts,
    });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the kube-api-access files with a pod-bound token and rewrites a rotated one', async () => {
    expect(await manager.setUp(pod(), dir, kubeApiAccess, ctx)).toBe(true);
    expect(tokens.requests).toEqual([
      {
        namespace: 'team',
        name: 'builder',
        spec: {
          expirationSeconds: 3607,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'web', uid: 'uid-1' },
        },
      },
    ]);
    expect(await readFile(join(volDir(), 'token'), 'utf8')).toBe('jwt-1');
    expect(await readFile(join(volDir(), 'ca.crt'), 'utf8')).toBe('CA PEM');
    expect(await readFile(join(volDir(), 'namespace'), 'utf8')).toBe('team');
    expect((await stat(join(volDir(), 'token'))).mode & 0o777).toBe(0o644);
    // The same token: nothing rewritten; a rotated token: written by the next remount.
    expect(await manager.setUp(pod(), dir, kubeApiAccess, ctx)).toBe(false);
    tokens.token = 'jwt-2';
    expect(await manager.setUp(pod(), dir, kubeApiAccess, ctx)).toBe(true);
    expect(await readFile(join(volDir(), 'token'), 'utf8')).toBe('jwt-2');
    // A refresh failure keeps the old contents (the payload fails before writing).
    tokens.fail = new Error('apiserver down');
    await expect(manager.setUp(pod(), dir, kubeApiAccess, ctx)).rejects.toThrow('apiserver down');
    expect(await readFile(join(volDir(), 'token'), 'utf8')).toBe('jwt-2');
    await manager.tearDown(dir, pod());
    expect(tokens.deleted).toEqual(['uid-1']);
  });

  it('asks for the audience of the source, the default ServiceAccount and 3600 s when unset', async () => {
    const volume: k8s.Volume = {
      name: 'vault',
      projected: { sources: [{ serviceAccountToken: { audience: 'vault', path: 'vault-token' } }] },
    };
    await manager.setUp(pod({ serviceAccountName: '', volumes: [volume] }), dir, volume, ctx);
    expect(tokens.requests[0]).toMatchObject({
      name: 'default',
      spec: { audiences: ['vault'], expirationSeconds: 3600 },
    });
  });

  // Changing owners needs root (the agent runs as root).
  it.skipIf(process.getuid?.() !== 0)(
    'gives the token 0640 with an fsGroup and to the fsUser with 0600',
    async () => {
      await manager.setUp(pod({ securityContext: { fsGroup: 2345 } }), dir, kubeApiAccess, ctx);
      let st = await stat(join(volDir(), 'token'));
      expect(st.mode & 0o777).toBe(0o640);
      expect(st.gid).toBe(2345);
      expect((await stat(join(volDir(), 'ca.crt'))).mode & 0o777).toBe(0o644);
      await rm(dir, { recursive: true, force: true });
      tokens.token = 'jwt-user';
      await manager.setUp(pod({ securityContext: { runAsUser: 1234 } }), dir, kubeApiAccess, ctx);
      st = await stat(join(volDir(), 'token'));
      expect(st.mode & 0o777).toBe(0o600);
      expect(st.uid).toBe(1234);
      expect((await stat(join(volDir(), 'namespace'))).uid).toBe(0);
    },
  );

  it('fails in standalone mode (no token manager) with the kubelet message', async () => {
    const standalone = new ConfigVolumeManager({
      clock: new FakeClock(),
      configMaps,
      mounter: noMounts,
    });
    await expect(standalone.setUp(pod(), dir, kubeApiAccess, ctx)).rejects.toThrow(
      'failed to fetch token: cannot use TokenManager when kubelet is in standalone mode (no API server to request a token for service account "team/builder")',
    );
  });

  it('reports a missing ServiceAccount as the token manager words it', async () => {
    tokens.fail = new NotFoundError('failed to fetch token: serviceaccounts "builder" not found');
    await expect(manager.setUp(pod(), dir, kubeApiAccess, ctx)).rejects.toThrow(
      'failed to fetch token: serviceaccounts "builder" not found',
    );
  });
});
