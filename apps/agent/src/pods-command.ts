/**
 * `nodeagent pods`: the pods and containers the container runtime has, read straight
 * over CRI (ListPodSandbox, PodSandboxStatus, ListContainers) and grouped by the
 * kubelet's `io.kubernetes.pod.uid` label — what `crictl pods` and `crictl ps` show,
 * in one table.
 */
import type { ContainerRuntime, cri } from '@nodeagent/core';
import { createCriClient } from '@nodeagent/cri-client';
import { checkRuntimeSocket } from './runtime-socket.js';

/** Label the kubelet puts on sandboxes and containers: the pod's UID. */
export const podUidLabel = 'io.kubernetes.pod.uid';
/** Annotation the kubelet puts on containers: the container's restart count. */
export const restartCountAnnotation = 'io.kubernetes.container.restartCount';

/** One container of a listed pod: the newest instance of that container name. */
export interface ListedContainer {
  name: string;
  id: string;
  state: cri.ContainerState;
  image: string;
  /** The restart-count annotation, else the CRI attempt number. */
  restartCount: number;
  /** Creation time, ms since the epoch. */
  createdAtMs: number;
}

/** One pod as the runtime has it. */
export interface ListedPod {
  uid: string;
  name: string;
  namespace: string;
  /** The newest sandbox's ID. */
  sandboxId: string;
  state: cri.PodSandboxState;
  /** Creation time of the newest sandbox, ms since the epoch. */
  createdAtMs: number;
  /** Primary pod IP; `''` for host-network pods or when unknown. */
  ip: string;
  runtimeHandler: string;
  /** The newest instance of each container name, by name. */
  containers: ListedContainer[];
}

const nsToMs = (ns: number): number => Math.floor(ns / 1e6);

function restartCountOf(c: cri.Container): number {
  const annotated = Number.parseInt(c.annotations[restartCountAnnotation] ?? '', 10);
  return Number.isFinite(annotated) ? annotated : (c.metadata?.attempt ?? 0);
}

/**
 * Lists the runtime's pods, newest sandbox per pod UID, with the newest instance of
 * each of its containers. Pods are sorted by namespace and name.
 *
 * @param options.labelSelector lists only sandboxes and containers with these labels.
 */
export async function listRuntimePods(
  runtime: Pick<ContainerRuntime, 'listPodSandbox' | 'listContainers' | 'podSandboxStatus'>,
  options: { labelSelector?: Record<string, string> } = {},
): Promise<ListedPod[]> {
  const filter = options.labelSelector ? { labelSelector: options.labelSelector } : {};
  const [{ items: sandboxes }, { containers }] = await Promise.all([
    runtime.listPodSandbox({ filter }),
    runtime.listContainers({ filter }),
  ]);
  const sandboxUid = new Map<string, string>();
  const newest = new Map<string, cri.PodSandbox>();
  for (const sb of sandboxes) {
    const uid = sb.labels[podUidLabel] ?? sb.metadata?.uid ?? sb.id;
    sandboxUid.set(sb.id, uid);
    const current = newest.get(uid);
    if (!current || sb.createdAt > current.createdAt) newest.set(uid, sb);
  }
  const containersByUid = new Map<string, Map<string, cri.Container>>();
  for (const c of containers) {
    const uid = c.labels[podUidLabel] ?? sandboxUid.get(c.podSandboxId);
    if (uid === undefined || !newest.has(uid)) continue;
    const name = c.metadata?.name ?? c.id;
    let byName = containersByUid.get(uid);
    if (!byName) containersByUid.set(uid, (byName = new Map<string, cri.Container>()));
    const current = byName.get(name);
    if (!current || c.createdAt > current.createdAt) byName.set(name, c);
  }
  const pods = await Promise.all(
    [...newest.entries()].map(async ([uid, sb]): Promise<ListedPod> => {
      let ip = '';
      try {
        const { status } = await runtime.podSandboxStatus({ podSandboxId: sb.id });
        ip = status?.network?.ip ?? '';
      } catch {
        // The sandbox went away between the list and the status: no IP to show.
      }
      const listed = [...(containersByUid.get(uid)?.values() ?? [])]
        .map((c): ListedContainer => ({
          name: c.metadata?.name ?? c.id,
          id: c.id,
          state: c.state,
          image: c.image?.userSpecifiedImage || c.image?.image || c.imageRef,
          restartCount: restartCountOf(c),
          createdAtMs: nsToMs(c.createdAt),
        }))
        .sort((a, b) => a.name.localeCompare(b.name));
      return {
        uid,
        name: sb.metadata?.name ?? sb.id,
        namespace: sb.metadata?.namespace ?? '',
        sandboxId: sb.id,
        state: sb.state,
        createdAtMs: nsToMs(sb.createdAt),
        ip,
        runtimeHandler: sb.runtimeHandler,
        containers: listed,
      };
    }),
  );
  return pods.sort(
    (a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name),
  );
}

