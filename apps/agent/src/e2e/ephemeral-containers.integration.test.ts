/**
 * `kubectl debug -it web --image=busybox --target=main` end to end in API-server
 * mode: the ephemeral container is added through `pods/web/ephemeralcontainers` (a
 * strategic merge patch over HTTPS, as kubectl sends it), the agent starts it once in
 * main's PID namespace without touching main, reports it under
 * `status.ephemeralContainerStatuses`, its log is written where the kubelet writes
 * it, and deleting the pod removes everything.
 *
 * The real `nodeagent` process on the real containerd; the API server in this process.
 */
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { parseCriLogLine } from '@nodeagent/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  condition,
  obj,
  startApiModeHarness,
  uidOf,
  type ApiModeHarness,
  type Json,
} from './support/api-mode-harness.js';

const ns = 'e2e-ephemeral';
const token = 'e2e-ephemeral-admin';
let h: ApiModeHarness;

beforeAll(async () => {
  h = await startApiModeHarness({ nodeName: 'e2e-ephemeral-node', namespaces: [ns] });
  h.server.addToken(token, { name: 'e2e-admin', groups: ['system:masters'] });
}, 60_000);

afterAll(async () => {
  await h?.close();
}, 120_000);

/** One request to the API server as a cluster admin. */
function call(
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/strategic-merge-patch+json',
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${h.server.url}${path}`,
      {
        method,
        ca: h.server.caPem,
        headers: {
          Authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'Content-Type': contentType }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

function ephemeralStatus(name: string): Json | undefined {
  const list = h.podStatus(ns, 'web').ephemeralContainerStatuses;
  return Array.isArray(list) ? list.map(obj).find((s) => s.name === name) : undefined;
}

describe('ephemeral containers in API-server mode', () => {
  it('kubectl debug --target: runs in the target PID namespace, reported, logged, removed with the pod', async () => {
    const created = h.createPod(ns, 'web', { containers: [h.sleeper('main')] });
    const uid = uidOf(created);
    await h.waitFor(
      'web Ready',
      () => obj(condition(h.podStatus(ns, 'web'), 'Ready')).status === 'True',
    );
    const [main] = await h.containersOf(uid);
    expect(main?.metadata?.name).toBe('main');

    const path = `/api/v1/namespaces/${ns}/pods/web/ephemeralcontainers`;
    const added = await call('PATCH', path, {
      spec: {
        ephemeralContainers: [
          {
            name: 'debugger',
            image: h.sleeper('x').image,
            command: ['sh', '-c', 'echo debug; sleep 60'],
            targetContainerName: 'main',
            stdin: true,
            tty: true,
          },
        ],
      },
    });
    expect(added.status, added.text).toBe(200);

    const running = await h.waitFor('debugger Running in the API', () => {
      const s = ephemeralStatus('debugger');
      return obj(s?.state).running !== undefined ? s : undefined;
    });
    expect(running.ready).toBe(false);
    expect(running.restartCount).toBe(0);
    const status = h.podStatus(ns, 'web');
    expect(status.phase).toBe('Running');
    expect(obj(condition(status, 'Ready')).status).toBe('True');

    const containers = await h.containersOf(uid);
    const debuggerContainer = containers.find((c) => c.metadata?.name === 'debugger');
    expect(running.containerID).toBe(`containerd://${debuggerContainer?.id}`);
    // main untouched: one instance, the same one.
    expect(containers.filter((c) => c.metadata?.name === 'main').map((c) => c.id)).toEqual([
      main?.id,
    ]);
    const exec = await h.cri.execSync({
      containerId: debuggerContainer!.id,
      cmd: ['cat', '/proc/1/cmdline'],
      timeout: 10,
    });
    expect(Buffer.from(exec.stdout).toString('utf8').split('\0').filter(Boolean)).toEqual([
      'sleep',
      '3600',
    ]);

    // Its log, in the file where the kubelet writes it (`pods/log` through the API server
    // is covered by pods-api.integration.test.ts).
    const { status: criStatus } = await h.cri.containerStatus({
      containerId: debuggerContainer!.id,
    });
    const lines = (await readFile(criStatus?.logPath ?? ''))
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => parseCriLogLine(Buffer.from(l))?.content.toString('utf8'));
    expect(lines).toEqual(['debug']);

    // Changing it is refused; the agent keeps it as it is.
    const changed = await call('PATCH', path, {
      spec: { ephemeralContainers: [{ name: 'debugger', image: 'other:1' }] },
    });
    expect(changed.status).toBe(422);

    h.server.store.delete(h.pods, ns, 'web');
    await h.waitFor('web gone from the API', () => h.getPod(ns, 'web') === undefined, 60_000);
    await h.waitFor('containers removed', async () => (await h.containersOf(uid)).length === 0);
    expect(await h.sandboxesOf(uid)).toEqual([]);
  }, 120_000);
});
