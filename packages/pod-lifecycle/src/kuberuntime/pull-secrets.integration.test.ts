/**
 * imagePullSecrets on the real containerd: a second docker-registry on a free loopback
 * port that wants basic auth (htpasswd, bcrypt) holds a copy of the busybox test image
 * (relabelled, so its image ID is this suite's own and removing it touches nothing
 * else). Pulling it through CRI without or with wrong credentials fails; a pod whose
 * pull secret holds the right password runs; a wrong password gives ErrImagePull.
 * containerd talks plain HTTP to loopback registries without configuration.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NotFoundError, type SecretManager, type k8s } from '@nodeagent/core';
import type { CriClient } from '@nodeagent/cri-client';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeManager } from '../runtime-manager.js';
import { RealRuntimeHarness } from '../test-support/real-runtime-manager.js';

const run = promisify(execFile);
const env = realRuntime();
const suiteLabel = { 'nodeagent.test/suite': 'pod-lifecycle-pull-secrets' };
const namespace = 'pull-secrets-it';

const user = 'puller';
const password = 'nodeagent-pull-secret';
/**
 * bcrypt (cost 4, the least docker-registry accepts) of {@link password}, made once
 * with Python's `crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))`
 * on Debian 12, so the test needs no bcrypt tool (Debian has no htpasswd without
 * apache2-utils).
 */
const passwordBcrypt = '$2b$04$kWXHP.xROSKC6WTXtvgCo.vja4kDxTr/0gt4Bp4.aFcs2HznZBf6W';

class MemorySecrets implements SecretManager {
  readonly secrets = new Map<string, k8s.Secret>();
  async getSecret(ns: string, name: string): Promise<k8s.Secret> {
    const s = this.secrets.get(`${ns}/${name}`);
    if (!s) throw new NotFoundError(`secret "${name}" not found`);
    return structuredClone(s);
  }
  registerPod(): void {}
  unregisterPod(): void {}
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

let workDir: string;
let registryProcess: ChildProcess | undefined;
let registryExited: Promise<void> = Promise.resolve();
let privateRegistry: string;
let privateImage: string;
let harness: RealRuntimeHarness;
let cri: CriClient;
let manager: RuntimeManager;
let events: RealRuntimeHarness['events'];
const secrets = new MemorySecrets();

async function startAuthRegistry(): Promise<void> {
  const port = await freeLoopbackPort();
  privateRegistry = `127.0.0.1:${port}`;
  await writeFile(join(workDir, 'htpasswd'), `${user}:${passwordBcrypt}\n`);
  await writeFile(
    join(workDir, 'config.yml'),
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(workDir, 'data')}`,
      'http:',
      `  addr: ${privateRegistry}`,
      '  secret: nodeagent-pull-secrets-test',
      'auth:',
      '  htpasswd:',
      '    realm: nodeagent-pull-secrets-test',
      `    path: ${join(workDir, 'htpasswd')}`,
      '',
    ].join('\n'),
  );
  const child = spawn('docker-registry', ['serve', join(workDir, 'config.yml')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  registryProcess = child;
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  registryExited = new Promise((resolve) => child.once('exit', () => resolve()));
  // Ready when /v2/ asks for credentials: a 401 also proves the port is ours (an
  // anonymous registry of someone else would answer 200).
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    const status = await fetch(`http://${privateRegistry}/v2/`)
      .then((r) => r.status)
      .catch(() => 0);
    if (status === 401) return;
    if (status !== 0) throw new Error(`${privateRegistry} answered ${status}, not our registry`);
    if (i > 200) throw new Error(`docker-registry did not answer: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Copies the busybox test image with a label of this run into the private registry. */
async function seedPrivateImage(): Promise<void> {
  const layout = join(workDir, 'oci');
  await run('skopeo', [
    '--insecure-policy',
    'copy',
    '--quiet',
    '--src-tls-verify=false',
    `docker://${env.busyboxImage}`,
    `oci:${layout}:src`,
  ]);
  await run('umoci', [
    'config',
    '--image',
    `${layout}:src`,
    '--tag',
    'private',
    '--config.label',
    `nodeagent.test/pull-secrets=${randomUUID()}`,
  ]);
  privateImage = `${privateRegistry}/private/busybox:1`;
  await run('skopeo', [
    '--insecure-policy',
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    '--dest-creds',
    `${user}:${password}`,
    `oci:${layout}:private`,
    `docker://${privateImage}`,
  ]);
}

