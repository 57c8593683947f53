/**
 * cri-client against the real containerd brought up by testkit's harness: every
 * client method, the bad inputs, and a runtime restart.
 */
import { randomUUID } from 'node:crypto';
import {
  DeadlineExceededError,
  NotFoundError,
  UnavailableError,
  isNodeAgentError,
  type cri as api,
} from '@nodeagent/core';
import { startContainerd, stopContainerd } from '@nodeagent/testkit';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCriClient, type CriClient } from './client.js';

const env = realRuntime();
const testLabel = { 'nodeagent.test/suite': 'cri-client' };
let cri: CriClient;

function sandboxConfig(name: string, hostNetwork: boolean): api.PodSandboxConfigInput {
  const uid = randomUUID();
  return {
    metadata: { name, namespace: 'cri-client-test', uid, attempt: 0 },
    // The kubelet leaves the hostname empty for host-network pods: runc cannot set
    // one without a private UTS namespace.
    ...(hostNetwork ? {} : { hostname: name }),
    logDirectory: `${env.podLogDir}/${uid}`,
    labels: { ...testLabel, 'io.kubernetes.pod.uid': uid },
    linux: {
      // Under the harness's cgroup root, so that sandbox stats have a cgroup to read.
      cgroupParent: `${env.cgroupRoot}/pod${uid}`,
      securityContext: {
        namespaceOptions: { network: hostNetwork ? 'NODE' : 'POD', pid: 'CONTAINER', ipc: 'POD' },
      },
    },
  };
}

async function runSandbox(
  name: string,
  hostNetwork = true,
): Promise<{ id: string; config: api.PodSandboxConfigInput }> {
  const config = sandboxConfig(name, hostNetwork);
  const { podSandboxId } = await cri.runPodSandbox({ config });
  return { id: podSandboxId, config };
}

async function runContainer(
  sandbox: { id: string; config: api.PodSandboxConfigInput },
  name: string,
  command: string[],
  image = env.busyboxImage,
): Promise<string> {
  const { containerId } = await cri.createContainer({
    podSandboxId: sandbox.id,
    sandboxConfig: sandbox.config,
    config: {
      metadata: { name, attempt: 0 },
      image: { image },
      command,
      logPath: `${name}/0.log`,
      labels: testLabel,
    },
  });
  await cri.startContainer({ containerId });
  return containerId;
}

/** Stops and removes every sandbox (and so container) that this suite created. */
async function cleanupSandboxes(): Promise<void> {
  const { items } = await cri.listPodSandbox({ filter: { labelSelector: testLabel } });
  for (const sb of items) {
    await cri.stopPodSandbox({ podSandboxId: sb.id });
    await cri.removePodSandbox({ podSandboxId: sb.id });
  }
}

beforeAll(async () => {
  cri = createCriClient({
    endpoint: env.criEndpoint,
    reconnectBackoffMs: { initial: 50, max: 500 },
  });
  await cri.connect();
  await cri.pullImage({ image: { image: env.busyboxImage } });
});

afterAll(async () => {
  await cleanupSandboxes();
  const { items } = await cri.listPodSandbox({ filter: { labelSelector: testLabel } });
  expect(items).toEqual([]);
  cri.close();
});

describe('runtime information', () => {
  it('Version reports containerd speaking CRI v1', async () => {
    const v = await cri.version({});
    expect(v.runtimeName).toBe('containerd');
    expect(v.runtimeApiVersion).toBe('v1');
    expect(v.runtimeVersion).toMatch(/\d+\.\d+/);
  });

  it('Status reports RuntimeReady and NetworkReady', async () => {
    const { status } = await cri.status({ verbose: false });
    const conditions = Object.fromEntries(
      (status?.conditions ?? []).map((c) => [c.type, c.status]),
    );
    expect(conditions).toMatchObject({ RuntimeReady: true, NetworkReady: true });
  });

  it('UpdateRuntimeConfig accepts a pod CIDR', async () => {
    await expect(
      cri.updateRuntimeConfig({ runtimeConfig: { networkConfig: { podCidr: env.cniSubnet } } }),
    ).resolves.toEqual({});
  });
});

