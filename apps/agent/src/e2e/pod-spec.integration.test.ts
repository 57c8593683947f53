/**
 * Kubelet e2e parity for what the container sees of its pod spec (kubernetes
 * test/e2e/common/node expansion.go, downwardapi.go, configmap.go, secrets.go,
 * containers.go, docker_containers.go, security_context.go, privileged.go, sysctl.go,
 * kubelet.go, kubelet_etc_hosts.go; test/e2e/common/storage configmap_volume.go,
 * secrets_volume.go, projected_*.go, downwardapi_volume.go, empty_dir.go,
 * host_path.go): `$(VAR)` expansion in env, command, args and subPathExpr (and the
 * subPathExpr values that must leave the container waiting in
 * CreateContainerConfigError until the pod is fixed), downward-API env values
 * (resource limits defaulting to the node's allocatable), ConfigMap and Secret env and
 * envFrom with prefixes and optional references, command/args against the image's
 * Cmd, users, groups, runAsNonRoot refusals, read-only root filesystems, privileges,
 * capabilities, no_new_privs, supplemental groups, fsGroup, sysctls, hostAliases, and
 * the files, modes and owners of ConfigMap, Secret, projected, downward-API, emptyDir
 * and hostPath volumes, with updates reaching mounted volumes.
 *
 * The real `nodeagent` process on the real containerd; the API server in this process.
 * Every scenario's pods are created at once and checked concurrently (one agent for
 * the file); container output is read from the runtime's log files, or by exec.
 */
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  containerStatus,
  obj,
  startApiModeHarness,
  uidOf,
  type ApiModeHarness,
  type Json,
} from './support/api-mode-harness.js';

const ns = 'e2e-podspec';
const nodeName = 'e2e-podspec-node';

let h: ApiModeHarness;
let hostDir = '';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

beforeAll(async () => {
  h = await startApiModeHarness({ nodeName, namespaces: [ns] });
  // A 10 s pod resync instead of the default minute, so ConfigMap changes (which the
  // kubelet, like nodeagent, applies at a pod's periodic sync) reach volumes quickly.
  const args = h.agent?.spawnargs ?? [];
  const config = args[args.indexOf('--config') + 1] ?? '';
  await h.stopAgent();
  appendFileSync(config, 'syncFrequency: 10s\n');
  h.startAgent();
  const cms = h.server.store.resource('configmaps');
  const secrets = h.server.store.resource('secrets');
  h.server.store.create(cms, ns, {
    metadata: { name: 'cm' },
    data: { 'data-1': 'value-1', 'data-2': 'value-2', 'data-3': 'value-3' },
    binaryData: { 'dump.bin': Buffer.from([0, 255, 16]).toString('base64') },
  });
  h.server.store.create(cms, ns, {
    metadata: { name: 'cm-update' },
    data: { 'data-1': 'value-1' },
  });
  h.server.store.create(secrets, ns, {
    metadata: { name: 'secret' },
    type: 'Opaque',
    data: { 'data-1': b64('value-1'), 'data-2': b64('value-2'), 'data-3': b64('value-3') },
  });
  hostDir = mkdtempSync(join(tmpdir(), 'na-e2e-podspec-host-'));
  chmodSync(hostDir, 0o1777);
}, 60_000);

afterAll(async () => {
  // Delete every pod and let the agent tear them down (volumes unmounted) before it stops.
  await h?.deletePodsAndWait(ns);
  await h?.close();
  if (hostDir) rmSync(hostDir, { recursive: true, force: true });
}, 120_000);

/** A busybox container `main` running `script` with `sh -c`. */
function shell(script: string, extra: Json = {}): Json {
  return h.sleeper('main', { command: ['sh', '-c', script], ...extra });
}

/**
 * Creates a RestartPolicy Never host-network pod bound to the node (as `h.createPod`,
 * with extra metadata such as labels and annotations); returns its UID.
 */
function runPod(name: string, spec: Json, metadata: Json = {}): string {
  return uidOf(
    h.server.store.create(h.pods, ns, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: ns, ...metadata },
      spec: {
        nodeName,
        hostNetwork: true,
        terminationGracePeriodSeconds: 3,
        restartPolicy: 'Never',
        ...spec,
      },
    }),
  );
}

/** A busybox container `main` without command (the image's Cmd runs) and `extra`. */
function imageDefaults(extra: Json = {}): Json {
  return { name: 'main', image: realRuntime().busyboxImage, ...extra };
}

/** Bytes of a Kubernetes memory quantity (`123`, `456Ki`, `7Mi`, `1Gi`, `1k`, `1M`). */
function quantityBytes(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) throw new Error(`unexpected quantity ${q}`);
  const mult: Record<string, number> = {
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return Number(m[1]) * (m[2] ? (mult[m[2]] ?? 1) : 1);
}

/** Waits for the pod to end; its phase (Succeeded or Failed). */
async function finished(name: string, timeoutMs = 45_000): Promise<string> {
  return h.waitFor(
    `${name} Succeeded or Failed`,
    () => {
      const phase = h.podStatus(ns, name).phase;
      return phase === 'Succeeded' || phase === 'Failed' ? phase : undefined;
    },
    timeoutMs,
  );
}