function dockerConfigSecret(name: string, pass: string): k8s.Secret {
  const auths = {
    [privateRegistry]: { auth: Buffer.from(`${user}:${pass}`).toString('base64') },
  };
  return {
    metadata: { name, namespace },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(JSON.stringify({ auths })).toString('base64') },
  };
}

function podWith(name: string, secretName: string): k8s.Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, uid: randomUUID(), labels: { ...suiteLabel } },
    spec: {
      hostNetwork: true,
      terminationGracePeriodSeconds: 1,
      imagePullSecrets: [{ name: secretName }],
      containers: [
        { name: 'app', image: privateImage, imagePullPolicy: 'Always', command: ['sleep', '3600'] },
      ],
    },
  };
}

async function sync(pod: k8s.Pod): Promise<void> {
  await harness.sync(manager, pod);
}

async function teardown(pod: k8s.Pod): Promise<void> {
  await harness.terminate(manager, pod);
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'pull-secrets-it-'));
  harness = await RealRuntimeHarness.open({ suiteLabel, rootDirPrefix: 'pull-secrets-root-' });
  ({ cri, events } = harness);
  await startAuthRegistry();
  await seedPrivateImage();
  manager = harness.manager({ secrets });
}, 60_000);

afterAll(async () => {
  if (harness) {
    await harness.removeOurSandboxes().catch(() => undefined);
    if (privateImage)
      await cri.removeImage({ image: { image: privateImage } }).catch(() => undefined);
    await harness.close().catch(() => undefined);
  }
  if (registryProcess && registryProcess.exitCode === null) {
    registryProcess.kill('SIGTERM');
    await registryExited;
  }
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('imagePullSecrets against a registry with basic auth', () => {
  it('CRI PullImage without or with wrong credentials is refused', async () => {
    await expect(cri.pullImage({ image: { image: privateImage } })).rejects.toThrow(
      /401 Unauthorized/,
    );
    await expect(
      cri.pullImage({ image: { image: privateImage }, auth: { username: user, password: 'nope' } }),
    ).rejects.toThrow(/401 Unauthorized/);
    const { image } = await cri.imageStatus({ image: { image: privateImage } });
    expect(image).toBeNull();
  });

  it('a pod whose pull secret holds the right password runs', async () => {
    secrets.secrets.set(`${namespace}/good`, dockerConfigSecret('good', password));
    const pod = podWith('good', 'good');
    await sync(pod);
    const { containers } = await cri.listContainers({
      filter: { labelSelector: { 'io.kubernetes.pod.uid': pod.metadata.uid ?? '' } },
    });
    expect(containers.map((c) => c.state)).toEqual(['CONTAINER_RUNNING']);
    expect(events.some((e) => e.reason === 'Pulled' && e.message.includes(privateImage))).toBe(
      true,
    );
    const { image } = await cri.imageStatus({ image: { image: privateImage } });
    expect(image?.repoTags).toContain(privateImage);
    await teardown(pod);
  }, 30_000);

  it('a wrong password: ErrImagePull with the registry refusal, nothing started', async () => {
    secrets.secrets.set(`${namespace}/bad`, dockerConfigSecret('bad', 'wrong-password'));
    const pod = podWith('bad', 'bad');
    await sync(pod);
    const waiting = manager.podStatus(pod.metadata.uid ?? '')?.containerStatuses?.[0]?.state
      ?.waiting;
    expect(waiting?.reason).toBe('ErrImagePull');
    expect(waiting?.message).toMatch(
      new RegExp(`^Failed to pull image "${privateImage}": .*401 Unauthorized`),
    );
    const { containers } = await cri.listContainers({
      filter: { labelSelector: { 'io.kubernetes.pod.uid': pod.metadata.uid ?? '' } },
    });
    expect(containers).toEqual([]);
    await teardown(pod);
  }, 30_000);
});