/**
 * An age as kubectl prints it (`duration.HumanDuration`): `45s`, `5m12s`, `3h20m`,
 * `4d3h`, `2y100d`.
 */
export function humanAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60 * 2) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 60 * 3) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (h < 24 * 8)
    return h % 24 === 0 ? `${Math.floor(h / 24)}d` : `${Math.floor(h / 24)}d${h % 24}h`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24)}d`;
  if (h < 24 * 365 * 8) {
    const days = Math.floor(h / 24) % 365;
    return days === 0 ? `${Math.floor(h / 24 / 365)}y` : `${Math.floor(h / 24 / 365)}y${days}d`;
  }
  return `${Math.floor(h / 24 / 365)}y`;
}

const stateWord: Record<cri.PodSandboxState, string> = {
  SANDBOX_READY: 'Ready',
  SANDBOX_NOTREADY: 'NotReady',
};
const containerStateWord: Record<cri.ContainerState, string> = {
  CONTAINER_CREATED: 'Created',
  CONTAINER_RUNNING: 'Running',
  CONTAINER_EXITED: 'Exited',
  CONTAINER_UNKNOWN: 'Unknown',
};

function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd((widths[i] ?? 0) + 3)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * Formats pods for the terminal. `table`: POD, NAMESPACE, STATE, CONTAINERS
 * (running/total — the runtime knows nothing of readiness probes, so "ready" here
 * means running), RESTARTS (sum over containers), AGE, IP. `wide` adds the pod ID
 * (sandbox), the UID, the runtime handler and the containers with their states.
 * `json`: the {@link ListedPod} objects.
 *
 * @param nowMs the current time, for ages.
 */
export function formatPods(
  pods: readonly ListedPod[],
  output: 'table' | 'wide' | 'json',
  nowMs: number,
): string {
  if (output === 'json') return `${JSON.stringify(pods, null, 2)}\n`;
  const header = ['POD', 'NAMESPACE', 'STATE', 'CONTAINERS', 'RESTARTS', 'AGE', 'IP'];
  if (output === 'wide') header.push('POD ID', 'UID', 'RUNTIME', 'CONTAINER STATES');
  const rows = [header];
  for (const pod of pods) {
    const running = pod.containers.filter((c) => c.state === 'CONTAINER_RUNNING').length;
    const restarts = pod.containers.reduce((sum, c) => sum + c.restartCount, 0);
    const row = [
      pod.name,
      pod.namespace,
      stateWord[pod.state],
      `${running}/${pod.containers.length}`,
      String(restarts),
      humanAge(nowMs - pod.createdAtMs),
      pod.ip || '-',
    ];
    if (output === 'wide') {
      row.push(
        pod.sandboxId.slice(0, 13),
        pod.uid,
        pod.runtimeHandler || '(default)',
        pod.containers.map((c) => `${c.name}=${containerStateWord[c.state]}`).join(',') || '-',
      );
    }
    rows.push(row);
  }
  if (pods.length === 0) return 'No pods found.\n';
  return `${table(rows)}\n`;
}

/** Options of {@link runPodsCommand}. */
export interface RunPodsCommandOptions {
  /** CRI endpoint, e.g. `unix:///run/containerd/containerd.sock`. */
  endpoint: string;
  output: 'table' | 'wide' | 'json';
  out: { write(text: string): unknown };
  /** Current time for ages, ms since the epoch. Default `Date.now()`. */
  now?: () => number;
  /** Only sandboxes and containers with these labels. */
  labelSelector?: Record<string, string>;
}

/**
 * `nodeagent pods`: connects to the runtime, lists and prints its pods, closes the
 * connection. Rejects with the runtime's typed error (e.g. `UnavailableError` when
 * the socket is missing).
 */
export async function runPodsCommand(options: RunPodsCommandOptions): Promise<ListedPod[]> {
  await checkRuntimeSocket(options.endpoint);
  const client = createCriClient({ endpoint: options.endpoint });
  try {
    await client.connect({ timeoutMs: 10_000 });
    const pods = await listRuntimePods(
      client,
      options.labelSelector ? { labelSelector: options.labelSelector } : {},
    );
    options.out.write(formatPods(pods, options.output, (options.now ?? Date.now)()));
    return pods;
  } finally {
    client.close();
  }
}