/** The log of the pod's container `container` as the runtime wrote it (CRI log format). */
async function logsOf(name: string, container = 'main'): Promise<string> {
  const uid = uidOf(h.getPod(ns, name));
  const c = (await h.containersOf(uid)).find((x) => x.metadata?.name === container);
  if (!c) throw new Error(`no container ${container} in ${name}`);
  const { status } = await h.cri.containerStatus({ containerId: c.id });
  const logPath = status?.logPath ?? '';
  if (!logPath || !existsSync(logPath)) return '';
  let out = '';
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    const m = /^\S+ (?:stdout|stderr) ([PF]) (.*)$/.exec(line);
    if (m) out += m[1] === 'F' ? `${m[2]}\n` : m[2];
  }
  return out;
}

/** Waits for the pod to end with `phase`, then returns the container's log. */
async function outputOf(name: string, phase = 'Succeeded', container = 'main'): Promise<string> {
  const got = await finished(name);
  const log = await logsOf(name, container);
  expect(got, `${name} phase; log:\n${log}`).toBe(phase);
  return log;
}

/** Runs `cmd` in the pod's running container `main`; stdout, and the exit code. */
async function exec(name: string, cmd: string[]): Promise<{ stdout: string; exitCode: number }> {
  const uid = uidOf(h.getPod(ns, name));
  const c = (await h.containersOf(uid)).find(
    (x) => x.metadata?.name === 'main' && x.state === 'CONTAINER_RUNNING',
  );
  if (!c) throw new Error(`no running container in ${name}`);
  const res = await h.cri.execSync({ containerId: c.id, cmd, timeout: 10 });
  return { stdout: Buffer.from(res.stdout).toString('utf8'), exitCode: res.exitCode };
}

function waitingOf(name: string, container = 'main'): Json {
  return obj(obj(containerStatus(h.podStatus(ns, name), container)?.state).waiting);
}

/** Waits for the container to wait in CreateContainerConfigError; its message. */
async function configError(name: string): Promise<string> {
  const w = await h.waitFor(`${name} CreateContainerConfigError`, () => {
    const waiting = waitingOf(name);
    return waiting.reason === 'CreateContainerConfigError' ? waiting : undefined;
  });
  expect(h.podStatus(ns, name).phase).toBe('Pending');
  return String(w.message);
}

function runningOf(name: string): boolean {
  return obj(containerStatus(h.podStatus(ns, name), 'main')?.state).running !== undefined;
}