describe('images', () => {
  it('pulls from the local registry, lists and inspects, then removes', async () => {
    const { imageRef } = await cri.pullImage({ image: { image: env.busybox2Image } });
    expect(imageRef).toMatch(/^sha256:[0-9a-f]{64}$/);

    const { images } = await cri.listImages({});
    const listed = images.find((i) => i.id === imageRef);
    expect(listed?.repoTags).toContain(env.busybox2Image);
    expect(listed?.size).toBeGreaterThan(0);

    const { image } = await cri.imageStatus({ image: { image: env.busybox2Image } });
    expect(image?.id).toBe(imageRef);
    const repo = env.busybox2Image.slice(0, env.busybox2Image.lastIndexOf(':'));
    expect(image?.repoDigests[0]?.startsWith(`${repo}@sha256:`)).toBe(true);

    await cri.removeImage({ image: { image: imageRef } });
    const after = await cri.imageStatus({ image: { image: env.busybox2Image } });
    expect(after.image).toBeNull();
  });

  it('ImageStatus of an unknown image answers with no image', async () => {
    const { image } = await cri.imageStatus({
      image: { image: `${env.registry}/nodeagent/unknown:1` },
    });
    expect(image).toBeNull();
  });

  it('pulling an image the registry does not have fails with NotFound', async () => {
    const err = await cri
      .pullImage({ image: { image: `${env.registry}/nodeagent/no-such-image:1` } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).operation).toBe('ImageService/PullImage');
  });

  it('a malformed image reference is rejected with a clear error, not a hang', async () => {
    const err = await cri
      .pullImage({ image: { image: 'Not A Valid//Reference::' } }, { timeoutMs: 20_000 })
      .catch((e: unknown) => e);
    expect(isNodeAgentError(err)).toBe(true);
    expect((err as Error).message).toMatch(/ImageService\/PullImage: .*(invalid|parse|reference)/i);
  });

  it('pull with registry credentials (AuthConfig) and the sandbox config works', async () => {
    const { imageRef } = await cri.pullImage({
      image: { image: env.busyboxImage },
      auth: { username: 'nodeagent', password: 'not-checked-by-this-registry' },
      sandboxConfig: sandboxConfig('pull-ctx', true),
    });
    expect(imageRef).toMatch(/^sha256:/);
  });

  it('ImageFsInfo reports the image filesystem usage', async () => {
    // containerd refreshes its snapshot usage every stats_collect_period (10 s by
    // default), so a freshly started runtime may report 0 for a few seconds.
    let fs = (await cri.imageFsInfo({})).imageFilesystems;
    for (let i = 0; i < 30 && !(fs[0]?.usedBytes?.value ?? 0); i++) {
      await new Promise((r) => setTimeout(r, 500));
      fs = (await cri.imageFsInfo({})).imageFilesystems;
    }
    expect(fs.length).toBeGreaterThan(0);
    expect(fs[0]?.usedBytes?.value).toBeGreaterThan(0);
    expect(fs[0]?.fsId?.mountpoint).toContain(env.runtimeDir);
  }, 30_000);
});

describe('pod sandboxes', () => {
  it('runs a host-network sandbox, reports, lists, stops and removes it', async () => {
    const sb = await runSandbox('host-sb');
    const { status } = await cri.podSandboxStatus({ podSandboxId: sb.id });
    expect(status?.state).toBe('SANDBOX_READY');
    expect(status?.linux?.namespaces?.options?.network).toBe('NODE');
    expect(status?.metadata?.name).toBe('host-sb');

    const { items } = await cri.listPodSandbox({ filter: { id: sb.id } });
    expect(items.map((i) => i.id)).toEqual([sb.id]);

    await cri.stopPodSandbox({ podSandboxId: sb.id });
    const stopped = await cri.podSandboxStatus({ podSandboxId: sb.id });
    expect(stopped.status?.state).toBe('SANDBOX_NOTREADY');
    await cri.removePodSandbox({ podSandboxId: sb.id });
    await expect(cri.podSandboxStatus({ podSandboxId: sb.id })).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });

  it('a sandbox on the CNI bridge gets an IP from the test subnet', async () => {
    const sb = await runSandbox('cni-sb', false);
    const { status } = await cri.podSandboxStatus({ podSandboxId: sb.id });
    const prefix = env.cniSubnet.split('.').slice(0, 3).join('.') + '.';
    expect(status?.network?.ip.startsWith(prefix)).toBe(true);
    await cri.stopPodSandbox({ podSandboxId: sb.id });
    await cri.removePodSandbox({ podSandboxId: sb.id });
  });

  it('unknown sandbox ids give NotFound', async () => {
    await expect(cri.podSandboxStatus({ podSandboxId: 'does-not-exist' })).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });
});

