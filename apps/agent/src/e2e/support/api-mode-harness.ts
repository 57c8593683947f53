/**
 * Shared harness for the end-to-end tests of the agent in API-server mode: testkit's
 * strict API server in this process (TLS, the agent authenticated by a client
 * certificate for `system:node:<node>`), the real `nodeagent` process
 * (apps/agent/dist/cli.js) spawned against the real containerd of the vitest global
 * setup, and CRI access to that containerd to see what the agent did.
 *
 * Pods are created and deleted through the API server's store: every change reaches
 * the agent through its list/watch, as from kubectl; what the agent reports is read
 * back from the store.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import type { cri as api } from '@nodeagent/core';
import {
  freeLoopbackPort,
  startTestApiServer,
  type ResourceInfo,
  type TestApiServer,
} from '@nodeagent/testkit';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { writeSysctlStandIn } from '../../kernel-defaults.js';
import { spawnAgent, writeApiModeAgentConfig, writeNodeKubeconfig } from './agent-process.js';

/** A JSON object as the store hands it out. */
export type Json = Record<string, unknown>;

/** `v` when it is an object, `{}` otherwise (for reading optional status fields). */
export const obj = (v: unknown): Json => (v !== null && typeof v === 'object' ? (v as Json) : {});

/** `metadata.uid` of a pod ('' when none). */
export function uidOf(pod: Json | undefined): string {
  const uid = obj(pod?.metadata).uid;
  return typeof uid === 'string' ? uid : '';
}

/** The condition of `type` in a pod or node status. */
export function condition(status: Json, type: string): Json | undefined {
  return (Array.isArray(status.conditions) ? status.conditions : [])
    .map(obj)
    .find((c) => c.type === type);
}

/** The container status named `name` (`initContainerStatuses` with `init`). */
export function containerStatus(status: Json, name: string, init = false): Json | undefined {
  const list = init ? status.initContainerStatuses : status.containerStatuses;
  return (Array.isArray(list) ? list : []).map(obj).find((c) => c.name === name);
}

/** What a test file asks of the harness. */
export interface ApiModeHarnessOptions {
  /** The node name (`--hostname-override`); unique per test file. */
  nodeName: string;
  /** Namespaces created in the API server for the file's pods. */
  namespaces: readonly string[];
}

/** The running harness. */
export interface ApiModeHarness {
  readonly server: TestApiServer;
  readonly cri: CriClient;
  readonly nodeName: string;
  readonly pods: ResourceInfo;
  readonly nodes: ResourceInfo;
  readonly events: ResourceInfo;
  /** The agent process, undefined when stopped. */
  readonly agent: ChildProcess | undefined;
  /** Spawns the agent (it must not be running). */
  startAgent(): void;
  /** Stops the agent (SIGTERM by default) and waits for it to exit. */
  stopAgent(signal?: NodeJS.Signals): Promise<void>;
  /** Polls `fn` every 200 ms until it returns a value (not undefined/false); the agent log tail on timeout. */
  waitFor<T>(
    what: string,
    fn: () => T | undefined | false | Promise<T | undefined | false>,
    timeoutMs?: number,
  ): Promise<T>;
  /** Creates a host-network pod bound to the node (grace 3 s unless the spec says otherwise). */
  createPod(ns: string, name: string, spec: Json): Json;
  getPod(ns: string, name: string): Json | undefined;
  podStatus(ns: string, name: string): Json;
  /** Events in `ns` whose involvedObject has this name (and UID when given). */
  eventsFor(ns: string, name: string, uid?: string): Json[];
  /** A busybox container that sleeps for an hour. */
  sleeper(name: string, extra?: Json): Json;
  /** The runtime's containers of a pod UID, newest first. */
  containersOf(uid: string): Promise<api.Container[]>;
  /** The runtime's sandboxes of a pod UID. */
  sandboxesOf(uid: string): Promise<api.PodSandbox[]>;
  /** The node's condition of `type`. */
  nodeCondition(type: string): Json | undefined;
  /** Mount points under the agent's root directory (its pods' tmpfs volumes). */
  agentMounts(): string[];
  /**
   * Deletes every pod of `ns` (grace 0) and waits until the agent tore them down: no
   * container of the namespace and no mount under its root left. A timeout is only
   * warned about (used in afterAll, before `close`).
   */
  deletePodsAndWait(ns: string, timeoutMs?: number): Promise<void>;
  /** Stops the agent, removes every sandbox of the harness namespaces, stops the server. */
  close(): Promise<void>;
}

