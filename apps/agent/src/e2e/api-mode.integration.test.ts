/**
 * End to end in API-server mode (issue 6, "Tests"), complementing
 * api-server.integration.test.ts: a Guaranteed pod with an init container and every
 * status field the kubelet writes (all five conditions, init and app container
 * statuses checked against the runtime), bad pod specs from the API (bad probe, bad
 * env references, unsupported volume, absurd resources) that must end in a clear
 * status and event while the agent keeps serving, watches dropped every 3 s for a full
 * minute while pods are created and deleted (no pod missed, none started twice), and
 * 410 Gone on both the watch and the relist.
 *
 * The real `nodeagent` process on the real containerd; the API server in this process.
 */
import { readFileSync } from 'node:fs';
import type { cri as api } from '@nodeagent/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  condition,
  containerStatus,
  obj,
  startApiModeHarness,
  uidOf,
  type ApiModeHarness,
  type Json,
} from './support/api-mode-harness.js';

const ns = 'e2e-apimode';
const badNs = 'e2e-apimode-bad';
const churnNs = 'e2e-apimode-churn';
const rfc3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

let h: ApiModeHarness;

beforeAll(async () => {
  h = await startApiModeHarness({ nodeName: 'e2e-apimode-node', namespaces: [ns, badNs, churnNs] });
}, 60_000);

afterAll(async () => {
  await h?.close();
}, 120_000);

/** Sum of the `count` of events with this reason for a pod UID (the recorder aggregates). */
function eventCount(namespace: string, name: string, uid: string, reason: string): number {
  return h
    .eventsFor(namespace, name, uid)
    .filter((e) => e.reason === reason)
    .reduce((n, e) => n + (typeof e.count === 'number' ? e.count : 1), 0);
}

function waitingOf(namespace: string, name: string, container = 'main'): Json {
  return obj(obj(containerStatus(h.podStatus(namespace, name), container)?.state).waiting);
}

describe('pod status in API-server mode', () => {
  it('a Guaranteed pod with an init container: all five conditions, init and app statuses, IPs, QoS', async () => {
    const resources = {
      requests: { cpu: '100m', memory: '32Mi' },
      limits: { cpu: '100m', memory: '32Mi' },
    };
    const created = h.createPod(ns, 'guaranteed', {
      initContainers: [h.sleeper('init', { command: ['sh', '-c', 'exit 0'], resources })],
      containers: [h.sleeper('main', { resources })],
    });
    const uid = uidOf(created);
    const status = await h.waitFor('guaranteed Ready', () => {
      const s = h.podStatus(ns, 'guaranteed');
      return condition(s, 'Ready')?.status === 'True' ? s : undefined;
    });

    expect(status.phase).toBe('Running');
    expect(status.qosClass).toBe('Guaranteed');
    // The kubelet owns and writes these five (kubetypes.PodConditionsByKubelet plus
    // PodReadyToStartContainers); it sets PodScheduled True itself (generateAPIPodStatus).
    for (const type of [
      'PodReadyToStartContainers',
      'Initialized',
      'ContainersReady',
      'Ready',
      'PodScheduled',
    ]) {
      const c = condition(status, type);
      // Soft: a missing condition is reported without hiding the checks below.
      expect.soft(c?.status, type).toBe('True');
      expect.soft(String(c?.lastTransitionTime), type).toMatch(rfc3339);
    }
    expect(status).toMatchObject({
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      podIP: '127.0.0.1',
      podIPs: [{ ip: '127.0.0.1' }],
    });
    const startTime = String(status.startTime);
    expect(startTime).toMatch(rfc3339);

    // What the runtime says about the two containers.
    const runtime = await h.containersOf(uid);
    const byName = (name: string): api.Container | undefined =>
      runtime.find((c) => c.metadata?.name === name);
    const init = byName('init');
    const main = byName('main');
    expect(init?.state).toBe('CONTAINER_EXITED');
    expect(main?.state).toBe('CONTAINER_RUNNING');
    expect(runtime).toHaveLength(2); // each started once
    const mainRt = await h.cri.containerStatus({ containerId: main!.id });

    const initStatus = containerStatus(status, 'init', true);
    expect(initStatus).toMatchObject({
      name: 'init',
      ready: true,
      restartCount: 0,
      containerID: `containerd://${init?.id}`,
    });
    expect.soft(initStatus?.lastState).toEqual({}); // the kubelet always serializes lastState
    expect(obj(obj(initStatus?.state).terminated)).toMatchObject({
      exitCode: 0,
      reason: 'Completed',
      containerID: `containerd://${init?.id}`,
    });

    const mainStatus = containerStatus(status, 'main');
    expect(mainStatus).toMatchObject({
      name: 'main',
      ready: true,
      started: true,
      restartCount: 0,
      image: h.sleeper('x').image,
      containerID: `containerd://${main?.id}`,
    });
    expect.soft(mainStatus?.lastState).toEqual({});
    // imageID is the image's digest reference as the runtime reports it (imageRef).
    expect(String(mainStatus?.imageID)).toMatch(/sha256:[0-9a-f]{64}$/);
    expect(String(mainStatus?.imageID)).toContain(
      mainRt.status?.imageRef.replace(/^.*sha256:/, 'sha256:') ?? 'missing imageRef',
    );
    const startedAt = String(obj(obj(mainStatus?.state).running).startedAt);
    expect(startedAt).toMatch(rfc3339);
    expect(Date.parse(startedAt)).toBeGreaterThanOrEqual(Date.parse(startTime));
    // Initialized after the init container, so its transition is not before startTime.
    expect(
      Date.parse(String(condition(status, 'Initialized')?.lastTransitionTime)),
    ).toBeGreaterThanOrEqual(Date.parse(startTime));
    h.server.store.delete(h.pods, ns, 'guaranteed', { gracePeriodSeconds: 0 });
  });
});

