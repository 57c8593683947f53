/**
 * Kubelet e2e parity for pods as the API sees them, and the node (test/e2e/common/node
 * pods.go, runtimeclass.go, node_lease.go; test/e2e_node mirror_pod_test.go and
 * summary_test.go): a running container whose image is updated is restarted with the
 * new image; container logs through the node API; pods with a missing RuntimeClass or
 * a handler the runtime does not have stay Pending with FailedCreatePodSandBox, a
 * configured handler runs; mirror pods follow their static pod's manifest and survive
 * a graceful delete; the /stats/summary shape and bounds; the node Lease's owner and
 * renewals while the node status is not rewritten when nothing changes; a stock
 * kubectl's exec, cp, port-forward and `get --raw …/nodes/<node>/proxy/…` through the
 * API server to the agent.
 *
 * The real `nodeagent` process on the real containerd; the API server in this process.
 * Scenarios are independent and run concurrently (one agent for the file).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, it } from 'vitest';
import {
  condition,
  containerStatus,
  obj,
  startApiModeHarness,
  uidOf,
  type ApiModeHarness,
  type Json,
} from './support/api-mode-harness.js';

const ns = 'e2e-podsapi';
const staticNs = 'e2e-podsapi-static';
const nodeName = 'e2e-podsapi-node';
const token = 'e2e-podsapi-admin-token';
const env = realRuntime();

let h: ApiModeHarness;
/** The agent's KubeletConfiguration file (read for staticPodPath and port). */
let agentConfig = '';
/** Scratch files of this file's scenarios, and the administrator's kubeconfig. */
let workDir = '';
let kubeconfigPath = '';

/** A value of the agent's config.yaml (`key: value` lines). */
function configValue(key: string): string {
  const line = readFileSync(agentConfig, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${key}: `));
  return line?.slice(key.length + 2).trim() ?? '';
}

/** GET on the agent's node API (HTTPS on 127.0.0.1, self-signed) with the admin token. */
function nodeApiGet(path: string): Promise<{ status: number; body: string }> {
  return httpsGet(Number(configValue('port')), path);
}

/** GET with the admin token on 127.0.0.1:`port` over HTTPS (certificate not checked). */
function httpsGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'GET',
        rejectUnauthorized: false,
        headers: { Authorization: `Bearer ${token}` },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Runs the stock kubectl against the test API server as the administrator. */
function kubectl(
  args: string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/kubectl', ['--kubeconfig', kubeconfigPath, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

/** `kubectl port-forward pod/<name> :<port>`: runs `use` with the local port, then stops it. */
async function portForward<T>(
  namespace: string,
  pod: string,
  port: number,
  use: (localPort: number) => Promise<T>,
): Promise<T> {
  const child = spawn(
    '/usr/bin/kubectl',
    ['--kubeconfig', kubeconfigPath, '-n', namespace, 'port-forward', `pod/${pod}`, `:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const localPort = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`port-forward did not start: ${out}`)),
        20_000,
      );
      const onData = (c: Buffer): void => {
        out += c.toString('utf8');
        const m = /Forwarding from 127\.0\.0\.1:(\d+) ->/.exec(out);
        if (m?.[1] !== undefined) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', () => reject(new Error(`port-forward exited: ${out}`)));
    });
    return await use(localPort);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

function runningStatus(namespace: string, name: string, container = 'main'): Json | undefined {
  const cs = containerStatus(h.podStatus(namespace, name), container);
  return obj(cs?.state).running ? cs : undefined;
}

function eventsWithReason(namespace: string, name: string, reason: string): Json[] {
  return h.eventsFor(namespace, name).filter((e) => e.reason === reason);
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : NaN;
}

