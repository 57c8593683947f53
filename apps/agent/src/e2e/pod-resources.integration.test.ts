/**
 * The kubelet PodResources API end to end (KEP-606; kubelet e2e_node
 * `podresources_test.go`: "should return the expected responses" for List/Get, without
 * devices, CPU or memory managers): the real `nodeagent` process serves
 * `v1.PodResourcesLister` on `<root-dir>/pod-resources/kubelet.sock`, and a client on
 * that socket sees what the kubelet would report for pods running on the real
 * containerd:
 * - a running pod is listed with its sidecar (restartable init container) then its app
 *   container; the completed plain init container is not listed;
 * - a pod that ran to completion (Succeeded) is not an active pod: not in List, but Get
 *   still finds it (kubelet GetPodByName reads the pod manager);
 * - a deleted pod disappears once its deletion completes; Get of a missing pod fails
 *   with the kubelet's message.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode } from '@nodeagent/core';
import {
  PodResourcesClient,
  podResourcesSocketPath,
  type podresources,
} from '@nodeagent/pod-resources';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  containerStatus,
  startApiModeHarness,
  uidOf,
  type ApiModeHarness,
} from './support/api-mode-harness.js';

const ns = 'e2e-podres';
let h: ApiModeHarness;
let client: PodResourcesClient | undefined;

beforeAll(async () => {
  h = await startApiModeHarness({ nodeName: 'e2e-podres-node', namespaces: [ns] });
}, 60_000);

afterAll(async () => {
  client?.close();
  await h?.close();
}, 60_000);

/** The agent's `--root-dir`, read from its command line (the harness picks a temp dir). */
function agentRootDir(): string {
  const pid = h.agent?.pid;
  if (pid === undefined) throw new Error('the agent is not running');
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const i = args.indexOf('--root-dir');
  const dir = args[i + 1];
  if (i < 0 || !dir) throw new Error(`no --root-dir in ${args.join(' ')}`);
  return dir;
}

const names = (pods: readonly podresources.PodResources[]) =>
  pods.filter((p) => p.namespace === ns).map((p) => p.name);

describe('PodResources API of the agent process (kubelet podresources e2e)', () => {
  it('lists active pods with sidecars and app containers, drops finished and deleted pods, Get errors for a missing pod', async () => {
    const socket = podResourcesSocketPath(agentRootDir());
    await h.waitFor('the podresources socket', () =>
      statSync(socket, { throwIfNoEntry: false })?.isSocket(),
    );
    client = new PodResourcesClient({ socket });
    const c = client;

    h.createPod(ns, 'web', {
      terminationGracePeriodSeconds: 1,
      initContainers: [
        { name: 'setup', image: h.sleeper('x').image, command: ['true'] },
        h.sleeper('proxy', { restartPolicy: 'Always' }),
      ],
      containers: [h.sleeper('app')],
    });
    h.createPod(ns, 'job', {
      restartPolicy: 'Never',
      containers: [{ name: 'once', image: h.sleeper('x').image, command: ['true'] }],
    });

    // Both pods reach their state on the real runtime.
    await h.waitFor('web running with its sidecar and app', () => {
      const s = h.podStatus(ns, 'web');
      return (
        s.phase === 'Running' &&
        containerStatus(s, 'app')?.started === true &&
        containerStatus(s, 'proxy', true)?.started === true
      );
    });
    await h.waitFor('job Succeeded', () => h.podStatus(ns, 'job').phase === 'Succeeded');
    const webUid = uidOf(h.getPod(ns, 'web'));
    const running = (await h.containersOf(webUid)).filter((x) => x.state === 'CONTAINER_RUNNING');
    expect(running.map((x) => x.metadata?.name).sort()).toEqual(['app', 'proxy']);

    // List: the active pod only, sidecar first, no plain init container, empty resources.
    const listed = await h.waitFor('List without the finished job', async () => {
      const { podResources } = await c.list();
      return names(podResources).join() === 'web' ? podResources : undefined;
    });
    const web = listed.find((p) => p.namespace === ns && p.name === 'web');
    expect(web?.containers.map((x) => x.name)).toEqual(['proxy', 'app']);
    for (const x of web?.containers ?? []) {
      expect(x).toMatchObject({ devices: [], cpuIds: [], memory: [], dynamicResources: [] });
    }
    expect(await c.getAllocatableResources()).toEqual({ devices: [], cpuIds: [], memory: [] });

    // Get: the running pod, and the finished one (still in the pod manager).
    expect(
      (await c.get({ podNamespace: ns, podName: 'web' })).podResources?.containers.map(
        (x) => x.name,
      ),
    ).toEqual(['proxy', 'app']);
    expect((await c.get({ podNamespace: ns, podName: 'job' })).podResources?.name).toBe('job');

    // A graceful delete (kubectl delete): gone from List once the agent completed it.
    h.server.store.delete(h.pods, ns, 'web');
    await h.waitFor(
      'web removed from the API server',
      () => h.getPod(ns, 'web') === undefined,
      20_000,
    );
    await h.waitFor(
      'web gone from List',
      async () => !names((await c.list()).podResources).includes('web'),
    );

    const err = await c.get({ podNamespace: ns, podName: 'web' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({
      code: ErrorCode.Unknown,
      detail: `pod web in namespace ${ns} not found`,
    });
    h.server.store.delete(h.pods, ns, 'job', { gracePeriodSeconds: 0 });
  }, 25_000);

  it('serves on <root-dir>/pod-resources with the kubelet modes', () => {
    const dir = join(agentRootDir(), 'pod-resources');
    expect(statSync(dir).mode & 0o777).toBe(0o750);
    expect(statSync(join(dir, 'kubelet.sock')).isSocket()).toBe(true);
  });
});