/** Starts the API server and the agent; resolves once the Node is registered. */
export async function startApiModeHarness(options: ApiModeHarnessOptions): Promise<ApiModeHarness> {
  const env = realRuntime();
  const { nodeName } = options;
  const workDir = mkdtempSync(join(tmpdir(), `na-e2e-${nodeName}-`));
  const manifestDir = join(workDir, 'manifests');
  mkdirSync(manifestDir);
  const logFile = join(workDir, 'agent.log');
  writeFileSync(logFile, '');
  await writeSysctlStandIn(join(workDir, 'proc-sys'));
  const server = await startTestApiServer({ tls: true, bookmarkIntervalMs: 5_000 });
  const pods = server.store.resource('pods');
  const nodes = server.store.resource('nodes');
  const events = server.store.resource('events');
  const namespaces = server.store.resource('namespaces');
  for (const ns of options.namespaces)
    server.store.create(namespaces, '', { metadata: { name: ns } });
  const kubeconfig = writeNodeKubeconfig(server, workDir, nodeName);
  const nodeApiPort = await freeLoopbackPort();
  // The node API trusts the API server's kubelet client certificate, as a kubelet whose
  // clientCAFile is the cluster CA: `pods/log` through the API server reaches the agent.
  const clientCaFile = join(workDir, 'kubelet-client-ca.crt');
  writeFileSync(clientCaFile, server.kubeletClientCaPem);
  const config = writeApiModeAgentConfig({ workDir, manifestDir, env, nodeApiPort, clientCaFile });
  const cri = createCriClient({ endpoint: env.criEndpoint });
  let agent: ChildProcess | undefined;

  const startAgent = (): void => {
    if (agent && agent.exitCode === null) throw new Error('the agent is already running');
    // Kernel tunables go to a stand-in for /proc/sys: tests never change the host's.
    agent = spawnAgent(
      [
        '--config',
        config,
        '--kubeconfig',
        kubeconfig,
        '--hostname-override',
        nodeName,
        '--node-ip',
        '127.0.0.1',
        '--root-dir',
        join(workDir, 'root'),
        '--v',
        '4',
      ],
      { workDir, logFile },
    );
  };

  const agentMounts = (): string[] => {
    const rootDir = join(workDir, 'root');
    return readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${rootDir}/`));
  };

  const stopAgent = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const child = agent;
    agent = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
  };

  const waitFor = async <T>(
    what: string,
    fn: () => T | undefined | false | Promise<T | undefined | false>,
    timeoutMs = 30_000,
  ): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const v = await fn();
        if (v !== undefined && v !== false) return v;
      } catch (err) {
        last = err;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const lines = readFileSync(logFile, 'utf8').split('\n');
    const tail = lines.slice(-25).join('\n');
    // Warnings and errors from anywhere in the run, and the pods' status as the API
    // server has it, so that a CI failure says why without the whole log.
    const notable = lines
      .filter((l) => /"level":"(warn|error)"|Pod rejected at admission/.test(l))
      .slice(-15)
      .join('\n');
    const podPhases = server.store
      .list(pods, '')
      .map((p) => {
        const m = p.metadata as Json | undefined;
        const st = p.status as Json | undefined;
        const text = (v: unknown): string => (typeof v === 'string' ? v : '');
        const reason = text(st?.reason);
        return `${text(m?.namespace)}/${text(m?.name)}: ${text(st?.phase) || 'Pending'}${reason ? ` (${reason})` : ''}`;
      })
      .join(', ');
    throw new Error(
      `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}\npods: ${podPhases}\nagent warnings and errors:\n${notable}\nagent log tail:\n${tail}`,
    );
  };

  const getPod = (ns: string, name: string): Json | undefined =>
    server.store.tryGet(pods, ns, name);

  const harness: ApiModeHarness = {
    server,
    cri,
    nodeName,
    pods,
    nodes,
    events,
    get agent() {
      return agent;
    },
    startAgent,
    stopAgent,
    waitFor,
    createPod: (ns, name, spec) =>
      server.store.create(pods, ns, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: ns },
        spec: { nodeName, hostNetwork: true, terminationGracePeriodSeconds: 3, ...spec },
      }),
    getPod,
    podStatus: (ns, name) => obj(getPod(ns, name)?.status),
    eventsFor: (ns, name, uid) =>
      server.store.list(events, ns).filter((e) => {
        const io = obj(e.involvedObject);
        return io.name === name && (uid === undefined || io.uid === uid);
      }),
    sleeper: (name, extra = {}) => ({
      name,
      image: env.busyboxImage,
      command: ['sleep', '3600'],
      ...extra,
    }),
    containersOf: async (uid) => {
      const { containers } = await cri.listContainers({
        filter: { labelSelector: { 'io.kubernetes.pod.uid': uid } },
      });
      return containers.sort((a, b) => b.createdAt - a.createdAt);
    },
    sandboxesOf: async (uid) => {
      const { items } = await cri.listPodSandbox({
        filter: { labelSelector: { 'io.kubernetes.pod.uid': uid } },
      });
      return items;
    },
    nodeCondition: (type) => condition(obj(server.store.tryGet(nodes, '', nodeName)?.status), type),
    agentMounts,
    deletePodsAndWait: async (ns, timeoutMs = 30_000) => {
      if (!agent) return;
      for (const p of server.store.list(pods, ns)) {
        try {
          server.store.delete(pods, ns, String(obj(p.metadata).name), { gracePeriodSeconds: 0 });
        } catch {
          // already gone
        }
      }
      await waitFor(
        `every pod of ${ns} torn down`,
        async () => {
          const { containers } = await cri.listContainers({
            filter: { labelSelector: { 'io.kubernetes.pod.namespace': ns } },
          });
          return containers.length === 0 && agentMounts().length === 0;
        },
        timeoutMs,
      ).catch((err: unknown) => console.warn(String(err)));
    },
    close: async () => {
      await stopAgent();
      // The agent leaves pods running when it stops: remove this file's (by namespace;
      // other suites sharing the containerd use their own namespaces).
      const { items } = await cri.listPodSandbox({});
      for (const sb of items) {
        if (!options.namespaces.includes(sb.labels['io.kubernetes.pod.namespace'] ?? '')) continue;
        const { containers } = await cri.listContainers({ filter: { podSandboxId: sb.id } });
        for (const c of containers)
          await cri.removeContainer({ containerId: c.id }).catch(() => {});
        await cri.stopPodSandbox({ podSandboxId: sb.id }).catch(() => {});
        await cri.removePodSandbox({ podSandboxId: sb.id }).catch(() => {});
      }
      cri.close();
      await server.stop();
      if (process.env.NODEAGENT_E2E_KEEP_LOGS) console.log(`e2e work dir kept: ${workDir}`);
      else rmSync(workDir, { recursive: true, force: true });
    },
  };
  startAgent();
  try {
    await waitFor('the Node to register', () => server.store.tryGet(nodes, '', nodeName), 30_000);
  } catch (err) {
    await harness.close();
    throw err;
  }
  return harness;
}