beforeAll(async () => {
  h = await startApiModeHarness({ nodeName, namespaces: [ns, staticNs] });
  const args = h.agent?.spawnargs ?? [];
  agentConfig = args[args.indexOf('--config') + 1] ?? '';
  h.server.addToken(token, { name: 'e2e-podsapi-admin', groups: ['system:masters'] });
  workDir = mkdtempSync(join(tmpdir(), 'e2e-podsapi-'));
  kubeconfigPath = join(workDir, 'admin.kubeconfig');
  writeFileSync(kubeconfigPath, h.server.kubeconfig({ token }));
  // The image-update scenario's second image is pulled up front: a pull during the
  // node-status window of the Lease scenario would (rightly) change node.status.images.
  await h.cri.pullImage({ image: { image: env.busybox2Image } });
  const rcs = h.server.store.resource('runtimeclasses', 'node.k8s.io');
  for (const [name, handler] of [
    ['podsapi-unconfigured', 'podsapi-unconfigured-handler'],
    ['podsapi-runc', 'runc'],
  ] as const) {
    h.server.store.create(rcs, '', {
      apiVersion: 'node.k8s.io/v1',
      kind: 'RuntimeClass',
      metadata: { name },
      handler,
    });
  }
}, 60_000);

afterAll(async () => {
  if (agentConfig) rmSync(join(configValue('staticPodPath'), 'static-web.yaml'), { force: true });
  await h?.close();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
}, 60_000);