describe.concurrent('what the container sees of its pod spec (kubelet e2e parity)', () => {
  it('[expansion.go] env composition, $(VAR) in command and args, escapes; [containers.go]/[docker_containers.go] command and args against the image Cmd; [kubelet.go] busybox logs and a failing command', async () => {
    const vars = [
      { name: 'FOO', value: 'foo-value' },
      { name: 'BAR', value: 'bar-value' },
      { name: 'FOOBAR', value: '$(FOO);;$(BAR)' },
      { name: 'TEST_VAR', value: 'test-value' },
    ];
    runPod('exp-env', { containers: [shell('env', { env: vars })] });
    runPod('exp-command', {
      containers: [shell('TEST_VAR=wrong echo "$(TEST_VAR)"', { env: vars })],
    });
    runPod('exp-args', {
      containers: [
        h.sleeper('main', {
          command: ['sh', '-c'],
          args: ['TEST_VAR=wrong echo "$(TEST_VAR)"'],
          env: vars,
        }),
      ],
    });
    // $$ escapes, an unknown variable is left as written.
    runPod('exp-escape', {
      containers: [
        h.sleeper('main', { command: ['echo', '$$(TEST_VAR)', '$(NOPE)', '$(FOO)'], env: vars }),
      ],
    });
    // The busybox image has Cmd ["sh"] and no Entrypoint.
    runPod('cmd-blank', { containers: [imageDefaults()] });
    runPod('cmd-args', {
      containers: [imageDefaults({ args: ['echo', 'override', 'arguments'] })],
    });
    runPod('cmd-command', {
      containers: [h.sleeper('main', { command: ['echo', 'entrypoint-override'] })],
    });
    runPod('cmd-both', {
      containers: [h.sleeper('main', { command: ['echo'], args: ['override', 'all'] })],
    });
    runPod('busybox-false', { containers: [h.sleeper('main', { command: ['/bin/false'] })] });

    const env = await outputOf('exp-env');
    expect(env.split('\n')).toEqual(
      expect.arrayContaining(['FOO=foo-value', 'BAR=bar-value', 'FOOBAR=foo-value;;bar-value']),
    );
    expect(await outputOf('exp-command')).toBe('test-value\n');
    expect(await outputOf('exp-args')).toBe('test-value\n');
    expect(await outputOf('exp-escape')).toBe('$(TEST_VAR) $(NOPE) foo-value\n');
    await outputOf('cmd-blank');
    expect(await outputOf('cmd-args')).toBe('override arguments\n');
    expect(await outputOf('cmd-command')).toBe('entrypoint-override\n');
    expect(await outputOf('cmd-both')).toBe('override all\n');
    await outputOf('busybox-false', 'Failed');
    const terminated = obj(
      obj(containerStatus(h.podStatus(ns, 'busybox-false'), 'main')?.state).terminated,
    );
    expect(terminated.reason).toBe('Error');
    expect(terminated.exitCode).toBe(1);
  });

  it('[expansion.go] subPathExpr: substituted, refused with backticks (..) or an absolute path, fixed by an annotation update, written through', async () => {
    const emptyDir = [{ name: 'workdir1', emptyDir: {} }];
    runPod('subpath-ok', {
      volumes: emptyDir,
      containers: [
        shell('test -d /testcontainer/subpath-ok; echo $?', {
          env: [{ name: 'POD_NAME', value: 'subpath-ok' }],
          volumeMounts: [
            { name: 'workdir1', mountPath: '/logscontainer', subPathExpr: '$(POD_NAME)' },
            { name: 'workdir1', mountPath: '/testcontainer' },
          ],
        }),
      ],
    });
    for (const [name, value] of [
      ['subpath-backticks', '..'],
      ['subpath-absolute', '/tmp'],
    ] as const) {
      runPod(name, {
        volumes: emptyDir,
        containers: [
          h.sleeper('main', {
            env: [{ name: 'POD_NAME', value }],
            volumeMounts: [
              { name: 'workdir1', mountPath: '/logscontainer', subPathExpr: '$(POD_NAME)' },
            ],
          }),
        ],
      });
    }
    const annotated = (): Json =>
      shell('exec sleep 3600', {
        env: [
          { name: 'POD_NAME', value: 'foo' },
          {
            name: 'ANNOTATION',
            valueFrom: {
              fieldRef: { apiVersion: 'v1', fieldPath: "metadata.annotations['mysubpath']" },
            },
          },
        ],
        volumeMounts: [
          {
            name: 'workdir1',
            mountPath: '/subpath_mount',
            subPathExpr: '$(ANNOTATION)/$(POD_NAME)',
          },
          { name: 'workdir1', mountPath: '/volume_mount' },
        ],
      });
    runPod(
      'subpath-fixed',
      { volumes: emptyDir, containers: [annotated()] },
      {
        annotations: { notmysubpath: 'mypath' },
      },
    );
    runPod(
      'subpath-write',
      { volumes: emptyDir, containers: [annotated()] },
      {
        annotations: { mysubpath: 'mypath' },
      },
    );

    expect(await outputOf('subpath-ok')).toBe('0\n');
    expect(await configError('subpath-backticks')).toMatch(/\.\./);
    expect(await configError('subpath-absolute')).toMatch(/\/tmp/);
    // Fails while the annotation is missing; runs once the pod is updated with it.
    await configError('subpath-fixed');
    const pod = h.getPod(ns, 'subpath-fixed') ?? {};
    h.server.store.update(h.pods, ns, {
      ...pod,
      metadata: {
        ...obj(pod.metadata),
        annotations: { notmysubpath: 'mypath', mysubpath: 'mypath' },
      },
    });
    await h.waitFor('subpath-fixed Running after the update', () => runningOf('subpath-fixed'));
    // Writes through the whole volume land in the expanded subpath.
    await h.waitFor('subpath-write Running', () => runningOf('subpath-write'));
    expect(
      (await exec('subpath-write', ['touch', '/volume_mount/mypath/foo/test.log'])).exitCode,
    ).toBe(0);
    expect((await exec('subpath-write', ['test', '-f', '/subpath_mount/test.log'])).exitCode).toBe(
      0,
    );
    for (const name of ['subpath-fixed', 'subpath-write', 'subpath-backticks', 'subpath-absolute'])
      h.server.store.delete(h.pods, ns, name, { gracePeriodSeconds: 0 });
  });

  it('[downwardapi.go] env from fieldRef and resourceFieldRef; limits default to the node allocatable', async () => {
    const fields = {
      POD_NAME: 'metadata.name',
      POD_NAMESPACE: 'metadata.namespace',
      POD_UID: 'metadata.uid',
      NODE_NAME: 'spec.nodeName',
      SERVICE_ACCOUNT: 'spec.serviceAccountName',
      POD_IP: 'status.podIP',
      POD_IPS: 'status.podIPs',
      HOST_IP: 'status.hostIP',
      HOST_IPS: 'status.hostIPs',
    };
    const resourceEnv = (divisor = false): Json[] =>
      [
        ['CPU_LIMIT', 'limits.cpu'],
        ['MEMORY_LIMIT', 'limits.memory'],
        ['CPU_REQUEST', 'requests.cpu'],
        ['MEMORY_REQUEST', 'requests.memory'],
      ].map(([name, resource]) => ({
        name,
        valueFrom: {
          resourceFieldRef: {
            resource,
            ...(divisor ? { divisor: resource?.endsWith('cpu') ? '1m' : '1Mi' } : {}),
          },
        },
      }));
    const uid = runPod('dapi-env', {
      serviceAccountName: 'e2e-sa',
      containers: [
        shell('env', {
          env: [
            ...Object.entries(fields).map(([name, fieldPath]) => ({
              name,
              valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } },
            })),
            ...resourceEnv(),
          ],
          resources: {
            requests: { cpu: '250m', memory: '32Mi' },
            limits: { cpu: '1250m', memory: '64Mi' },
          },
        }),
      ],
    });
    runPod('dapi-env-divisor', {
      containers: [
        shell('env', {
          env: resourceEnv(true),
          resources: {
            requests: { cpu: '250m', memory: '32Mi' },
            limits: { cpu: '1250m', memory: '64Mi' },
          },
        }),
      ],
    });
    runPod('dapi-env-allocatable', { containers: [shell('env', { env: resourceEnv() })] });

    const env = (await outputOf('dapi-env')).split('\n');
    expect(env).toEqual(
      expect.arrayContaining([
        'POD_NAME=dapi-env',
        `POD_NAMESPACE=${ns}`,
        `POD_UID=${uid}`,
        `NODE_NAME=${nodeName}`,
        'SERVICE_ACCOUNT=e2e-sa',
        'POD_IP=127.0.0.1',
        'POD_IPS=127.0.0.1',
        'HOST_IP=127.0.0.1',
        'HOST_IPS=127.0.0.1',
        // Whole cores and bytes, rounded up.
        'CPU_LIMIT=2',
        'MEMORY_LIMIT=67108864',
        'CPU_REQUEST=1',
        'MEMORY_REQUEST=33554432',
      ]),
    );
    expect((await outputOf('dapi-env-divisor')).split('\n')).toEqual(
      expect.arrayContaining([
        'CPU_LIMIT=1250',
        'MEMORY_LIMIT=64',
        'CPU_REQUEST=250',
        'MEMORY_REQUEST=32',
      ]),
    );
    const allocatable = obj(obj(h.server.store.tryGet(h.nodes, '', nodeName)?.status).allocatable);
    const cpu = String(allocatable.cpu);
    const cores = cpu.endsWith('m')
      ? Math.ceil(Number(cpu.slice(0, -1)) / 1000)
      : Math.ceil(Number(cpu));
    const lines = (await outputOf('dapi-env-allocatable')).split('\n');
    expect(lines).toContain(`CPU_LIMIT=${cores}`);
    const memLine = lines.find((l) => l.startsWith('MEMORY_LIMIT=')) ?? '';
    expect(Number(memLine.slice('MEMORY_LIMIT='.length))).toBeGreaterThan(0);
    expect(memLine).toBe(`MEMORY_LIMIT=${quantityBytes(String(allocatable.memory))}`);
    // No requests: 0 cores rounds to 0 and requests.memory is 0.
    expect(lines).toEqual(expect.arrayContaining(['CPU_REQUEST=0', 'MEMORY_REQUEST=0']));
  });

  it('[configmap.go]/[secrets.go] env and envFrom with prefix, optional references, a missing non-optional one', async () => {
    // `env` itself (not through sh: busybox ash drops variables like data-1 that are
    // not shell identifiers).
    runPod('cm-env', {
      containers: [
        h.sleeper('main', {
          command: ['env'],
          env: [
            {
              name: 'CONFIG_DATA_1',
              valueFrom: { configMapKeyRef: { name: 'cm', key: 'data-1' } },
            },
            { name: 'SECRET_DATA', valueFrom: { secretKeyRef: { name: 'secret', key: 'data-2' } } },
            // Optional: a missing key and a missing object leave the variable unset.
            {
              name: 'OPT_KEY',
              valueFrom: { configMapKeyRef: { name: 'cm', key: 'nope', optional: true } },
            },
            {
              name: 'OPT_OBJ',
              valueFrom: { secretKeyRef: { name: 'no-such-secret', key: 'k', optional: true } },
            },
          ],
          envFrom: [
            { configMapRef: { name: 'cm' } },
            { prefix: 'p-', configMapRef: { name: 'cm' } },
            { prefix: 's-', secretRef: { name: 'secret' } },
            { configMapRef: { name: 'no-such-cm', optional: true } },
          ],
        }),
      ],
    });
    runPod('cm-env-missing', {
      containers: [
        h.sleeper('main', {
          env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'no-such-cm', key: 'k' } } }],
        }),
      ],
    });
    runPod('cm-env-missing-key', {
      containers: [
        h.sleeper('main', {
          env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'secret', key: 'nope' } } }],
        }),
      ],
    });
    const env = (await outputOf('cm-env')).split('\n');
    expect(env).toEqual(
      expect.arrayContaining([
        'CONFIG_DATA_1=value-1',
        'SECRET_DATA=value-2',
        'data-1=value-1',
        'data-3=value-3',
        'p-data-1=value-1',
        'p-data-2=value-2',
        's-data-1=value-1',
        's-data-3=value-3',
      ]),
    );
    expect(env.some((l) => l.startsWith('OPT_KEY=') || l.startsWith('OPT_OBJ='))).toBe(false);
    expect(await configError('cm-env-missing')).toMatch(/"no-such-cm".* not found/);
    expect(await configError('cm-env-missing-key')).toMatch(/nope/);
    await h.waitFor('a Failed event for cm-env-missing', () =>
      h.eventsFor(ns, 'cm-env-missing').some((e) => e.reason === 'Failed' && e.type === 'Warning'),
    );
    for (const name of ['cm-env-missing', 'cm-env-missing-key'])
      h.server.store.delete(h.pods, ns, name, { gracePeriodSeconds: 0 });
  });

  it('[security_context.go]/[privileged.go] users and groups, runAsNonRoot refusals, read-only rootfs, privileged, capabilities, no_new_privs, supplemental groups, fsGroup', async () => {
    const ids = 'id -u; id -g; id -G';
    runPod('sc-uid', { containers: [shell('id -u', { securityContext: { runAsUser: 65534 } })] });
    runPod('sc-uid-override', {
      securityContext: { runAsUser: 1001 },
      containers: [shell('id -u', { securityContext: { runAsUser: 1002 } })],
    });
    runPod('sc-uid-gid', {
      securityContext: { runAsUser: 1001, runAsGroup: 2002 },
      containers: [shell(ids)],
    });
    // The image names no user: root, with the group asked for.
    runPod('sc-gid-only', { containers: [shell(ids, { securityContext: { runAsGroup: 2002 } })] });
    runPod('sc-nonroot-ok', {
      containers: [shell('id -u', { securityContext: { runAsNonRoot: true, runAsUser: 1000 } })],
    });
    runPod('sc-nonroot-uid0', {
      containers: [shell('id -u', { securityContext: { runAsNonRoot: true, runAsUser: 0 } })],
    });
    runPod('sc-nonroot-image-root', {
      securityContext: { runAsNonRoot: true },
      containers: [shell('id -u')],
    });
    runPod('sc-readonly', {
      containers: [
        shell('echo test > /file', { securityContext: { readOnlyRootFilesystem: true } }),
      ],
    });
    runPod('sc-writable', {
      containers: [
        shell('touch checkfile', { securityContext: { readOnlyRootFilesystem: false } }),
      ],
    });
    const capEff = 'grep CapEff /proc/self/status | cut -f2';
    runPod('sc-unprivileged', {
      containers: [
        shell(`ip link add dummy0 type dummy 2>&1 || true; ${capEff}`, {
          securityContext: { privileged: false },
        }),
      ],
    });
    runPod('sc-privileged', {
      containers: [
        shell(`${capEff}; grep -c ' /sys .*rw' /proc/mounts`, {
          securityContext: { privileged: true },
        }),
      ],
    });
    runPod('sc-caps', {
      containers: [
        shell(capEff, { securityContext: { capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] } } }),
      ],
    });
    const nnp = 'grep NoNewPrivs /proc/self/status | cut -f2';
    runPod('sc-nnp-false', {
      containers: [
        shell(nnp, { securityContext: { runAsUser: 1000, allowPrivilegeEscalation: false } }),
      ],
    });
    runPod('sc-nnp-unset', { containers: [shell(nnp, { securityContext: { runAsUser: 1000 } })] });
    runPod('sc-supplemental', {
      securityContext: { runAsUser: 1001, supplementalGroups: [1234, 5678] },
      containers: [shell('id -G')],
    });
    runPod('sc-fsgroup', {
      securityContext: { runAsUser: 1001, fsGroup: 2345 },
      volumes: [{ name: 'v', emptyDir: {} }],
      containers: [
        shell('touch /v/f && stat -c "%g %A" /v /v/f && id -G', {
          volumeMounts: [{ name: 'v', mountPath: '/v' }],
        }),
      ],
    });

    expect(await outputOf('sc-uid')).toBe('65534\n');
    expect(await outputOf('sc-uid-override')).toBe('1002\n');
    expect(await outputOf('sc-uid-gid')).toBe('1001\n2002\n2002\n');
    expect(await outputOf('sc-gid-only')).toBe('0\n2002\n2002\n');
    expect(await outputOf('sc-nonroot-ok')).toBe('1000\n');
    expect(await configError('sc-nonroot-uid0')).toMatch(
      /container's runAsUser breaks non-root policy/,
    );
    expect(await configError('sc-nonroot-image-root')).toMatch(
      /container has runAsNonRoot and image will run as root/,
    );
    for (const name of ['sc-nonroot-uid0', 'sc-nonroot-image-root']) {
      const failed = h.eventsFor(ns, name).find((e) => e.reason === 'Failed');
      expect(failed?.type, `${name} Failed event`).toBe('Warning');
      h.server.store.delete(h.pods, ns, name, { gracePeriodSeconds: 0 });
    }
    expect(await outputOf('sc-readonly', 'Failed')).toMatch(/Read-only file system/);
    await outputOf('sc-writable');
    const unpriv = (await outputOf('sc-unprivileged')).split('\n');
    expect(unpriv[0]).toMatch(/Operation not permitted/);
    const capsOf = (hex: string | undefined): bigint => BigInt(`0x${hex ?? '0'}`);
    const NET_ADMIN = 1n << 12n;
    const SYS_ADMIN = 1n << 21n;
    expect(capsOf(unpriv[1]) & NET_ADMIN).toBe(0n);
    expect(capsOf(unpriv[1]) & SYS_ADMIN).toBe(0n);
    const priv = (await outputOf('sc-privileged')).split('\n');
    expect(capsOf(priv[0]) & (NET_ADMIN | SYS_ADMIN)).toBe(NET_ADMIN | SYS_ADMIN);
    expect(priv[1]).toBe('1');
    expect(capsOf((await outputOf('sc-caps')).trim())).toBe(NET_ADMIN);
    expect(await outputOf('sc-nnp-false')).toBe('1\n');
    expect(await outputOf('sc-nnp-unset')).toBe('0\n');
    expect((await outputOf('sc-supplemental')).trim().split(' ')).toEqual(
      expect.arrayContaining(['1234', '5678']),
    );
    const fsg = (await outputOf('sc-fsgroup')).split('\n');
    expect(fsg[0]).toBe('2345 drwxrwsrwx');
    expect(fsg[1]).toMatch(/^2345 /);
    expect(fsg[2]?.split(' ')).toContain('2345');
  });

  it('[sysctl.go] safe sysctls, also with slashes; [kubelet.go]/[kubelet_etc_hosts.go] hostAliases in /etc/hosts', async () => {
    runPod('sysctl', {
      securityContext: { sysctls: [{ name: 'kernel.shm_rmid_forced', value: '1' }] },
      containers: [shell('sysctl kernel.shm_rmid_forced')],
    });
    runPod('sysctl-slashes', {
      securityContext: { sysctls: [{ name: 'kernel/shm_rmid_forced', value: '1' }] },
      containers: [shell('sysctl kernel/shm_rmid_forced')],
    });
    runPod('host-aliases', {
      hostAliases: [
        { ip: '123.45.67.89', hostnames: ['foo', 'bar'] },
        { ip: '127.0.0.3', hostnames: ['baz'] },
      ],
      containers: [shell('cat /etc/hosts')],
    });
    // A container that mounts /etc/hosts itself keeps it (kubelet_etc_hosts.go busybox-3).
    runPod('etc-hosts-mounted', {
      volumes: [{ name: 'hosts', hostPath: { path: '/etc/hosts', type: 'File' } }],
      containers: [
        shell('cat /etc/hosts', { volumeMounts: [{ name: 'hosts', mountPath: '/etc/hosts' }] }),
      ],
    });
    expect(await outputOf('sysctl')).toBe('kernel.shm_rmid_forced = 1\n');
    expect(await outputOf('sysctl-slashes')).toMatch(/shm_rmid_forced = 1/);
    const hosts = await outputOf('host-aliases');
    expect(hosts).toMatch(/^# Kubernetes-managed hosts file/);
    expect(hosts).toContain('123.45.67.89\tfoo\tbar\n');
    expect(hosts).toContain('127.0.0.3\tbaz\n');
    // Host network: the node's file plus the aliases, not the pod-network file
    // (kubelet_etc_hosts.go: hostNetwork pods are not "# Kubernetes-managed hosts file.").
    expect(hosts).not.toContain('# Kubernetes-managed hosts file.');
    expect(hosts).toContain(readFileSync('/etc/hosts', 'utf8'));
    expect(await outputOf('etc-hosts-mounted')).toBe(readFileSync('/etc/hosts', 'utf8'));
  });

  it('[configmap_volume.go]/[secrets_volume.go]/[projected_*.go] files, modes, items, fsGroup, optional and missing objects', async () => {
    const mode = (path: string): string => `cat ${path}; echo; stat -L -c '%a %g' ${path}`;
    const mount = (name: string, path: string): Json => ({
      volumeMounts: [{ name, mountPath: path }],
    });
    runPod('cmvol', {
      volumes: [{ name: 'c', configMap: { name: 'cm' } }],
      // binaryData too (configmap_volume.go "binary data should be reflected in volume").
      containers: [
        shell(`${mode('/etc/c/data-1')}; od -An -tx1 /etc/c/dump.bin`, mount('c', '/etc/c')),
      ],
    });
    runPod('cmvol-mode', {
      volumes: [
        {
          name: 'c',
          configMap: {
            name: 'cm',
            defaultMode: 0o400,
            items: [
              { key: 'data-1', path: 'path/to/data-2', mode: 0o440 },
              { key: 'data-3', path: 'three' },
            ],
          },
        },
      ],
      containers: [
        shell(
          `${mode('/etc/c/path/to/data-2')}; ${mode('/etc/c/three')}; ls /etc/c`,
          mount('c', '/etc/c'),
        ),
      ],
    });
    runPod('cmvol-nonroot', {
      securityContext: { runAsUser: 1000, fsGroup: 1001 },
      volumes: [{ name: 'c', configMap: { name: 'cm', defaultMode: 0o440 } }],
      containers: [shell(mode('/etc/c/data-2'), mount('c', '/etc/c'))],
    });
    runPod('cmvol-optional', {
      volumes: [{ name: 'c', configMap: { name: 'no-such-cm', optional: true } }],
      containers: [shell('ls /etc/c | wc -l', mount('c', '/etc/c'))],
    });
    runPod('secretvol', {
      volumes: [{ name: 's', secret: { secretName: 'secret' } }],
      containers: [shell(mode('/etc/s/data-1'), mount('s', '/etc/s'))],
    });
    runPod('secretvol-nonroot', {
      securityContext: { runAsUser: 1000, fsGroup: 1001 },
      volumes: [{ name: 's', secret: { secretName: 'secret', defaultMode: 0o440 } }],
      containers: [shell(mode('/etc/s/data-3'), mount('s', '/etc/s'))],
    });
    runPod('projected', {
      volumes: [
        {
          name: 'p',
          projected: {
            defaultMode: 0o400,
            sources: [
              { configMap: { name: 'cm', items: [{ key: 'data-1', path: 'cm-1' }] } },
              {
                secret: {
                  name: 'secret',
                  items: [{ key: 'data-2', path: 'secret-2', mode: 0o444 }],
                },
              },
              {
                downwardAPI: {
                  items: [{ path: 'podname', fieldRef: { fieldPath: 'metadata.name' } }],
                },
              },
            ],
          },
        },
      ],
      containers: [
        shell(
          `${mode('/p/cm-1')}; ${mode('/p/secret-2')}; ${mode('/p/podname')}`,
          mount('p', '/p'),
        ),
      ],
    });
    runPod('dapivol-fsgroup', {
      securityContext: { runAsUser: 1001, fsGroup: 1234 },
      volumes: [
        {
          name: 'd',
          downwardAPI: { items: [{ path: 'podname', fieldRef: { fieldPath: 'metadata.name' } }] },
        },
      ],
      containers: [shell(mode('/d/podname'), mount('d', '/d'))],
    });
    runPod('cmvol-missing-key', {
      volumes: [{ name: 'c', configMap: { name: 'cm', items: [{ key: 'nope', path: 'x' }] } }],
      containers: [h.sleeper('main', mount('c', '/etc/c'))],
    });
    runPod('cmvol-missing', {
      volumes: [{ name: 'c', configMap: { name: 'no-such-cm' } }],
      containers: [h.sleeper('main', mount('c', '/etc/c'))],
    });

    expect(await outputOf('cmvol')).toBe('value-1\n644 0\n 00 ff 10\n');
    expect(await outputOf('cmvol-mode')).toBe('value-1\n440 0\nvalue-3\n400 0\npath\nthree\n');
    expect(await outputOf('cmvol-nonroot')).toBe('value-2\n440 1001\n');
    expect(await outputOf('cmvol-optional')).toBe('0\n');
    expect(await outputOf('secretvol')).toBe('value-1\n644 0\n');
    expect(await outputOf('secretvol-nonroot')).toBe('value-3\n440 1001\n');
    expect(await outputOf('projected')).toBe('value-1\n400 0\nvalue-2\n444 0\nprojected\n400 0\n');
    expect(await outputOf('dapivol-fsgroup')).toBe('dapivol-fsgroup\n644 1234\n');
    const missingKey = await h.waitFor('FailedMount for cmvol-missing-key', () =>
      h.eventsFor(ns, 'cmvol-missing-key').find((e) => e.reason === 'FailedMount'),
    );
    expect(String(missingKey.message)).toMatch(/nope/);
    expect(waitingOf('cmvol-missing-key').reason).toBe('ContainerCreating');
    h.server.store.delete(h.pods, ns, 'cmvol-missing-key', { gracePeriodSeconds: 0 });
    const failedMount = await h.waitFor('FailedMount for cmvol-missing', () =>
      h.eventsFor(ns, 'cmvol-missing').find((e) => e.reason === 'FailedMount'),
    );
    expect(String(failedMount.message)).toMatch(/"no-such-cm".* not found/);
    expect(h.podStatus(ns, 'cmvol-missing').phase).toBe('Pending');
    expect(waitingOf('cmvol-missing').reason).toBe('ContainerCreating');
    h.server.store.delete(h.pods, ns, 'cmvol-missing', { gracePeriodSeconds: 0 });
  });

  it('[downwardapi_volume.go] pod name, labels, annotations, limits (defaulting to allocatable), modes; label, annotation and ConfigMap updates reach the files', async () => {
    const cat = (f: string): string => `cat /d/${f}; echo`;
    runPod('dapivol', {
      volumes: [
        {
          name: 'd',
          downwardAPI: {
            defaultMode: 0o400,
            items: [
              { path: 'podname', fieldRef: { fieldPath: 'metadata.name' } },
              { path: 'podname-mode', fieldRef: { fieldPath: 'metadata.name' }, mode: 0o444 },
              {
                path: 'cpu_limit',
                resourceFieldRef: { containerName: 'main', resource: 'limits.cpu', divisor: '1m' },
              },
              {
                path: 'memory_limit',
                resourceFieldRef: { containerName: 'main', resource: 'limits.memory' },
              },
              {
                path: 'memory_request',
                resourceFieldRef: {
                  containerName: 'main',
                  resource: 'requests.memory',
                  divisor: '1Mi',
                },
              },
              {
                path: 'cpu_limit_default',
                resourceFieldRef: { containerName: 'other', resource: 'limits.cpu' },
              },
            ],
          },
        },
      ],
      containers: [
        shell(
          `${['podname', 'cpu_limit', 'memory_limit', 'memory_request', 'cpu_limit_default'].map(cat).join('; ')}; stat -L -c %a /d/podname /d/podname-mode`,
          {
            volumeMounts: [{ name: 'd', mountPath: '/d' }],
            resources: { requests: { memory: '32Mi' }, limits: { cpu: '250m', memory: '64Mi' } },
          },
        ),
        h.sleeper('other', { command: ['true'] }),
      ],
    });
    runPod(
      'dapivol-update',
      {
        restartPolicy: 'Always',
        volumes: [
          {
            name: 'd',
            downwardAPI: {
              items: [
                { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
                { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
              ],
            },
          },
          { name: 'c', configMap: { name: 'cm-update' } },
          { name: 'later', configMap: { name: 'cm-later', optional: true } },
        ],
        containers: [
          h.sleeper('main', {
            volumeMounts: [
              { name: 'd', mountPath: '/d' },
              { name: 'c', mountPath: '/c' },
              { name: 'later', mountPath: '/later' },
            ],
          }),
        ],
      },
      { labels: { key1: 'value1' }, annotations: { builder: 'bar' } },
    );

    const allocatable = obj(obj(h.server.store.tryGet(h.nodes, '', nodeName)?.status).allocatable);
    const cpu = String(allocatable.cpu);
    const cores = cpu.endsWith('m')
      ? Math.ceil(Number(cpu.slice(0, -1)) / 1000)
      : Math.ceil(Number(cpu));
    expect(await outputOf('dapivol')).toBe(`dapivol\n250\n67108864\n32\n${cores}\n400\n444\n`);

    await h.waitFor('dapivol-update Running', () => runningOf('dapivol-update'));
    const read = async (path: string): Promise<string> =>
      (await exec('dapivol-update', ['cat', path])).stdout;
    expect(await read('/d/labels')).toBe('key1="value1"');
    expect(await read('/d/annotations')).toContain('builder="bar"');
    expect(await read('/c/data-1')).toBe('value-1');
    // ConfigMap changes alone (no pod update): the kubelet picks them up at the pod's
    // next periodic sync (configmap_volume.go "updates should be reflected in volume").
    const cms = h.server.store.resource('configmaps');
    const cm = h.server.store.get(cms, ns, 'cm-update');
    h.server.store.update(cms, ns, { ...cm, data: { 'data-1': 'value-2' } });
    // An optional ConfigMap missing at the start appears once created
    // (configmap_volume.go "optional updates should be reflected in volume").
    expect((await exec('dapivol-update', ['ls', '/later'])).stdout).toBe('');
    h.server.store.create(cms, ns, { metadata: { name: 'cm-later' }, data: { 'data-1': 'later' } });
    // Bounded by one resync period (10 s, jittered) plus slack.
    await h.waitFor(
      'the ConfigMap file updated',
      async () => (await read('/c/data-1')) === 'value-2',
      30_000,
    );
    await h.waitFor(
      'the optional ConfigMap file created',
      async () => (await read('/later/data-1')) === 'later',
      30_000,
    );
    // Labels and annotations: a pod update, synced at once.
    const pod = h.getPod(ns, 'dapivol-update') ?? {};
    h.server.store.update(h.pods, ns, {
      ...pod,
      metadata: {
        ...obj(pod.metadata),
        labels: { key1: 'value1', key3: 'value3' },
        annotations: { ...obj(obj(pod.metadata).annotations), builder: 'foo' },
      },
    });
    await h.waitFor(
      'the labels file updated',
      async () => (await read('/d/labels')) === 'key1="value1"\nkey3="value3"',
    );
    await h.waitFor('the annotations file updated', async () =>
      (await read('/d/annotations')).includes('builder="foo"'),
    );
    h.server.store.delete(h.pods, ns, 'dapivol-update', { gracePeriodSeconds: 0 });
  }, 60_000);

  it('[empty_dir.go]/[host_path.go] emptyDir mode and sharing between containers, non-root writes; hostPath mode, DirectoryOrCreate and subPath writes', async () => {
    runPod('emptydir', {
      volumes: [{ name: 'v', emptyDir: {} }],
      initContainers: [
        h.sleeper('writer', {
          command: ['sh', '-c', 'echo shared > /v/shared'],
          volumeMounts: [{ name: 'v', mountPath: '/v' }],
        }),
      ],
      containers: [
        shell(
          'stat -c %A /v; cat /v/shared; touch /v/f && chmod 0666 /v/f && stat -c "%A %u" /v/f',
          {
            securityContext: { runAsUser: 1001 },
            volumeMounts: [{ name: 'v', mountPath: '/v' }],
          },
        ),
      ],
    });
    runPod('hostpath', {
      volumes: [
        { name: 'h', hostPath: { path: hostDir } },
        { name: 'made', hostPath: { path: join(hostDir, 'made'), type: 'DirectoryOrCreate' } },
      ],
      containers: [
        shell('stat -c %A /h; echo sub > /sub/file; stat -c %A /made', {
          volumeMounts: [
            { name: 'h', mountPath: '/h' },
            { name: 'h', mountPath: '/sub', subPath: 'sub-path' },
            { name: 'made', mountPath: '/made' },
          ],
        }),
      ],
    });
    runPod('hostpath-file-missing', {
      volumes: [{ name: 'h', hostPath: { path: join(hostDir, 'no-such-file'), type: 'File' } }],
      containers: [h.sleeper('main', { volumeMounts: [{ name: 'h', mountPath: '/h' }] })],
    });
    expect(await outputOf('emptydir')).toBe('drwxrwxrwx\nshared\n-rw-rw-rw- 1001\n');
    expect(await outputOf('hostpath')).toBe('drwxrwxrwt\ndrwxr-xr-x\n');
    expect(readFileSync(join(hostDir, 'sub-path', 'file'), 'utf8')).toBe('sub\n');
    const failedMount = await h.waitFor('FailedMount for hostpath-file-missing', () =>
      h.eventsFor(ns, 'hostpath-file-missing').find((e) => e.reason === 'FailedMount'),
    );
    expect(String(failedMount.message)).toMatch(/no-such-file/);
    h.server.store.delete(h.pods, ns, 'hostpath-file-missing', { gracePeriodSeconds: 0 });
  });
});
