/**
 * Service-link environment variables on the real containerd, through the
 * RuntimeManager with a service lister: while the lister has not synced an API pod's
 * container fails with CreateContainerConfigError (no container is created); once
 * synced, `env` in the container shows the Services of its namespace and the
 * `kubernetes` master Service, the explicit env wins, `$(VAR)` in env and args
 * reads service variables, and a pod with `enableServiceLinks: false` sees only the
 * master Service.
 */
import { randomUUID } from 'node:crypto';
import type { Service, ServiceLister, k8s } from '@nodeagent/core';
import type { CriClient } from '@nodeagent/cri-client';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeManager } from '../runtime-manager.js';
import { RealRuntimeHarness } from '../test-support/real-runtime-manager.js';

const env = realRuntime();
const suiteLabel = { 'nodeagent.test/suite': 'pod-lifecycle-service-env' };
const namespace = 'service-env-it';

/** A lister stub over a fixed set of Services whose sync state the test controls. */
class StubServiceLister implements ServiceLister {
  synced = false;
  constructor(private readonly services: Service[]) {}
  listServices(ns: string): readonly Service[] {
    return this.services.filter((s) => s.metadata.namespace === ns);
  }
  hasSynced(): boolean {
    return this.synced;
  }
}

const services = new StubServiceLister([
  {
    metadata: { namespace: 'default', name: 'kubernetes', uid: 'k' },
    spec: { clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443 }] },
  },
  {
    metadata: { namespace, name: 'foo', uid: 'f' },
    spec: {
      clusterIP: '10.96.0.20',
      ports: [
        { name: 'http', port: 80 },
        { name: 'dns', port: 53, protocol: 'UDP' },
      ],
    },
  },
  {
    metadata: { namespace, name: 'headless', uid: 'h' },
    spec: { clusterIP: 'None', ports: [{ port: 80 }] },
  },
  {
    metadata: { namespace, name: 'override-me', uid: 'o' },
    spec: { clusterIP: '10.96.0.21', ports: [{ port: 8080 }] },
  },
]);

function makePod(name: string, enableServiceLinks: boolean | undefined): k8s.Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      uid: randomUUID(),
      labels: { ...suiteLabel },
      annotations: { 'kubernetes.io/config.source': 'api' },
    },
    spec: {
      hostNetwork: true,
      terminationGracePeriodSeconds: 1,
      ...(enableServiceLinks !== undefined ? { enableServiceLinks } : {}),
      containers: [
        {
          name: 'app',
          image: env.busyboxImage,
          command: ['sh', '-c', 'echo "$0" > /tmp/arg0; exec sleep 3600', '$(FOO_SERVICE_PORT)'],
          env: [
            { name: 'OVERRIDE_ME_SERVICE_HOST', value: 'explicit' },
            { name: 'FOO_URL', value: 'http://$(FOO_SERVICE_HOST):$(FOO_SERVICE_PORT_HTTP)' },
          ],
        },
      ],
    },
  };
}

const linked = makePod('service-env-linked', undefined);
const unlinked = makePod('service-env-unlinked', false);

let harness: RealRuntimeHarness;
let cri: CriClient;
let manager: RuntimeManager;
let events: RealRuntimeHarness['events'];

async function sync(pod: k8s.Pod): Promise<void> {
  await harness.sync(manager, pod);
}

async function containersOf(pod: k8s.Pod) {
  const { containers } = await cri.listContainers({
    filter: { labelSelector: { 'io.kubernetes.pod.uid': pod.metadata.uid ?? '' } },
  });
  return containers;
}

async function envOf(pod: k8s.Pod): Promise<string[]> {
  const running = (await containersOf(pod)).find((c) => c.state === 'CONTAINER_RUNNING');
  if (!running) throw new Error('no running container');
  const r = await cri.execSync({ containerId: running.id, cmd: ['env'], timeout: 10 });
  return Buffer.from(r.stdout).toString('utf8').split('\n');
}

beforeAll(async () => {
  harness = await RealRuntimeHarness.open({ suiteLabel, rootDirPrefix: 'service-env-it-' });
  ({ cri, events } = harness);
  manager = harness.manager({ services });
});

afterAll(() => harness?.close());

describe('service environment variables on containerd', () => {
  it('an unsynced lister: CreateContainerConfigError, no container created', async () => {
    await sync(linked);
    const status = manager.podStatus(linked.metadata.uid ?? '')?.containerStatuses?.[0];
    expect(status?.state?.waiting).toEqual({
      reason: 'CreateContainerConfigError',
      message: 'services have not yet been read at least once, cannot construct envvars',
    });
    expect(await containersOf(linked)).toEqual([]);
    expect(events).toContainEqual({
      type: 'Warning',
      reason: 'Failed',
      message: 'Error: services have not yet been read at least once, cannot construct envvars',
    });
  });

  it('once synced: the namespace services and the master service in env', async () => {
    services.synced = true;
    await sync(linked);
    const lines = await envOf(linked);
    expect(lines).toEqual(
      expect.arrayContaining([
        'FOO_SERVICE_HOST=10.96.0.20',
        'FOO_SERVICE_PORT=80',
        'FOO_SERVICE_PORT_HTTP=80',
        'FOO_SERVICE_PORT_DNS=53',
        'FOO_PORT=tcp://10.96.0.20:80',
        'FOO_PORT_53_UDP=udp://10.96.0.20:53',
        'FOO_PORT_53_UDP_PROTO=udp',
        'FOO_PORT_53_UDP_ADDR=10.96.0.20',
        'KUBERNETES_SERVICE_HOST=10.96.0.1',
        'KUBERNETES_SERVICE_PORT_HTTPS=443',
        'OVERRIDE_ME_SERVICE_PORT=8080',
        // Explicit env wins; $(VAR) reads the service variables.
        'OVERRIDE_ME_SERVICE_HOST=explicit',
        'FOO_URL=http://10.96.0.20:80',
      ]),
    );
    expect(lines.filter((l) => l.startsWith('OVERRIDE_ME_SERVICE_HOST='))).toHaveLength(1);
    expect(lines.some((l) => l.startsWith('HEADLESS_'))).toBe(false);
    // Command arguments are expanded with the service variables too.
    const running = (await containersOf(linked)).find((c) => c.state === 'CONTAINER_RUNNING');
    const arg = await cri.execSync({
      containerId: running!.id,
      cmd: ['cat', '/tmp/arg0'],
      timeout: 10,
    });
    expect(Buffer.from(arg.stdout).toString('utf8')).toBe('80\n');
  });

  it('enableServiceLinks false: only the kubernetes master service', async () => {
    await sync(unlinked);
    const lines = await envOf(unlinked);
    expect(lines).toContain('KUBERNETES_SERVICE_HOST=10.96.0.1');
    expect(lines.some((l) => l.startsWith('FOO_SERVICE_HOST='))).toBe(false);
    expect(lines.some((l) => l.startsWith('OVERRIDE_ME_SERVICE_PORT='))).toBe(false);
    // Unresolvable references stay as written, as on a kubelet.
    expect(lines).toContain('FOO_URL=http://$(FOO_SERVICE_HOST):$(FOO_SERVICE_PORT_HTTP)');
  });

  it('cleanup removes both pods', async () => {
    for (const p of [linked, unlinked]) {
      await harness.terminate(manager, p);
    }
    const { items } = await cri.listPodSandbox({ filter: { labelSelector: suiteLabel } });
    expect(items).toEqual([]);
  });
});
