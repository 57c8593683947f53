/**
 * A short tour of @nodeagent/cri-client against the real runtime: what the runtime
 * is, a pod sandbox with one container, an exec, stats, and a clean teardown.
 *
 *   NODEAGENT_CRI_ENDPOINT=unix:///run/containerd/containerd.sock \
 *   NODEAGENT_BUSYBOX_IMAGE=docker.io/library/busybox:1.36 npx tsx examples/cri-demo.ts
 */
import { randomUUID } from 'node:crypto';
import { createCriClient } from '@nodeagent/cri-client';

const endpoint = process.env.NODEAGENT_CRI_ENDPOINT ?? 'unix:///run/containerd/containerd.sock';
const image = process.env.NODEAGENT_BUSYBOX_IMAGE ?? 'docker.io/library/busybox:1.36';

const cri = createCriClient({ endpoint });
const v = await cri.connect();
console.log(
  `runtime: ${v.runtimeName} ${v.runtimeVersion}, CRI ${v.runtimeApiVersion} at ${endpoint}`,
);

const { imageRef } = await cri.pullImage({ image: { image } });
console.log(`pulled ${image} -> ${imageRef.slice(0, 19)}…`);

const uid = randomUUID();
const sandboxConfig = {
  metadata: { name: 'demo', namespace: 'default', uid, attempt: 0 },
  labels: { 'io.kubernetes.pod.uid': uid, app: 'nodeagent-demo' },
  linux: { securityContext: { namespaceOptions: { network: 'NODE' as const } } },
};
const { podSandboxId } = await cri.runPodSandbox({ config: sandboxConfig });
try {
  const { containerId } = await cri.createContainer({
    podSandboxId,
    sandboxConfig,
    config: {
      metadata: { name: 'hello', attempt: 0 },
      image: { image },
      command: ['sleep', '30'],
    },
  });
  await cri.startContainer({ containerId });
  const { status } = await cri.containerStatus({ containerId });
  console.log(`container ${containerId.slice(0, 12)} is ${status?.state}`);

  const exec = await cri.execSync({
    containerId,
    cmd: ['sh', '-c', 'echo "hello from $(hostname), uid $(id -u)"'],
    timeout: 5,
  });
  console.log(`exec (exit ${exec.exitCode}): ${Buffer.from(exec.stdout).toString().trim()}`);

  const { stats } = await cri.containerStats({ containerId });
  console.log(`memory working set: ${stats?.memory?.workingSetBytes?.value ?? 0} bytes`);
} finally {
  await cri.stopPodSandbox({ podSandboxId });
  await cri.removePodSandbox({ podSandboxId });
  console.log('sandbox stopped and removed');
  cri.close();
}