describe('containers', () => {
  let sandbox: { id: string; config: api.PodSandboxConfigInput };
  let sleeper: string;

  beforeAll(async () => {
    sandbox = await runSandbox('containers');
    sleeper = await runContainer(sandbox, 'sleeper', ['sleep', '3600']);
  });

  it('creates and starts a container; ContainerStatus and ListContainers see it running', async () => {
    const { status } = await cri.containerStatus({ containerId: sleeper });
    expect(status?.state).toBe('CONTAINER_RUNNING');
    expect(status?.metadata?.name).toBe('sleeper');
    expect(status?.startedAt).toBeGreaterThan(0);
    expect(status?.logPath).toContain('sleeper/0.log');

    const { containers } = await cri.listContainers({ filter: { podSandboxId: sandbox.id } });
    expect(containers.map((c) => c.id)).toContain(sleeper);
    const running = await cri.listContainers({
      filter: { state: { state: 'CONTAINER_RUNNING' }, labelSelector: testLabel },
    });
    expect(running.containers.map((c) => c.id)).toContain(sleeper);
  });

  it('ExecSync returns exit code, stdout and stderr', async () => {
    const res = await cri.execSync({
      containerId: sleeper,
      cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'],
      timeout: 10,
    });
    expect(res.exitCode).toBe(3);
    expect(Buffer.from(res.stdout).toString()).toBe('out\n');
    expect(Buffer.from(res.stderr).toString()).toBe('err\n');
  });

  it('ExecSync enforces its timeout', async () => {
    const started = Date.now();
    const err = await cri
      .execSync({ containerId: sleeper, cmd: ['sleep', '30'], timeout: 1 })
      .catch((e: unknown) => e);
    expect(isNodeAgentError(err)).toBe(true);
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a per-call deadline shorter than the exec cuts the call', async () => {
    const err = await cri
      .execSync({ containerId: sleeper, cmd: ['sleep', '30'], timeout: 0 }, { timeoutMs: 500 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlineExceededError);
  });

  it('reports container stats and sandbox stats', async () => {
    const { stats } = await cri.containerStats({ containerId: sleeper });
    expect(stats?.attributes?.id).toBe(sleeper);
    expect(stats?.memory?.workingSetBytes?.value).toBeGreaterThan(0);
    expect(stats?.cpu?.timestamp).toBeGreaterThan(0);

    const list = await cri.listContainerStats({ filter: { podSandboxId: sandbox.id } });
    expect(list.stats.map((s) => s.attributes?.id)).toContain(sleeper);

    const sb = await cri.podSandboxStats({ podSandboxId: sandbox.id });
    expect(sb.stats?.attributes?.id).toBe(sandbox.id);
    expect(sb.stats?.linux?.containers.map((c) => c.attributes?.id)).toContain(sleeper);
    const sbList = await cri.listPodSandboxStats({ filter: { id: sandbox.id } });
    expect(sbList.stats.map((s) => s.attributes?.id)).toEqual([sandbox.id]);
  });

  it('updates container resources', async () => {
    await cri.updateContainerResources({
      containerId: sleeper,
      linux: { cpuShares: 512, memoryLimitInBytes: 64 * 1024 * 1024 },
    });
    const { status } = await cri.containerStatus({ containerId: sleeper });
    expect(status?.resources?.linux?.memoryLimitInBytes ?? 64 * 1024 * 1024).toBe(64 * 1024 * 1024);
  });

  it('reopens the container log', async () => {
    await expect(cri.reopenContainerLog({ containerId: sleeper })).resolves.toEqual({});
  });

  it('Exec, Attach and PortForward hand out streaming URLs on 127.0.0.1', async () => {
    const exec = await cri.exec({ containerId: sleeper, cmd: ['sh'], stdout: true });
    expect(exec.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/exec\//);
    const attach = await cri.attach({ containerId: sleeper, stdout: true });
    expect(attach.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/attach\//);
    const pf = await cri.portForward({ podSandboxId: sandbox.id, port: [8080] });
    expect(pf.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/portforward\//);
  });

  it('stops a container that ignores SIGTERM within the timeout, then removes it', async () => {
    const stubborn = await runContainer(sandbox, 'stubborn', [
      'sh',
      '-c',
      "trap '' TERM; touch /tmp/trapped; while true; do sleep 1; done",
    ]);
    // Stop only once the shell ignores SIGTERM (on a busy machine it may not have
    // reached the trap yet when StopContainer sends the signal).
    for (let i = 0; i < 100; i++) {
      const probe = await cri.execSync({
        containerId: stubborn,
        cmd: ['test', '-f', '/tmp/trapped'],
        timeout: 5,
      });
      if (probe.exitCode === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const started = Date.now();
    await cri.stopContainer({ containerId: stubborn, timeout: 1 });
    expect(Date.now() - started).toBeLessThan(10_000);
    const { status } = await cri.containerStatus({ containerId: stubborn });
    expect(status?.state).toBe('CONTAINER_EXITED');
    expect(status?.exitCode).toBe(137);
    await cri.removeContainer({ containerId: stubborn });
    await expect(cri.containerStatus({ containerId: stubborn })).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });

  it('a container that exits by itself reports its exit code and finish time', async () => {
    const quick = await runContainer(sandbox, 'quick', ['sh', '-c', 'exit 7']);
    let status: api.ContainerStatus | null = null;
    for (let i = 0; i < 50; i++) {
      ({ status } = await cri.containerStatus({ containerId: quick }));
      if (status?.state === 'CONTAINER_EXITED') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status?.state).toBe('CONTAINER_EXITED');
    expect(status?.exitCode).toBe(7);
    // (containerd may stamp finishedAt a little before startedAt for a process that
    // exits at once, so only presence is checked.)
    expect(status?.finishedAt).toBeGreaterThan(0);
    await cri.removeContainer({ containerId: quick });
  });

  it('unknown container ids give NotFound', async () => {
    await expect(cri.containerStatus({ containerId: 'nope' })).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await expect(cri.startContainer({ containerId: 'nope' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      cri.execSync({ containerId: 'nope', cmd: ['true'], timeout: 1 }),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(cri.containerStats({ containerId: 'nope' })).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('container events', () => {
  it('GetContainerEvents either streams the runtime events or fails cleanly as Unimplemented', async () => {
    const v = await cri.version({});
    const ac = new AbortController();
    const seen: string[] = [];
    const sandbox = await runSandbox('events');
    const consume = (async () => {
      for await (const e of cri.getContainerEvents({}, { signal: ac.signal })) {
        if (e.podSandboxStatus?.id === sandbox.id || e.containerId) seen.push(e.containerEventType);
        if (seen.includes('CONTAINER_STARTED_EVENT')) ac.abort();
      }
    })();
    const outcome = await Promise.race([
      consume.then(
        () => 'ended',
        (e: unknown) => e,
      ),
      (async () => {
        await runContainer(sandbox, 'evented', ['sleep', '60']);
        await new Promise((r) => setTimeout(r, 3_000));
        return 'timeout';
      })(),
    ]);
    ac.abort();
    if (/^1\.6\./.test(v.runtimeVersion)) {
      // containerd 1.6 has no event stream: the kubelet (and our PLEG) fall back to relisting.
      expect(isNodeAgentError(outcome, 'Unimplemented')).toBe(true);
    } else {
      expect(seen).toContain('CONTAINER_STARTED_EVENT');
    }
  });
});

describe('runtime restart', () => {
  it('fails fast with Unavailable while containerd is down and recovers without a new client', async () => {
    await expect(cri.version({})).resolves.toMatchObject({ runtimeApiVersion: 'v1' });
    const survivor = await runSandbox('survivor');
    await stopContainerd();
    try {
      const started = Date.now();
      const err = await cri.version({}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnavailableError);
      expect((err as Error).message).toContain(env.criSocket);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await startContainerd();
    }
    let recovered = false;
    for (let i = 0; i < 100 && !recovered; i++) {
      recovered = await cri.version({}).then(
        () => true,
        () => false,
      );
      if (!recovered) await new Promise((r) => setTimeout(r, 100));
    }
    expect(recovered).toBe(true);
    // the runtime kept its state across the restart
    const { status } = await cri.podSandboxStatus({ podSandboxId: survivor.id });
    expect(status?.state).toBe('SANDBOX_READY');
  });
});
