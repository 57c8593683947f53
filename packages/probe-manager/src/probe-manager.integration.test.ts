/**
 * probe-manager against the real containerd: exec probes through CRI ExecSync in a
 * busybox container, httpGet and tcpSocket against busybox httpd in a host-network
 * container on 127.0.0.1, grpc against a health server in this process; then the
 * whole manager driving restarts and readiness from those probes.
 */
import { randomUUID } from 'node:crypto';
import {
  RealClock,
  type ContainerRestartRequest,
  type cri as api,
  type k8s,
} from '@nodeagent/core';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import { freeLoopbackPort, waitForLoopbackPort } from '@nodeagent/testkit';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHealthServer, type HealthServer } from './__fixtures__/health-server.js';
import { createProbeManager } from './manager.js';
import { resolveProbe } from './probe-spec.js';
import { DefaultProbeRunner } from './probers/runner.js';
import type { ProbeTarget } from './probers/types.js';

const env = realRuntime();
const testLabel = { 'nodeagent.test/suite': 'probe-manager' };
let cri: CriClient;
let health: HealthServer;
let httpPort: number;
let tcpPort: number;
let closedPort: number;
let sandboxId: string;
let sleeperId: string;
let serverId: string;

/** The web root busybox httpd serves: a page, and CGI redirects to the same and to another host. */
function serverScript(): string {
  const crlf = '\\r\\n';
  return [
    'mkdir -p /www/cgi-bin',
    'echo healthy > /www/index.html',
    `printf '#!/bin/sh\\nprintf "Status: 302 Found${crlf}Location: /index.html${crlf}${crlf}"\\n' > /www/cgi-bin/same`,
    `printf '#!/bin/sh\\nprintf "Status: 302 Found${crlf}Location: http://localhost:${httpPort}/index.html${crlf}${crlf}moved"\\n' > /www/cgi-bin/other`,
    'chmod +x /www/cgi-bin/same /www/cgi-bin/other',
    `httpd -p 127.0.0.1:${tcpPort} -h /www`,
    `exec httpd -f -p 127.0.0.1:${httpPort} -h /www`,
  ].join('\n');
}

async function runContainer(
  config: api.PodSandboxConfigInput,
  name: string,
  command: string[],
): Promise<string> {
  const { containerId } = await cri.createContainer({
    podSandboxId: sandboxId,
    sandboxConfig: config,
    config: {
      metadata: { name, attempt: 0 },
      image: { image: env.busyboxImage },
      command,
      logPath: `${name}/0.log`,
      labels: testLabel,
    },
  });
  await cri.startContainer({ containerId });
  return containerId;
}

beforeAll(async () => {
  cri = createCriClient({ endpoint: env.criEndpoint });
  await cri.connect();
  await cri.pullImage({ image: { image: env.busyboxImage } });
  httpPort = await freeLoopbackPort();
  tcpPort = await freeLoopbackPort();
  closedPort = await freeLoopbackPort();
  health = await startHealthServer({ '': 1, ready: 1, 'not-ready': 2 });
  const uid = randomUUID();
  const config: api.PodSandboxConfigInput = {
    metadata: { name: 'probes', namespace: 'probe-manager-test', uid, attempt: 0 },
    logDirectory: `${env.podLogDir}/${uid}`,
    labels: { ...testLabel, 'io.kubernetes.pod.uid': uid },
    linux: {
      cgroupParent: `${env.cgroupRoot}/pod${uid}`,
      securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } },
    },
  };
  sandboxId = (await cri.runPodSandbox({ config })).podSandboxId;
  sleeperId = await runContainer(config, 'sleeper', ['sleep', '3600']);
  serverId = await runContainer(config, 'server', ['sh', '-c', serverScript()]);
  await waitForLoopbackPort(httpPort, 100);
  await waitForLoopbackPort(tcpPort, 100);
}, 60_000);

afterAll(async () => {
  await health?.close();
  const { items } = await cri.listPodSandbox({ filter: { labelSelector: testLabel } });
  for (const sb of items) {
    await cri.stopPodSandbox({ podSandboxId: sb.id });
    await cri.removePodSandbox({ podSandboxId: sb.id });
  }
  const left = await cri.listPodSandbox({ filter: { labelSelector: testLabel } });
  expect(left.items).toEqual([]);
  cri.close();
}, 60_000);

const clock = new RealClock();

function target(containerId: string, container: k8s.Container = { name: 'c' }): ProbeTarget {
  return {
    pod: {
      metadata: { name: 'probes', namespace: 'probe-manager-test', uid: 'u' },
      spec: { containers: [container] },
    },
    status: { podIP: '127.0.0.1' },
    container,
    containerId: `containerd://${containerId}`,
    signal: new AbortController().signal,
  };
}

