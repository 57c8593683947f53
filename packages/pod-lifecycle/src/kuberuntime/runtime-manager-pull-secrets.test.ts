/**
 * RuntimeManager pulling with the pod's `imagePullSecrets`: the in-memory runtime's
 * pullImage is wrapped as a registry that wants one password; matching credentials
 * are tried in order, a wrong password gives ErrImagePull then ImagePullBackOff (and a
 * retry once the back-off passed on the FakeClock), a missing secret gives the
 * kubelet's Warning event and an anonymous pull, standalone stays anonymous.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError, type SecretManager, type cri, type k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { createPleg, type Pleg } from '@nodeagent/pleg';
import { createFakeRuntime, type FakeRuntime } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeManager, type RuntimeManagerOptions } from '../runtime-manager.js';

const registry = 'registry.private:5000';
const image = `${registry}/team/app:1`;
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

function pullSecret(name: string, auths: Record<string, unknown>): k8s.Secret {
  return {
    metadata: { name, namespace: 'team' },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': b64(JSON.stringify({ auths })) },
  };
}

class MemorySecrets implements SecretManager {
  readonly secrets = new Map<string, k8s.Secret>();
  async getSecret(namespace: string, name: string): Promise<k8s.Secret> {
    const s = this.secrets.get(`${namespace}/${name}`);
    if (!s) throw new NotFoundError(`secret "${name}" not found`);
    return structuredClone(s);
  }
  registerPod(): void {}
  unregisterPod(): void {}
  add(s: k8s.Secret): void {
    this.secrets.set(`${s.metadata.namespace}/${s.metadata.name}`, s);
  }
}

describe('RuntimeManager: imagePullSecrets', () => {
  let dir: string;
  let clock: FakeClock;
  let runtime: FakeRuntime;
  let pleg: Pleg;
  let pulls: Array<{ image: string; auth: cri.AuthConfigInput | null | undefined }>;
  let events: Array<{ type: string; reason: string; message: string }>;
  let secrets: MemorySecrets;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rm-pull-secrets-'));
    clock = new FakeClock();
    runtime = createFakeRuntime({ clock, autoEvents: false });
    pulls = [];
    events = [];
    secrets = new MemorySecrets();
    // The private registry: only puller/right gets the image.
    const pullImage = runtime.pullImage.bind(runtime);
    runtime.pullImage = async (req, opts) => {
      const wanted = req?.image?.image ?? '';
      pulls.push({ image: wanted, auth: req?.auth });
      if (wanted.startsWith(`${registry}/`)) {
        const auth = req?.auth;
        if (!auth) throw new Error(`pulling from host ${registry} failed: 401 Unauthorized`);
        if (auth.username !== 'puller' || auth.password !== 'right')
          throw new Error(
            `pulling from host ${registry} failed: 401 Unauthorized (${auth.username})`,
          );
      }
      return pullImage(req, opts);
    };
    pleg = createPleg({ runtime, clock, relistPeriodMs: 1_000 });
  });
  afterEach(async () => {
    await pleg.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function manager(extra: Partial<RuntimeManagerOptions> = {}): RuntimeManager {
    return new RuntimeManager({
      runtime,
      images: runtime,
      cache: pleg.cache,
      clock,
      nodeName: 'node-1',
      rootDir: join(dir, 'root'),
      podLogsDir: join(dir, 'logs'),
      runtimeName: 'containerd',
      memoryCapacityBytes: 8 * 1024 ** 3,
      recorder: { event: (_ref, type, reason, message) => events.push({ type, reason, message }) },
      ...extra,
    });
  }

  function podWith(pullSecrets: string[], uid = 'pull-1', containerImage = image): k8s.Pod {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'app', namespace: 'team', uid },
      spec: {
        hostNetwork: true,
        imagePullSecrets: pullSecrets.map((name) => ({ name })),
        containers: [{ name: 'app', image: containerImage, command: ['sleep', '3600'] }],
      },
    };
  }

  const signal = new AbortController().signal;
  async function sync(m: RuntimeManager, pod: k8s.Pod): Promise<void> {
    await pleg.relist();
    await m.syncPod(pod, 'sync', { signal, statusNewerThanMs: 0 });
  }
  const waiting = (m: RuntimeManager, uid = 'pull-1') =>
    m.podStatus(uid)?.containerStatuses?.[0]?.state?.waiting;
  const running = async () =>
    (await runtime.listContainers({})).containers.filter((c) => c.state === 'CONTAINER_RUNNING');

  it('tries the matching credentials most specific first and starts with the right one', async () => {
    secrets.add(
      pullSecret('stale', { [`${registry}/team`]: { username: 'puller', password: 'old' } }),
    );
    secrets.add(
      pullSecret('current', {
        [`https://${registry}`]: { auth: b64('puller:right') },
        'other.example.com': { username: 'x', password: 'y' },
      }),
    );
    const m = manager({ secrets });
    await sync(m, podWith(['current', 'stale']));
    expect(pulls.filter((p) => p.image === image).map((p) => p.auth)).toEqual([
      { username: 'puller', password: 'old' },
      { username: 'puller', password: 'right' },
    ]);
    expect(await running()).toHaveLength(1);
    expect(events.map((e) => e.reason)).toContain('Pulled');
    expect(events.map((e) => e.reason)).not.toContain('FailedToRetrieveImagePullSecret');
  });

  it('a wrong password: ErrImagePull with the runtime message, then ImagePullBackOff, retried after the back-off', async () => {
    secrets.add(pullSecret('creds', { [registry]: { username: 'puller', password: 'wrong' } }));
    const m = manager({ secrets });
    const pod = podWith(['creds']);
    await sync(m, pod);
    expect(waiting(m)).toEqual({
      reason: 'ErrImagePull',
      message: `Failed to pull image "${image}": pulling from host ${registry} failed: 401 Unauthorized (puller)`,
    });
    expect(events).toContainEqual({
      type: 'Warning',
      reason: 'Failed',
      message: `Failed to pull image "${image}": pulling from host ${registry} failed: 401 Unauthorized (puller)`,
    });
    expect(pulls).toHaveLength(1);

    await sync(m, pod);
    expect(waiting(m)?.reason).toBe('ImagePullBackOff');
    expect(pulls).toHaveLength(1);

    // The secret is fixed; after the 10 s back-off the next sync pulls with it.
    secrets.add(pullSecret('creds', { [registry]: { username: 'puller', password: 'right' } }));
    await clock.advance(10_001);
    await sync(m, pod);
    expect(pulls.map((p) => p.auth?.password)).toEqual(['wrong', 'right']);
    expect(await running()).toHaveLength(1);
  });

  it('several credentials all failing: the aggregate of their errors', async () => {
    secrets.add(pullSecret('a', { [registry]: { username: 'a', password: '1' } }));
    secrets.add(pullSecret('b', { [registry]: { username: 'b', password: '2' } }));
    const m = manager({ secrets });
    await sync(m, podWith(['a', 'b']));
    expect(waiting(m)).toEqual({
      reason: 'ErrImagePull',
      message: `Failed to pull image "${image}": [pulling from host ${registry} failed: 401 Unauthorized (a), pulling from host ${registry} failed: 401 Unauthorized (b)]`,
    });
  });

  it('a missing secret: the Warning event, and the pull goes on with what is left', async () => {
    secrets.add(pullSecret('creds', { [registry]: { username: 'puller', password: 'right' } }));
    const m = manager({ secrets });
    await sync(m, podWith(['gone', 'creds', 'also-gone']));
    expect(events).toContainEqual({
      type: 'Warning',
      reason: 'FailedToRetrieveImagePullSecret',
      message:
        'Unable to retrieve some image pull secrets (gone, also-gone); attempting to pull the image may not succeed.',
    });
    expect(await running()).toHaveLength(1);
  });

  it('only missing secrets: an anonymous pull (which the private registry refuses)', async () => {
    const m = manager({ secrets });
    await sync(m, podWith(['gone']));
    expect(pulls.map((p) => p.auth)).toEqual([undefined]);
    expect(waiting(m)?.reason).toBe('ErrImagePull');
  });

  it('credentials for other registries: an anonymous pull of a public image', async () => {
    secrets.add(pullSecret('creds', { [registry]: { username: 'puller', password: 'right' } }));
    const m = manager({ secrets });
    await sync(m, podWith(['creds'], 'pull-2', 'busybox:1'));
    expect(pulls).toEqual([{ image: 'busybox:1', auth: undefined }]);
    expect(await running()).toHaveLength(1);
  });

  it('a broken pull secret is skipped; the other one is used', async () => {
    secrets.add({
      metadata: { name: 'broken', namespace: 'team' },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': b64('{not json') },
    });
    secrets.add(pullSecret('creds', { [registry]: { username: 'puller', password: 'right' } }));
    const warnings: string[] = [];
    const logger = {
      error() {},
      warn(message: string, fields?: Record<string, unknown>) {
        warnings.push(`${message}: ${String(fields?.['problem'])}`);
      },
      info() {},
      debug() {},
      child() {
        return logger;
      },
    };
    const m = manager({ secrets, logger });
    await sync(m, podWith(['broken', 'creds']));
    expect(warnings).toEqual([
      'Ignoring unreadable image pull secret content: secret team/broken .dockerconfigjson: not valid JSON',
    ]);
    expect(await running()).toHaveLength(1);
  });

  it('standalone (no SecretManager): pulls anonymously as before', async () => {
    const m = manager();
    await sync(m, podWith(['creds'], 'pull-3', 'busybox:1'));
    expect(pulls).toEqual([{ image: 'busybox:1', auth: undefined }]);
    expect(events.map((e) => e.reason)).toContain('FailedToRetrieveImagePullSecret');
    expect(await running()).toHaveLength(1);
  });

  it('no imagePullSecrets: no secret is read, anonymous pull', async () => {
    let reads = 0;
    const counting: SecretManager = {
      getSecret: async (ns, name) => {
        reads++;
        return secrets.getSecret(ns, name);
      },
      registerPod() {},
      unregisterPod() {},
    };
    const m = manager({ secrets: counting });
    await sync(m, podWith([], 'pull-4', 'busybox:1'));
    expect(reads).toBe(0);
    expect(pulls).toEqual([{ image: 'busybox:1', auth: undefined }]);
  });
});