describe.concurrent('pods, the node and its API (kubelet e2e parity)', () => {
  it('[pods.go] should have their auto-restart back-off timer reset on image update: restarted with the new image', async ({
    expect,
  }) => {
    const created = h.createPod(ns, 'image-update', {
      terminationGracePeriodSeconds: 1,
      containers: [h.sleeper('main')],
    });
    const first = await h.waitFor('image-update Running', () => runningStatus(ns, 'image-update'));
    expect(first.image).toBe(env.busyboxImage);
    const pod = h.getPod(ns, 'image-update') ?? {};
    const spec = obj(pod.spec);
    const containers = (spec.containers as Json[]).map((c) => ({
      ...c,
      image: env.busybox2Image,
    }));
    h.server.store.update(h.pods, ns, { ...pod, spec: { ...spec, containers } });
    const updated = await h.waitFor('image-update restarted with the new image', () => {
      const cs = runningStatus(ns, 'image-update');
      // A new container (pod-lifecycle reports the spec's image even for the old one
      // until it is replaced; the kubelet reports the runtime container's image).
      return cs?.image === env.busybox2Image && cs.containerID !== first.containerID
        ? cs
        : undefined;
    });
    expect(updated.restartCount).toBe(1);
    // The kubelet kills the container whose spec hash changed, then starts the new one.
    const killing = eventsWithReason(ns, 'image-update', 'Killing').map((e) => String(e.message));
    expect(killing.join('\n')).toMatch(/definition changed/);
    const runtime = await h.containersOf(uidOf(created));
    const running = runtime.filter((c) => c.state === 'CONTAINER_RUNNING');
    expect(running).toHaveLength(1);
    expect(`containerd://${running[0]?.id ?? ''}`).toBe(updated.containerID);
    expect(running[0]?.image?.image ?? '').toContain(
      env.busybox2Image.replace(/^.*\//, '').replace(/:.*$/, ''),
    );
    h.server.store.delete(h.pods, ns, 'image-update', { gracePeriodSeconds: 0 });
  });

  it('[pods.go] should support retrieving logs from the container (node API /containerLogs)', async ({
    expect,
  }) => {
    h.createPod(ns, 'logs', {
      terminationGracePeriodSeconds: 1,
      containers: [
        h.sleeper('main', {
          command: ['sh', '-c', 'echo container is alive; echo second line; exec sleep 3600'],
        }),
      ],
    });
    await h.waitFor('logs Running', () => runningStatus(ns, 'logs'));
    const logs = await h.waitFor('the container log through the node API', async () => {
      const res = await nodeApiGet(`/containerLogs/${ns}/logs/main`);
      return res.status === 200 && res.body.includes('second line') ? res.body : undefined;
    });
    expect(logs).toBe('container is alive\nsecond line\n');
    const tail = await nodeApiGet(`/containerLogs/${ns}/logs/main?tailLines=1&timestamps=true`);
    expect(tail.body).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z second line\n$/);
    // as `kubectl logs`: the API server's pods/log, proxied to the agent's node API
    const viaApi = await httpsGet(
      Number(new URL(h.server.url).port),
      `/api/v1/namespaces/${ns}/pods/logs/log?container=main&tailLines=1`,
    );
    expect(viaApi).toEqual({ status: 200, body: 'second line\n' });
    h.server.store.delete(h.pods, ns, 'logs', { gracePeriodSeconds: 0 });
  });

  it('[pods.go] remote command execution and port forwarding through the API server with a stock kubectl (exec with stdin, exit codes, cp, attach, port-forward); nodes/proxy to the node API', async ({
    expect,
  }) => {
    h.createPod(ns, 'remote', {
      terminationGracePeriodSeconds: 1,
      containers: [
        h.sleeper('main', {
          command: [
            'sh',
            '-c',
            'mkdir -p /tmp/www && echo served-by-the-pod > /tmp/www/index.html && httpd -p 8080 -h /tmp/www && exec sleep 3600',
          ],
        }),
      ],
    });
    await h.waitFor('remote Running', () => runningStatus(ns, 'remote'));
    const k = (args: string[], input?: string) => kubectl(['-n', ns, ...args], input);

    // exec: stdout and stderr apart, the command's exit code is kubectl's (pods.go
    // "should support remote command execution").
    const out = await k(['exec', 'remote', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(out.stdout).toBe('out\n');
    expect(out.stderr).toContain('err\n');
    expect(out.code).toBe(3);
    // stdin reaches the container and the stream ends with it.
    const cat = await k(['exec', '-i', 'remote', '--', 'sh', '-c', 'cat; echo done'], 'piped in\n');
    expect(cat).toMatchObject({ code: 0, stdout: 'piped in\ndone\n' });
    // kubectl cp is tar over exec.
    const local = join(workDir, 'to-copy.txt');
    writeFileSync(local, 'copied into the pod\n');
    expect((await k(['cp', local, `${ns}/remote:/tmp/copied.txt`])).code).toBe(0);
    expect((await k(['exec', 'remote', '--', 'cat', '/tmp/copied.txt'])).stdout).toBe(
      'copied into the pod\n',
    );
    // A container the pod does not have: refused by the API server.
    const wrong = await k(['exec', 'remote', '-c', 'nope', '--', 'true']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('container nope is not valid for pod remote');

    // attach: the container's stdin and stdout (stdinOnce: its stdin closes with ours).
    h.createPod(ns, 'attach', {
      terminationGracePeriodSeconds: 1,
      restartPolicy: 'Never',
      containers: [
        h.sleeper('main', {
          stdin: true,
          stdinOnce: true,
          command: ['sh', '-c', 'while read line; do echo "got:$line"; done; echo stdin-closed'],
        }),
      ],
    });
    await h.waitFor('attach Running', () => runningStatus(ns, 'attach'));
    const attached = await k(['attach', '-i', 'attach', '-c', 'main'], 'hello\n');
    expect(attached.stdout).toContain('got:hello\n');
    await h.waitFor('attach Succeeded once its stdin closed', () =>
      h.podStatus(ns, 'attach').phase === 'Succeeded' ? true : undefined,
    );
    h.server.store.delete(h.pods, ns, 'attach', { gracePeriodSeconds: 0 });

    // port-forward to the pod's port 8080.
    const served = await portForward(ns, 'remote', 8080, async (localPort) => {
      const res = await fetch(`http://127.0.0.1:${localPort}/index.html`);
      return res.text();
    });
    expect(served).toBe('served-by-the-pod\n');

    // nodes/<name>/proxy: the node API through the API server.
    const configz = JSON.parse(
      (await kubectl(['get', '--raw', `/api/v1/nodes/${nodeName}/proxy/configz`])).stdout,
    ) as { kubeletconfig?: Json };
    // The v1beta1 form the e2e framework decodes: durations as Go duration strings.
    expect(obj(configz.kubeletconfig).maxPods).toBeTypeOf('number');
    expect(obj(configz.kubeletconfig).syncFrequency).toMatch(/^(\d+h)?(\d+m)?[\d.]+m?s$/);
    expect(obj(configz.kubeletconfig).kind).toBeUndefined();
    const podList = JSON.parse(
      (await kubectl(['get', '--raw', `/api/v1/nodes/${nodeName}/proxy/pods`])).stdout,
    ) as { items: Json[] };
    expect(podList.items.map((p) => obj(p.metadata).name)).toContain('remote');
    expect(
      (await kubectl(['get', '--raw', `/api/v1/nodes/${nodeName}/proxy/healthz`])).stdout,
    ).toBe('ok');
    h.server.store.delete(h.pods, ns, 'remote', { gracePeriodSeconds: 0 });
  });

  it('[pods.go] should support pod readiness gates: Ready follows the gate conditions another client patches into the status', async ({
    expect,
  }) => {
    const gate1 = 'k8s.io/test-condition1';
    const gate2 = 'k8s.io/test-condition2';
    h.createPod(ns, 'gated', {
      terminationGracePeriodSeconds: 1,
      readinessGates: [{ conditionType: gate1 }, { conditionType: gate2 }],
      containers: [h.sleeper('main')],
    });
    await h.waitFor('gated Running', () => runningStatus(ns, 'gated'));
    const ready = (): Json | undefined => condition(h.podStatus(ns, 'gated'), 'Ready');
    const expectReady = async (want: 'True' | 'False', message?: string): Promise<void> => {
      await h.waitFor(`gated Ready=${want}`, () => {
        const r = ready();
        return r?.status === want && (message === undefined || r.message === message);
      });
    };
    await expectReady(
      'False',
      `corresponding condition of pod readiness gate "${gate1}" does not exist., corresponding condition of pod readiness gate "${gate2}" does not exist.`,
    );
    expect(ready()?.reason).toBe('ReadinessGatesNotReady');
    // PodObservedGenerationTracking: the generation the agent acted on.
    const generation = obj(h.getPod(ns, 'gated')?.metadata).generation;
    expect(generation).toBeTypeOf('number');
    expect(h.podStatus(ns, 'gated').observedGeneration).toBe(generation);
    expect(ready()?.observedGeneration).toBe(generation);
    expect(condition(h.podStatus(ns, 'gated'), 'ContainersReady')?.status).toBe('True');
    // As the e2e test does: a strategic merge patch of the status subresource.
    const patch = async (type: string, status: string): Promise<void> => {
      const r = await kubectl([
        '-n',
        ns,
        'patch',
        'pod',
        'gated',
        '--subresource=status',
        '--type=strategic',
        '-p',
        JSON.stringify({ status: { conditions: [{ type, status }] } }),
      ]);
      expect(r.code, r.stderr).toBe(0);
    };
    await patch(gate1, 'True');
    await expectReady(
      'False',
      `corresponding condition of pod readiness gate "${gate2}" does not exist.`,
    );
    await patch(gate2, 'True');
    await expectReady('True');
    await patch(gate1, 'False');
    await expectReady(
      'False',
      `the status of pod readiness gate "${gate1}" is not "True", but False`,
    );
    // The gate conditions stay as the other client wrote them.
    const conditions = (h.podStatus(ns, 'gated').conditions as Json[]).filter((c) =>
      String(c.type).startsWith('k8s.io/'),
    );
    expect(conditions.map((c) => [c.type, c.status])).toEqual([
      [gate1, 'False'],
      [gate2, 'True'],
    ]);
    h.server.store.delete(h.pods, ns, 'gated', { gracePeriodSeconds: 0 });
  });

  it('[node/pods.go] evicted pods should be terminal: a container writing past its ephemeral-storage limit is evicted (Failed, Evicted, DisruptionTarget)', async ({
    expect,
  }) => {
    h.createPod(ns, 'evict-storage', {
      restartPolicy: 'OnFailure',
      containers: [
        h.sleeper('bar', {
          command: ['sh', '-c', 'dd if=/dev/zero of=/file bs=1M count=10; exec sleep 10000'],
          resources: { limits: { 'ephemeral-storage': '5Mi' } },
        }),
      ],
    });
    const status = await h.waitFor(
      'evict-storage evicted',
      () => {
        const s = h.podStatus(ns, 'evict-storage');
        return s.phase === 'Failed' ? s : undefined;
      },
      60_000,
    );
    expect(status.reason).toBe('Evicted');
    expect(String(status.message)).toMatch(
      /^(Pod ephemeral local storage usage exceeds the total limit of containers 5Mi\. |Container bar exceeded its local ephemeral storage limit "5Mi"\. )$/,
    );
    expect(condition(status, 'DisruptionTarget')).toMatchObject({
      status: 'True',
      reason: 'TerminationByKubelet',
    });
    expect(eventsWithReason(ns, 'evict-storage', 'Evicted')).toHaveLength(1);
    h.server.store.delete(h.pods, ns, 'evict-storage', { gracePeriodSeconds: 0 });
  });

  it('[runtimeclass.go] a non-existent RuntimeClass (admission bypassed) or an unconfigured handler: Pending, FailedCreatePodSandBox, no sandbox; a configured handler runs', async ({
    expect,
  }) => {
    const pod = (runtimeClassName: string): Json => ({
      runtimeClassName,
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      containers: [h.sleeper('main', { command: ['sh', '-c', 'true'] })],
    });
    const missing = h.createPod(ns, 'rc-missing', pod('podsapi-does-not-exist'));
    const unconfigured = h.createPod(ns, 'rc-unconfigured', pod('podsapi-unconfigured'));
    const configured = h.createPod(ns, 'rc-runc', pod('podsapi-runc'));

    const missingEvent = await h.waitFor('FailedCreatePodSandBox for the missing class', () =>
      eventsWithReason(ns, 'rc-missing', 'FailedCreatePodSandBox').at(0),
    );
    expect(missingEvent.type).toBe('Warning');
    expect(missingEvent.message).toBe(
      'Failed to create pod sandbox: runtimeclass.node.k8s.io "podsapi-does-not-exist" not found',
    );
    const unconfiguredEvent = await h.waitFor('FailedCreatePodSandBox for the handler', () =>
      eventsWithReason(ns, 'rc-unconfigured', 'FailedCreatePodSandBox').at(0),
    );
    // The runtime refuses the handler; the kubelet e2e looks for the handler's name.
    expect(String(unconfiguredEvent.message)).toContain('podsapi-unconfigured-handler');

    const succeeded = await h.waitFor('the configured-handler pod Succeeded', () => {
      const s = h.podStatus(ns, 'rc-runc');
      return s.phase === 'Succeeded' ? s : undefined;
    });
    expect(obj(obj(containerStatus(succeeded, 'main')?.state).terminated).exitCode).toBe(0);
    const [sandbox] = await h.sandboxesOf(uidOf(configured));
    expect(sandbox?.runtimeHandler ?? '').toBe('runc');

    for (const [name, created] of [
      ['rc-missing', missing],
      ['rc-unconfigured', unconfigured],
    ] as const) {
      const s = h.podStatus(ns, name);
      expect(s.phase, name).toBe('Pending');
      expect(obj(obj(containerStatus(s, 'main')?.state).waiting).reason, name).toBe(
        'ContainerCreating',
      );
      const ready = (await h.sandboxesOf(uidOf(created))).filter(
        (sb) => sb.state === 'SANDBOX_READY',
      );
      expect(ready, name).toEqual([]);
    }
    for (const name of ['rc-missing', 'rc-unconfigured', 'rc-runc'])
      h.server.store.delete(h.pods, ns, name, { gracePeriodSeconds: 0 });
  });

  it('[mirror_pod_test.go] a mirror pod is updated with its static pod, recreated after a graceful delete (static pod not restarted), removed with the manifest', async ({
    expect,
  }) => {
    const manifest = join(configValue('staticPodPath'), 'static-web.yaml');
    const writeManifest = (image: string): void =>
      writeFileSync(
        manifest,
        [
          'apiVersion: v1',
          'kind: Pod',
          'metadata:',
          '  name: static-web',
          `  namespace: ${staticNs}`,
          'spec:',
          '  hostNetwork: true',
          '  terminationGracePeriodSeconds: 1',
          '  containers:',
          '  - name: main',
          `    image: ${image}`,
          '    command: ["sleep", "3600"]',
          '',
        ].join('\n'),
      );
    const mirrorName = `static-web-${nodeName}`;
    const mirrorRunning = (image: string, otherThan = ''): Json | undefined => {
      const p = h.getPod(staticNs, mirrorName);
      if (!p || uidOf(p) === otherThan || obj(p.metadata).deletionTimestamp) return undefined;
      const cs = containerStatus(obj(p.status), 'main');
      return obj(cs?.state).running && cs?.image === image ? p : undefined;
    };
    writeManifest(env.busyboxImage);
    const first = await h.waitFor('the mirror pod Running', () => mirrorRunning(env.busyboxImage));
    const firstHash = obj(obj(first.metadata).annotations)['kubernetes.io/config.hash'];

    // "should be updated when static pod updated": a new mirror with the new image.
    writeManifest(env.busybox2Image);
    const second = await h.waitFor('the mirror pod of the updated static pod', () =>
      mirrorRunning(env.busybox2Image, uidOf(first)),
    );
    const annotations = obj(obj(second.metadata).annotations);
    expect(annotations['kubernetes.io/config.mirror']).toBe(
      annotations['kubernetes.io/config.hash'],
    );
    expect(annotations['kubernetes.io/config.hash']).not.toBe(firstHash);
    expect(
      obj(obj(second.spec).containers && (obj(second.spec).containers as Json[])[0]).image,
    ).toBe(env.busybox2Image);
    const staticContainer = String(containerStatus(obj(second.status), 'main')?.containerID);

    // "should be recreated when mirror pod gracefully deleted": the static pod runs on.
    h.server.store.delete(h.pods, staticNs, mirrorName, { gracePeriodSeconds: 30 });
    const third = await h.waitFor('the mirror recreated after a graceful delete', () =>
      mirrorRunning(env.busybox2Image, uidOf(second)),
    );
    const cs = containerStatus(obj(third.status), 'main');
    expect(cs?.containerID).toBe(staticContainer);
    expect(cs?.restartCount).toBe(0);

    // "should be removed when static pod is deleted".
    rmSync(manifest);
    await h.waitFor('the mirror deleted with its manifest', () => !h.getPod(staticNs, mirrorName));
    const uid = String(annotations['kubernetes.io/config.hash']);
    await h.waitFor('the static pod containers gone', async () =>
      (await h.containersOf(uid)).every((c) => c.state !== 'CONTAINER_RUNNING'),
    );
  });

  it('[summary_test.go] /stats/summary: node and pod stats present and within plausible bounds', async ({
    expect,
  }) => {
    const created = h.createPod(ns, 'stats', {
      terminationGracePeriodSeconds: 1,
      volumes: [{ name: 'test-empty-dir', emptyDir: {} }],
      containers: [
        h.sleeper('main', {
          command: [
            'sh',
            '-c',
            'head -c 65536 /dev/urandom > /test-empty-dir/file; head -c 32768 /dev/urandom > /rootfs-file; echo logged; exec sleep 3600',
          ],
          volumeMounts: [{ name: 'test-empty-dir', mountPath: '/test-empty-dir' }],
        }),
      ],
    });
    await h.waitFor('stats Running', () => runningStatus(ns, 'stats'));
    type Summary = { node: Json; pods: Json[] };
    const summary = await h.waitFor(
      'a summary with CPU rates for the node and the pod',
      async () => {
        const res = await nodeApiGet('/stats/summary');
        if (res.status !== 200) return undefined;
        const s = JSON.parse(res.body) as Summary;
        const p = s.pods.find((x) => obj(x.podRef).uid === uidOf(created));
        const c = (Array.isArray(p?.containers) ? (p.containers as Json[]) : []).find(
          (x) => x.name === 'main',
        );
        return obj(s.node.cpu).usageNanoCores !== undefined &&
          obj(c?.cpu).usageNanoCores !== undefined &&
          (Array.isArray(p?.volume) ? p.volume : []).length > 0
          ? s
          : undefined;
      },
    );
    const KB = 1024;
    const MB = 1024 * KB;
    const GB = 1024 * MB;
    const TB = 1024 * GB;
    const inRange = (v: unknown, lo: number, hi: number, what: string): void => {
      expect.soft(num(v), what).toBeGreaterThanOrEqual(lo);
      expect.soft(num(v), what).toBeLessThanOrEqual(hi);
    };
    const fsBounds = (fs: Json, what: string, usedLo: number, usedHi: number): void => {
      inRange(fs.availableBytes, 0, 100 * TB, `${what}.availableBytes`);
      inRange(fs.capacityBytes, 100 * MB, 100 * TB, `${what}.capacityBytes`);
      inRange(fs.usedBytes, usedLo, usedHi, `${what}.usedBytes`);
    };
    const node = summary.node;
    expect(node.nodeName).toBe(nodeName);
    expect(Date.parse(String(node.startTime))).toBeLessThan(Date.now());
    inRange(obj(node.cpu).usageNanoCores, 10_000, 2e9 * 64, 'node.cpu.usageNanoCores');
    inRange(obj(node.cpu).usageCoreNanoSeconds, 1e9, Number.MAX_SAFE_INTEGER, 'node.cpu.total');
    const mem = obj(node.memory);
    inRange(mem.usageBytes, 10 * MB, 1 * TB, 'node.memory.usageBytes');
    inRange(mem.workingSetBytes, 10 * MB, 1 * TB, 'node.memory.workingSetBytes');
    inRange(mem.availableBytes, 1 * MB, 1 * TB, 'node.memory.availableBytes');
    inRange(mem.rssBytes, 1 * MB, 1 * TB, 'node.memory.rssBytes');
    inRange(mem.pageFaults, 1_000, Number.MAX_SAFE_INTEGER, 'node.memory.pageFaults');
    fsBounds(obj(node.fs), 'node.fs', 1 * MB, 100 * TB);
    inRange(obj(node.fs).inodes, 1_000, 1e12, 'node.fs.inodes');
    // usedBytes is the runtime's ImageFsInfo figure, passed through as the kubelet does.
    fsBounds(obj(obj(node.runtime).imageFs), 'node.runtime.imageFs', 0, 100 * TB);
    // The "pods" system container: the kubepods cgroup holding every pod (kubelet
    // GetPodCgroupRoot), so at least this pod's memory.
    const podsCont = (Array.isArray(node.systemContainers) ? node.systemContainers : [])
      .map(obj)
      .find((c) => c.name === 'pods');
    inRange(obj(podsCont?.memory).workingSetBytes, 10 * KB, 1 * TB, 'pods.memory.workingSetBytes');
    inRange(obj(podsCont?.cpu).usageCoreNanoSeconds, 1, Number.MAX_SAFE_INTEGER, 'pods.cpu');
    inRange(obj(node.rlimit).maxpid, 1_000, 1e9, 'node.rlimit.maxpid');
    inRange(obj(node.rlimit).curproc, 10, 1e9, 'node.rlimit.curproc');

    const pod = summary.pods.find((x) => obj(x.podRef).uid === uidOf(created)) ?? {};
    expect(pod.podRef).toEqual({ name: 'stats', namespace: ns, uid: uidOf(created) });
    const c = (pod.containers as Json[]).find((x) => x.name === 'main') ?? {};
    expect(Date.parse(String(c.startTime))).toBeGreaterThanOrEqual(
      Date.parse(String(pod.startTime)) - 1_000,
    );
    inRange(obj(c.cpu).usageNanoCores, 0, 2e9, 'container.cpu.usageNanoCores');
    inRange(obj(c.cpu).usageCoreNanoSeconds, 1, 1e12, 'container.cpu.usageCoreNanoSeconds');
    inRange(obj(c.memory).workingSetBytes, 10 * KB, 80 * MB, 'container.memory.workingSetBytes');
    fsBounds(obj(c.rootfs), 'container.rootfs', 0, 10 * MB);
    fsBounds(obj(c.logs), 'container.logs', 1, 10 * MB);
    const volume = (pod.volume as Json[]).find((v) => v.name === 'test-empty-dir') ?? {};
    inRange(volume.usedBytes, 64 * KB, 1 * MB, 'volume.usedBytes');
    inRange(volume.capacityBytes, 100 * MB, 100 * TB, 'volume.capacityBytes');
    inRange(obj(pod['ephemeral-storage']).usedBytes, 64 * KB, 20 * MB, 'pod.ephemeral-storage');
    inRange(obj(pod.process_stats).process_count, 1, 100, 'pod.process_stats.process_count');
    inRange(obj(pod.memory).workingSetBytes, 10 * KB, 80 * MB, 'pod.memory.workingSetBytes');

    // resource_metrics_test.go: /metrics/resource has the STABLE families and this pod's.
    const resource = await nodeApiGet('/metrics/resource');
    expect(resource.status).toBe(200);
    expect(resource.body).toMatch(/^resource_scrape_error 0$/m);
    expect(resource.body).toContain(
      `container_cpu_usage_seconds_total{container="main",namespace="${ns}",pod="stats"}`,
    );
    // /metrics/cadvisor (what Prometheus scrapes on every kubelet): this container's series.
    const cadvisor = await nodeApiGet('/metrics/cadvisor');
    expect(cadvisor.status).toBe(200);
    const line = cadvisor.body
      .split('\n')
      .find(
        (l) =>
          l.startsWith('container_memory_working_set_bytes{') &&
          l.includes('container="main"') &&
          l.includes(`namespace="${ns}"`) &&
          l.includes('pod="stats"'),
      );
    expect(line, 'container_memory_working_set_bytes of stats/main').toBeDefined();
    inRange(Number(line?.split(' ')[1]), 10 * KB, 80 * MB, 'cadvisor working set');
    expect(cadvisor.body).toMatch(/^machine_cpu_cores\{.*\} \d+/m);
    h.server.store.delete(h.pods, ns, 'stats', { gracePeriodSeconds: 0 });
  });

  it('[node_lease.go] the Lease is owned by the Node and renewed; the node status is not rewritten while nothing changes', async ({
    expect,
  }) => {
    const leases = h.server.store.resource('leases', 'coordination.k8s.io');
    const node = await h.waitFor('the Node Ready', () => {
      const n = h.server.store.tryGet(h.nodes, '', nodeName);
      return condition(obj(n?.status), 'Ready')?.status === 'True' ? n : undefined;
    });
    // The first Lease may be written before the Node exists; a renewal adds the owner
    // (kubelet setNodeOwnerFunc), as the kubelet e2e's Eventually allows.
    const lease = await h.waitFor(
      'the node Lease with an owner reference',
      () => {
        const l = h.server.store.tryGet(leases, 'kube-node-lease', nodeName);
        const refs = obj(l?.metadata).ownerReferences;
        return Array.isArray(refs) && refs.length > 0 ? l : undefined;
      },
      25_000,
    );
    expect(obj(lease.metadata).ownerReferences).toEqual([
      expect.objectContaining({
        apiVersion: 'v1',
        kind: 'Node',
        name: nodeName,
        uid: uidOf(node),
      }),
    ]);
    expect(obj(lease.spec)).toMatchObject({ holderIdentity: nodeName, leaseDurationSeconds: 40 });
    // Let the start-up status writes settle (Ready, images), then watch one full
    // nodeStatusUpdateFrequency (10 s): the Lease is renewed, the status is not patched.
    await h.waitFor(
      'node.status.images to list the pre-pulled second image',
      () => {
        const images = obj(h.server.store.tryGet(h.nodes, '', nodeName)?.status).images;
        return JSON.stringify(images ?? []).includes(env.busybox2Image.replace(/^.*\//, ''));
      },
      25_000,
    );
    const heartbeat = (): unknown => h.nodeCondition('Ready')?.lastHeartbeatTime;
    const renewTime = (): unknown =>
      obj(h.server.store.tryGet(leases, 'kube-node-lease', nodeName)?.spec).renewTime;
    const renewed = async (after: unknown): Promise<unknown> =>
      h.waitFor('a Lease renewal', () => (renewTime() !== after ? renewTime() : undefined), 20_000);
    const r1 = await renewed(renewTime());
    const h1 = heartbeat();
    const r2 = await renewed(r1);
    const r3 = await renewed(r2);
    expect(Date.parse(String(r3)) - Date.parse(String(r1))).toBeGreaterThanOrEqual(15_000);
    expect(heartbeat()).toBe(h1);
  });
});