describe('probers against real containers', () => {
  const runner = (): DefaultProbeRunner =>
    new DefaultProbeRunner({ runtime: cri, clock, execGraceMs: 5_000 });

  it('exec: passes, fails with the output, and times out', async () => {
    const r = runner();
    const t = target(sleeperId);
    await expect(r.run(resolveProbe({ exec: { command: ['true'] } }), t)).resolves.toEqual({
      result: 'Success',
      output: '',
    });
    await expect(
      r.run(resolveProbe({ exec: { command: ['sh', '-c', 'echo not healthy; exit 3'] } }), t),
    ).resolves.toEqual({ result: 'Failure', output: 'not healthy\n' });
    const started = Date.now();
    await expect(
      r.run(resolveProbe({ exec: { command: ['sleep', '10'] }, timeoutSeconds: 1 }), t),
    ).resolves.toEqual({ result: 'Failure', output: 'command "sleep 10" timed out' });
    expect(Date.now() - started).toBeLessThan(8_000);
  }, 30_000);

  it('exec: a missing container is an error (retried, never a failure)', async () => {
    await expect(
      runner().run(resolveProbe({ exec: { command: ['true'] } }), target('does-not-exist')),
    ).rejects.toThrow();
  });

  it('httpGet against busybox httpd: 200, 404, redirect to the same host, redirect to another host', async () => {
    const r = runner();
    const t = target(serverId, {
      name: 'server',
      ports: [{ name: 'http', containerPort: httpPort }],
    });
    await expect(
      r.run(resolveProbe({ httpGet: { port: 'http', path: '/index.html' } }), t),
    ).resolves.toEqual({
      result: 'Success',
      output: 'healthy\n',
    });
    await expect(
      r.run(resolveProbe({ httpGet: { port: httpPort, path: '/missing' } }), t),
    ).resolves.toEqual({
      result: 'Failure',
      output: 'HTTP probe failed with statuscode: 404',
    });
    await expect(
      r.run(resolveProbe({ httpGet: { port: httpPort, path: '/cgi-bin/same' } }), t),
    ).resolves.toEqual({
      result: 'Success',
      output: 'healthy\n',
    });
    await expect(
      r.run(resolveProbe({ httpGet: { port: httpPort, path: '/cgi-bin/other' } }), t),
    ).resolves.toEqual({
      result: 'Warning',
      output: 'Probe terminated redirects, Response body: moved',
    });
  });

  it('tcpSocket: open and closed ports', async () => {
    const r = runner();
    const t = target(serverId);
    await expect(r.run(resolveProbe({ tcpSocket: { port: tcpPort } }), t)).resolves.toEqual({
      result: 'Success',
      output: '',
    });
    await expect(r.run(resolveProbe({ tcpSocket: { port: closedPort } }), t)).resolves.toEqual({
      result: 'Failure',
      output: `dial tcp 127.0.0.1:${closedPort}: connect: connection refused`,
    });
  });

  it('grpc against a health server on 127.0.0.1', async () => {
    const r = runner();
    const t = target(serverId);
    await expect(
      r.run(resolveProbe({ grpc: { port: health.port, service: 'ready' } }), t),
    ).resolves.toEqual({
      result: 'Success',
      output: 'service healthy',
    });
    await expect(
      r.run(resolveProbe({ grpc: { port: health.port, service: 'not-ready' } }), t),
    ).resolves.toEqual({
      result: 'Failure',
      output: 'service unhealthy (responded with "NOT_SERVING")',
    });
  });
});

describe('the manager on real containers', () => {
  it('restarts on exec liveness failure, and readiness follows httpGet/tcp/grpc', async () => {
    const events: string[] = [];
    const restarts: ContainerRestartRequest[] = [];
    const manager = createProbeManager({
      runtime: cri,
      clock,
      recorder: { event: (_o, _t, reason, message) => events.push(`${reason}: ${message}`) },
    });
    manager.onRestartRequest((r) => restarts.push(r));
    const startedAt = new Date().toISOString();
    const pod: k8s.Pod = {
      metadata: { name: 'probes', namespace: 'probe-manager-test', uid: randomUUID() },
      spec: {
        terminationGracePeriodSeconds: 20,
        containers: [
          {
            name: 'sleeper',
            livenessProbe: {
              exec: { command: ['sh', '-c', 'exit 1'] },
              periodSeconds: 1,
              failureThreshold: 2,
              terminationGracePeriodSeconds: 2,
            },
            readinessProbe: { grpc: { port: health.port, service: 'ready' }, periodSeconds: 1 },
          },
          {
            name: 'server',
            ports: [{ name: 'http', containerPort: httpPort }],
            startupProbe: { tcpSocket: { port: tcpPort }, periodSeconds: 1 },
            readinessProbe: { httpGet: { port: 'http', path: '/index.html' }, periodSeconds: 1 },
            livenessProbe: {
              httpGet: { port: 'http', path: '/missing' },
              periodSeconds: 1,
              failureThreshold: 100,
            },
          },
        ],
      },
    };
    const cs = (name: string, id: string): k8s.ContainerStatus => ({
      name,
      ready: false,
      restartCount: 0,
      image: env.busyboxImage,
      imageID: '',
      containerID: `containerd://${id}`,
      state: { running: { startedAt } },
    });
    const status: k8s.PodStatus = {
      phase: 'Running',
      podIP: '127.0.0.1',
      containerStatuses: [cs('sleeper', sleeperId), cs('server', serverId)],
    };
    manager.updatePodStatus(pod, status);
    manager.addPod(pod);
    const deadline = Date.now() + 15_000;
    let ready: boolean[] = [];
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      ready = (manager.updatePodStatus(pod, status).containerStatuses ?? []).map((c) => c.ready);
      if (
        restarts.length > 0 &&
        ready.every(Boolean) &&
        events.some((e) => e.includes('statuscode: 404'))
      )
        break;
    }
    await manager.stop();
    expect(ready).toEqual([true, true]);
    expect(restarts).toEqual([
      expect.objectContaining({
        probeType: 'Liveness',
        containerName: 'sleeper',
        containerId: `containerd://${sleeperId}`,
        gracePeriodSeconds: 2,
        message: 'Container sleeper failed liveness probe, will be restarted',
      }),
    ]);
    expect(events).toContain(
      'Unhealthy: Liveness probe failed: HTTP probe failed with statuscode: 404',
    );
    expect(
      events.filter((e) => e.startsWith('Unhealthy: Liveness probe failed: ')).length,
    ).toBeGreaterThanOrEqual(2);
    expect(manager.workerCount()).toBe(0);
  }, 30_000);
});
