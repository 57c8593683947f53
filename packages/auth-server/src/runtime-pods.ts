import { cri, type ContainerRuntime, type k8s } from '@nodeagent/core';

const { ContainerState, PodSandboxState } = cri;

/** The part of the CRI runtime the node API uses. */
export type NodeApiRuntime = Pick<
  ContainerRuntime,
  'listPodSandbox' | 'listContainers' | 'containerStatus' | 'exec' | 'attach' | 'portForward'
>;

/** A `v1.PodList` as JSON. */
export interface PodListJson {
  kind: 'PodList';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  items: k8s.Pod[];
}

/** Wraps pods into a `v1.PodList`. */
export function podList(items: k8s.Pod[]): PodListJson {
  return { kind: 'PodList', apiVersion: 'v1', metadata: {}, items };
}

/**
 * `/runningpods/`: the pods the runtime runs now, in the kubelet's shape
 * (`kubecontainer.Pods.ToAPIPod`): a PodList whose items carry only name, namespace,
 * uid and the running containers' name and image.
 */
export async function runningPodList(runtime: NodeApiRuntime): Promise<PodListJson> {
  const [{ items: sandboxes }, { containers }] = await Promise.all([
    runtime.listPodSandbox({ filter: { state: { state: PodSandboxState.SANDBOX_READY } } }),
    runtime.listContainers({ filter: { state: { state: ContainerState.CONTAINER_RUNNING } } }),
  ]);
  const byUid = new Map<string, k8s.Pod>();
  const bySandbox = new Map<string, k8s.Pod>();
  for (const sb of sandboxes) {
    const m = sb.metadata;
    if (!m) continue;
    let pod = byUid.get(m.uid);
    if (!pod) {
      pod = {
        metadata: { name: m.name, namespace: m.namespace, uid: m.uid, creationTimestamp: null },
        spec: { containers: [] },
        status: {},
      } as unknown as k8s.Pod;
      byUid.set(m.uid, pod);
    }
    bySandbox.set(sb.id, pod);
  }
  for (const c of containers) {
    const pod = bySandbox.get(c.podSandboxId);
    if (!pod || !c.metadata) continue;
    pod.spec.containers.push({
      name: c.metadata.name,
      image: c.image?.image ?? c.imageRef,
      resources: {},
    });
  }
  return podList([...byUid.values()]);
}

/**
 * The runtime's instances of container `name` of pod `uid`, newest first (by
 * attempt, then creation time).
 */
export async function findPodContainers(
  runtime: NodeApiRuntime,
  uid: string,
  name: string,
): Promise<cri.Container[]> {
  const { items } = await runtime.listPodSandbox({});
  const sandboxIds = new Set(items.filter((s) => s.metadata?.uid === uid).map((s) => s.id));
  if (sandboxIds.size === 0) return [];
  const { containers } = await runtime.listContainers({});
  return containers
    .filter((c) => sandboxIds.has(c.podSandboxId) && c.metadata?.name === name)
    .sort(
      (a, b) =>
        (b.metadata?.attempt ?? 0) - (a.metadata?.attempt ?? 0) || b.createdAt - a.createdAt,
    );
}

/** The ready sandbox of pod `uid`, if any. */
export async function findPodSandbox(
  runtime: NodeApiRuntime,
  uid: string,
): Promise<cri.PodSandbox | undefined> {
  const { items } = await runtime.listPodSandbox({});
  return items
    .filter((s) => s.metadata?.uid === uid && s.state === PodSandboxState.SANDBOX_READY)
    .sort((a, b) => b.createdAt - a.createdAt)[0];
}