describe('container and pod lifetimes in API-server mode', () => {
  it('termination messages: the file written by the container, and the log end under FallbackToLogsOnError', async () => {
    const created = h.createPod(ns, 'tmsg', {
      restartPolicy: 'Never',
      containers: [
        h.sleeper('file', {
          command: ['sh', '-c', 'printf "written to the file" > /dev/termination-log; exit 0'],
        }),
        h.sleeper('logs', {
          command: ['sh', '-c', '{ echo line one; echo line two; } >&2; exit 3'],
          terminationMessagePolicy: 'FallbackToLogsOnError',
        }),
        h.sleeper('custom-path', {
          command: ['sh', '-c', 'printf custom > /tmp/msg; exit 0'],
          terminationMessagePath: '/tmp/msg',
        }),
      ],
    });
    const status = await h.waitFor('tmsg Failed', () => {
      const s = h.podStatus(ns, 'tmsg');
      return s.phase === 'Failed' ? s : undefined;
    });
    const terminated = (name: string): Json =>
      obj(obj(containerStatus(status, name)?.state).terminated);
    expect(terminated('file')).toMatchObject({ exitCode: 0, message: 'written to the file' });
    expect(terminated('logs')).toMatchObject({
      exitCode: 3,
      reason: 'Error',
      message: 'line one\nline two\n',
    });
    expect(terminated('custom-path')).toMatchObject({ exitCode: 0, message: 'custom' });
    h.server.store.delete(h.pods, ns, 'tmsg', { gracePeriodSeconds: 0 });
    await h.waitFor(
      'tmsg containers gone',
      async () => (await h.containersOf(uidOf(created))).length === 0,
    );
  });

  it('an emptyDir with medium Memory is a tmpfs of its sizeLimit, world-writable, unmounted with the pod', async () => {
    const created = h.createPod(ns, 'memdir', {
      restartPolicy: 'Never',
      containers: [
        h.sleeper('main', {
          command: [
            'sh',
            '-c',
            // The mount line, the mode, and whether 20 MiB fit in a 16 MiB tmpfs.
            'grep " /cache " /proc/mounts; stat -c %a /cache; ' +
              'if dd if=/dev/zero of=/cache/big bs=1M count=20 2>/dev/null; then echo fits; else echo full; fi',
          ],
          volumeMounts: [{ name: 'cache', mountPath: '/cache' }],
        }),
      ],
      volumes: [{ name: 'cache', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } }],
    });
    const uid = uidOf(created);
    await h.waitFor('memdir done', () => h.podStatus(ns, 'memdir').phase === 'Succeeded');
    const [main] = await h.containersOf(uid);
    const { logPath } = (await h.cri.containerStatus({ containerId: main!.id })).status ?? {};
    const log = readFileSync(logPath ?? '', 'utf8');
    expect(log).toMatch(/tmpfs \/cache tmpfs rw.*size=16384k/);
    expect(log).toMatch(/ F 777\n/);
    expect(log).toMatch(/ F full\n/);
    const mounted = (): boolean => readFileSync('/proc/self/mountinfo', 'utf8').includes(uid);
    expect(mounted()).toBe(true);
    h.server.store.delete(h.pods, ns, 'memdir', { gracePeriodSeconds: 0 });
    await h.waitFor('memdir containers gone', async () => (await h.containersOf(uid)).length === 0);
    await h.waitFor('memdir tmpfs unmounted', () => !mounted());
  });

  it('activeDeadlineSeconds set on a running pod: Failed with DeadlineExceeded, containers stopped', async () => {
    const created = h.createPod(ns, 'deadline', { containers: [h.sleeper('main')] });
    await h.waitFor('deadline Running', () => h.podStatus(ns, 'deadline').phase === 'Running');
    // The API server allows activeDeadlineSeconds to be set or lowered on a live pod.
    const current = h.getPod(ns, 'deadline') ?? {};
    h.server.store.update(h.pods, ns, {
      ...current,
      spec: { ...obj(current.spec), activeDeadlineSeconds: 5 },
    });
    const status = await h.waitFor(
      'deadline Failed',
      () => {
        const s = h.podStatus(ns, 'deadline');
        return s.phase === 'Failed' ? s : undefined;
      },
      30_000,
    );
    expect(status).toMatchObject({
      reason: 'DeadlineExceeded',
      message: 'Pod was active on the node longer than the specified deadline',
    });
    const runtime = await h.containersOf(uidOf(created));
    expect(runtime.map((c) => c.state)).toEqual(['CONTAINER_EXITED']);
    expect(h.eventsFor(ns, 'deadline').some((e) => e.reason === 'DeadlineExceeded')).toBe(true);
    h.server.store.delete(h.pods, ns, 'deadline', { gracePeriodSeconds: 0 });
    await h.waitFor(
      'deadline containers gone',
      async () => (await h.containersOf(uidOf(created))).length === 0,
    );
  });
});

describe('bad pod specs from the API', () => {
  // Every case creates its pod, checks what the agent reports, checks the agent is
  // still up, and deletes the pod gracefully: the agent must complete that deletion.
  async function deleteAndExpectGone(name: string, uid: string): Promise<void> {
    h.server.store.delete(h.pods, badNs, name);
    await h.waitFor(
      `${name} deleted by the agent`,
      () => h.getPod(badNs, name) === undefined,
      30_000,
    );
    await h.waitFor(
      `${name} containers gone`,
      async () => (await h.containersOf(uid)).length === 0,
    );
  }

  it('a readiness probe without a handler: Running, never Ready, an Unhealthy event saying why', async () => {
    // The kubelet does not validate probes: its prober errors ("missing probe handler"),
    // records Unhealthy "Readiness probe errored and resulted in unknown state: …", and
    // the container is never Ready.
    const uid = uidOf(
      h.createPod(badNs, 'probe-no-handler', {
        containers: [h.sleeper('main', { readinessProbe: { periodSeconds: 1 } })],
      }),
    );
    try {
      const unhealthy = await h.waitFor('an Unhealthy event for probe-no-handler', () =>
        h
          .eventsFor(badNs, 'probe-no-handler')
          .find((e) => e.reason === 'Unhealthy' && String(e.message).includes('probe errored')),
      );
      expect(unhealthy.type).toBe('Warning');
      const status = h.podStatus(badNs, 'probe-no-handler');
      expect(status.phase).toBe('Running');
      expect(condition(status, 'Ready')?.status).toBe('False');
      expect(h.agent?.exitCode).toBeNull();
    } finally {
      await deleteAndExpectGone('probe-no-handler', uid);
    }
  });

  for (const [name, env, cause] of [
    // An env var from an unknown field path.
    [
      'env-bad-fieldref',
      { name: 'X', valueFrom: { fieldRef: { fieldPath: 'spec.noSuchField' } } },
      /spec\.noSuchField/,
    ],
    // An env var from a ConfigMap key whose ConfigMap name is not a valid name.
    [
      'env-bad-ref-name',
      { name: 'Y', valueFrom: { configMapKeyRef: { name: 'Not_A/Name', key: 'k' } } },
      /Not_A\/Name/,
    ],
  ] as const) {
    it(`${name}: waiting CreateContainerConfigError with the cause, and a Failed event`, async () => {
      const uid = uidOf(
        h.createPod(badNs, name, { containers: [h.sleeper('main', { env: [env] })] }),
      );
      try {
        const waiting = await h.waitFor(`${name} CreateContainerConfigError`, () => {
          const w = waitingOf(badNs, name);
          return w.reason === 'CreateContainerConfigError' ? w : undefined;
        });
        expect(String(waiting.message)).toMatch(cause);
        expect(h.podStatus(badNs, name).phase).toBe('Pending');
        await h.waitFor(`a Failed event for ${name}`, () =>
          h.eventsFor(badNs, name).some((e) => e.reason === 'Failed' && e.type === 'Warning'),
        );
        expect(h.agent?.exitCode).toBeNull();
      } finally {
        await deleteAndExpectGone(name, uid);
      }
    });
  }

  it('an unsupported volume source: FailedMount naming it, Pending, no container', async () => {
    const uid = uidOf(
      h.createPod(badNs, 'volume-unsupported', {
        containers: [h.sleeper('main', { volumeMounts: [{ name: 'v', mountPath: '/v' }] })],
        volumes: [{ name: 'v', nfs: { server: '127.0.0.1', path: '/export' } }],
      }),
    );
    try {
      const failedMount = await h.waitFor('FailedMount for volume-unsupported', () =>
        h.eventsFor(badNs, 'volume-unsupported').find((e) => e.reason === 'FailedMount'),
      );
      expect(String(failedMount.message)).toMatch(/nfs/);
      const status = h.podStatus(badNs, 'volume-unsupported');
      expect(status.phase).toBe('Pending');
      expect(obj(obj(containerStatus(status, 'main')?.state).waiting).reason).toBe(
        'ContainerCreating',
      );
      expect(await h.containersOf(uid)).toHaveLength(0);
      expect(h.agent?.exitCode).toBeNull();
    } finally {
      await deleteAndExpectGone('volume-unsupported', uid);
    }
  });

  it('an unparseable quantity (the API server would refuse it): a status or event naming it, never Running', async () => {
    const uid = uidOf(
      h.createPod(badNs, 'resources-unparseable', {
        containers: [
          h.sleeper('main', {
            resources: { limits: { memory: 'lots' }, requests: { memory: 'lots' } },
          }),
        ],
      }),
    );
    try {
      await h.waitFor('resources-unparseable reported', () => {
        const text =
          JSON.stringify(h.podStatus(badNs, 'resources-unparseable')) +
          JSON.stringify(h.eventsFor(badNs, 'resources-unparseable'));
        return text.includes('lots');
      });
      expect(h.podStatus(badNs, 'resources-unparseable').phase).not.toBe('Running');
      expect(await h.containersOf(uid)).toHaveLength(0);
      expect(h.agent?.exitCode).toBeNull();
    } finally {
      await deleteAndExpectGone('resources-unparseable', uid);
    }
  });

  it('a pod requesting more CPU than the node has is rejected at admission (OutOfcpu, Failed)', async () => {
    // 100 000 CPUs: the kubelet's predicate admission handler rejects the pod — phase
    // Failed, reason OutOfcpu, "Pod was rejected: Node didn't have enough resource: cpu, …"
    // — and never creates a sandbox for it.
    const absurd = h.createPod(badNs, 'resources-absurd', {
      containers: [h.sleeper('main', { resources: { requests: { cpu: '100k', memory: '1Mi' } } })],
    });
    try {
      const rejected = await h.waitFor('resources-absurd rejected', () => {
        const s = h.podStatus(badNs, 'resources-absurd');
        return s.phase === 'Failed' ? s : undefined;
      });
      expect(rejected.reason).toBe('OutOfcpu');
      expect(String(rejected.message)).toMatch(/Node didn't have enough resource: cpu/);
      expect(await h.sandboxesOf(uidOf(absurd))).toHaveLength(0);
      expect(h.agent?.exitCode).toBeNull();
    } finally {
      h.server.store.delete(h.pods, badNs, 'resources-absurd', { gracePeriodSeconds: 0 });
    }
  });
  it('an unsafe sysctl that is not allowed: rejected (SysctlForbidden, Failed), never started', async () => {
    const created = h.createPod(badNs, 'sysctl-unsafe', {
      securityContext: { sysctls: [{ name: 'kernel.msgmax', value: '10000000000' }] },
      containers: [h.sleeper('main')],
    });
    try {
      const rejected = await h.waitFor('sysctl-unsafe rejected', () => {
        const s = h.podStatus(badNs, 'sysctl-unsafe');
        return s.phase === 'Failed' ? s : undefined;
      });
      expect(rejected).toMatchObject({
        reason: 'SysctlForbidden',
        message: 'Pod was rejected: forbidden sysctl: "kernel.msgmax" not allowlisted',
      });
      await h.waitFor('a SysctlForbidden event', () =>
        h.eventsFor(badNs, 'sysctl-unsafe').some((e) => e.reason === 'SysctlForbidden'),
      );
      expect(await h.sandboxesOf(uidOf(created))).toHaveLength(0);
    } finally {
      h.server.store.delete(h.pods, badNs, 'sysctl-unsafe', { gracePeriodSeconds: 0 });
    }
  });

  it('after all of them the agent is still up and runs a good pod', async () => {
    expect(h.agent?.exitCode).toBeNull();
    const good = h.createPod(badNs, 'good-after-bad', { containers: [h.sleeper('main')] });
    await h.waitFor(
      'good-after-bad Running',
      () => h.podStatus(badNs, 'good-after-bad').phase === 'Running',
    );
    await deleteAndExpectGone('good-after-bad', uidOf(good));
  });
});

describe('API faults', () => {
  it('watches dropped every 3 s for a minute while pods come and go: none missed, none started twice', async () => {
    const created = new Map<string, string>(); // name → uid
    const deleted = new Set<string>();
    const dropper = setInterval(() => h.server.faults.dropWatches({ abort: true }), 3_000);
    const watchesBefore = h.server.requests.filter(
      (r) => r.resource === 'pods' && r.verb === 'watch',
    ).length;
    try {
      const start = Date.now();
      for (let i = 0; Date.now() - start < 60_000; i++) {
        const name = `churn-${i}`;
        created.set(name, uidOf(h.createPod(churnNs, name, { containers: [h.sleeper('main')] })));
        // Every third pod is deleted (gracefully: the agent must see the deletion and
        // complete it) a few seconds after it was created.
        if (i % 3 === 2) {
          const victim = `churn-${i - 2}`;
          h.server.store.delete(h.pods, churnNs, victim);
          deleted.add(victim);
        }
        await new Promise((r) => setTimeout(r, 2_000));
      }
    } finally {
      clearInterval(dropper);
    }
    // The watches were really cut and re-established many times.
    const watches = h.server.requests.filter((r) => r.resource === 'pods' && r.verb === 'watch');
    expect(watches.length - watchesBefore).toBeGreaterThanOrEqual(15);

    const kept = [...created.keys()].filter((n) => !deleted.has(n));
    expect(kept.length).toBeGreaterThanOrEqual(15);
    for (const name of kept) {
      await h.waitFor(
        `${name} Running`,
        () => h.podStatus(churnNs, name).phase === 'Running',
        60_000,
      );
    }
    for (const name of deleted) {
      await h.waitFor(
        `${name} deleted by the agent`,
        () => h.getPod(churnNs, name) === undefined,
        60_000,
      );
    }
    for (const name of kept) {
      const uid = created.get(name)!;
      const containers = await h.containersOf(uid);
      expect(
        containers.map((c) => `${c.metadata?.name}/${c.metadata?.attempt}/${c.state}`),
        name,
      ).toEqual(['main/0/CONTAINER_RUNNING']);
      expect(
        (await h.sandboxesOf(uid)).map((s) => s.metadata?.attempt),
        name,
      ).toEqual([0]);
    }
    for (const [name, uid] of created) {
      // Started once at most (a deleted pod may be gone before its container started).
      expect(eventCount(churnNs, name, uid, 'Started'), name).toBeLessThanOrEqual(1);
      expect(eventCount(churnNs, name, uid, 'Created'), name).toBeLessThanOrEqual(1);
      if (!deleted.has(name)) expect(eventCount(churnNs, name, uid, 'Started'), name).toBe(1);
    }
    for (const name of deleted) {
      const uid = created.get(name)!;
      await h.waitFor(
        `${name} containers gone`,
        async () => (await h.containersOf(uid)).length === 0,
      );
    }
    for (const name of kept)
      h.server.store.delete(h.pods, churnNs, name, { gracePeriodSeconds: 0 });
  }, 180_000);

  it('410 Gone on the watch and then on the relist: relists again and still sees every change', async () => {
    h.createPod(churnNs, 'before-gone', { containers: [h.sleeper('main')] });
    await h.waitFor(
      'before-gone Running',
      () => h.podStatus(churnNs, 'before-gone').phase === 'Running',
    );
    const from = h.server.requests.length;
    h.server.faults.failRequests({
      match: { verb: 'watch', resource: 'pods' },
      code: 410,
      times: 1,
    });
    h.server.faults.failRequests({
      match: { verb: 'list', resource: 'pods' },
      code: 410,
      times: 1,
    });
    h.server.faults.dropWatches();
    // Changes while the agent is between watches: one pod deleted, one created.
    h.server.store.delete(h.pods, churnNs, 'before-gone');
    const after = h.createPod(churnNs, 'after-gone', { containers: [h.sleeper('main')] });
    try {
      // The resumed watch answered 410, then the relist 410, then a relist succeeded.
      await h.waitFor(
        'watch 410, list 410, then a successful relist',
        () => {
          const seq = h.server.requests
            .slice(from)
            .filter((r) => r.resource === 'pods' && r.namespace === '' && r.verb !== 'get')
            .map((r) => `${r.verb}:${r.status}`);
          const w = seq.indexOf('watch:410');
          const l = seq.indexOf('list:410');
          return w >= 0 && l > w && seq.indexOf('list:200', l) > l;
        },
        30_000,
      );
      await h.waitFor(
        'after-gone Running',
        () => h.podStatus(churnNs, 'after-gone').phase === 'Running',
        45_000,
      );
      await h.waitFor(
        'before-gone deleted by the agent',
        () => h.getPod(churnNs, 'before-gone') === undefined,
        45_000,
      );
      expect((await h.containersOf(uidOf(after))).map((c) => c.metadata?.attempt)).toEqual([0]);
    } finally {
      h.server.faults.clear();
      h.server.store.delete(h.pods, churnNs, 'after-gone', { gracePeriodSeconds: 0 });
    }
  }, 120_000);
});
