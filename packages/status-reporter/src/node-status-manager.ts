import type { V1Node } from '@kubernetes/client-node';
import type { KubeApi } from '@nodeagent/kube-client';
import {
  createToken,
  jitter,
  mathRandom,
  noNodePressure,
  noopEventRecorder,
  noopLogger,
  type Clock,
  type ContainerRuntime,
  type EventRecorder,
  type ImageService,
  type InjectionToken,
  type Logger,
  type NodePressureProvider,
  type PlegHealth,
  type Random,
  type Timer,
  type k8s,
} from '@nodeagent/core';
import { goArch, goOs, type MachineInfo, type MachineInfoProvider } from './machine-info.js';
import {
  apiErrorMessage,
  isConflict,
  isNotFound,
  strategicMergePatchOptions,
  toApiJson,
} from './node-api.js';
import { NodeRuntimeState, defaultRuntimeSyncPeriodMs } from './node-runtime-state.js';
import { nodeStatusChanged, nodeStatusPatch } from './node-status-patch.js';
import { buildNodeStatus, defaultEvictionHard, nodeImages } from './node-status-setters.js';
import type { Node, NodeCondition, NodeStatus, Taint } from './node-types.js';

/** Kubelet `nodeStatusUpdateFrequency` default: how often status is computed and compared, in ms. */
export const defaultNodeStatusUpdateFrequencyMs = 10_000;
/** Kubelet `nodeStatusReportFrequency` default: status is written at least this often, in ms. */
export const defaultNodeStatusReportFrequencyMs = 5 * 60_000;
/** Kubelet `nodeStatusUpdateRetry`: update attempts per tick. */
export const nodeStatusUpdateRetry = 5;
/** Kubelet `nodeStatusMaxImages` default. */
export const defaultNodeStatusMaxImages = 50;
/** Kubelet `maxPods` default. */
export const defaultMaxPods = 110;
/** Kubelet `port` default (`status.daemonEndpoints.kubeletEndpoint.Port`). */
export const defaultKubeletPort = 10250;
/** Jitter factor of the status loop (kubelet `wait.JitterUntil(…, 0.04, …)`). */
export const nodeStatusJitterFactor = 0.04;
/** Registration back-off: first wait, in ms (kubelet `registerWithAPIServer`). */
export const registrationInitialBackoffMs = 100;
/** Registration back-off: longest wait, in ms. */
export const registrationMaxBackoffMs = 7_000;

/** Label keys the agent sets on its Node (kubelet default labels it owns). */
export const NodeLabel = {
  hostname: 'kubernetes.io/hostname',
  os: 'kubernetes.io/os',
  arch: 'kubernetes.io/arch',
  betaOs: 'beta.kubernetes.io/os',
  betaArch: 'beta.kubernetes.io/arch',
} as const;

/** Annotation telling the attach/detach controller to manage this node's volumes (kubelet `enableControllerAttachDetach`). */
export const controllerManagedAttachDetachAnnotation =
  'volumes.kubernetes.io/controller-managed-attach-detach';

/** Options of {@link NodeStatusManager}. */
export interface NodeStatusManagerOptions {
  /** The Node's name (kubelet `--hostname-override`, default the host name). */
  nodeName: string;
  /** The agent's API connection. */
  api: Pick<KubeApi, 'core'>;
  /** CRI `Status` (readiness) and `Version` (`nodeInfo.containerRuntimeVersion`). */
  runtime: Pick<ContainerRuntime, 'status' | 'version'>;
  /** CRI `ListImages` (`status.images`). */
  images: Pick<ImageService, 'listImages'>;
  machineInfo: MachineInfoProvider;
  /** PLEG health (Ready is false while unhealthy); omitted: not checked. */
  pleg?: { healthy(): PlegHealth } | undefined;
  /** Memory/disk/PID pressure; default {@link noNodePressure}. */
  pressure?: NodePressureProvider | undefined;
  /** `nodeInfo.kubeletVersion`, e.g. `v1.33.0-nodeagent.0`; default `v0.1.0`. */
  kubeletVersion?: string;
  /** InternalIP (kubelet `--node-ip`); default the machine's first address (default-route interface first). */
  nodeIp?: string | undefined;
  /** Hostname address and `kubernetes.io/hostname`; default the machine's host name. */
  hostname?: string | undefined;
  /** Extra labels set at registration (kubelet `--node-labels`), reconciled on an existing Node. */
  nodeLabels?: Readonly<Record<string, string>>;
  /** Taints set at registration (kubelet `registerWithTaints`). */
  registerWithTaints?: readonly Taint[];
  /** Default 110. */
  maxPods?: number;
  /** Pods per core limit (kubelet `podsPerCore`); default 0 (off). */
  podsPerCore?: number;
  /** Kubelet `kubeReserved`, e.g. `{ cpu: '100m', memory: '256Mi' }`. */
  kubeReserved?: k8s.ResourceList;
  /** Kubelet `systemReserved`. */
  systemReserved?: k8s.ResourceList;
  /** Kubelet `evictionHard`; default memory.available 100Mi, nodefs.available 10 %, nodefs.inodesFree 5 %, imagefs.available 15 %. */
  evictionHard?: Readonly<Record<string, string>>;
  /** Kubelet `nodeStatusUpdateFrequency`, ms; default 10 000. */
  nodeStatusUpdateFrequencyMs?: number;
  /** Kubelet `nodeStatusReportFrequency`, ms; default 300 000. */
  nodeStatusReportFrequencyMs?: number;
  /** Kubelet `nodeStatusMaxImages`; default 50, -1 for all. */
  nodeStatusMaxImages?: number;
  /** `daemonEndpoints.kubeletEndpoint.Port`; default 10250. */
  kubeletPort?: number;
  /** How often the runtime's CRI `Status` is checked, ms; default 5 000. */
  runtimeSyncPeriodMs?: number;
  /** The runtime counts as down when its last good `Status` is older, ms; default 30 000. */
  runtimeDownThresholdMs?: number;
  /** Set the controller-managed attach/detach annotation; default true. */
  controllerAttachDetach?: boolean;
  clock: Clock;
  /** Jitter of the status loop; default `Math.random`. */
  random?: Random;
  logger?: Logger;
  /** Node events (NodeReady, NodeNotReady, NodeHasSufficientMemory…); default none. */
  recorder?: EventRecorder;
}

/** Called when the Node's Ready condition changes, with the new condition. */
export type NodeReadyListener = (ready: boolean, condition: NodeCondition) => void;

interface Settled {
  promise: Promise<void>;
  resolve: () => void;
}

function deferred(): Settled {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function cloneJson<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/**
 * Registers the Node and keeps its status (kubelet `kubelet_node_status.go` with the
 * `nodestatus` setters):
 *
 * - Registration: creates the Node (labels `kubernetes.io/hostname`, `…/os`, `…/arch`,
 *   `beta.kubernetes.io/os|arch`, `nodeLabels`; taints `registerWithTaints`; the full
 *   status); on AlreadyExists reads it and reconciles the labels and annotations the
 *   agent owns; retries with back-off 100 ms doubling to 7 s until registered.
 * - Every `nodeStatusUpdateFrequency` (10 s, 4 % jitter) it reads the Node, computes
 *   the status (addresses, capacity, allocatable, nodeInfo, images, daemon endpoints,
 *   conditions) and writes a strategic merge patch to `nodes/<name>/status` only when
 *   something changed or `nodeStatusReportFrequency` (5 min) passed since the last
 *   write — the Lease is the heartbeat. A failed update is retried up to 5 times per
 *   tick, each time with the Node read fresh.
 * - Ready is False (KubeletNotReady) while the runtime's CRI `Status` has not
 *   succeeded for 30 s (`container runtime is down`), the runtime or its network is
 *   not ready, or the PLEG is unhealthy; the message lists every problem.
 */
export class NodeStatusManager {
  private readonly opts: NodeStatusManagerOptions;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly logger: Logger;
  private readonly recorder: EventRecorder;
  private readonly runtimeState: NodeRuntimeState;
  private readonly updateFrequencyMs: number;
  private readonly reportFrequencyMs: number;
  private machine: MachineInfo | undefined;
  private runtimeName = '';
  private runtimeSynced = false;
  private isRegistered = false;
  private lastReportMs: number | undefined;
  private lastNode: Node | undefined;
  private lastConditions: NodeCondition[] = [];
  private readyCondition: NodeCondition | undefined;
  private readonly readyListeners = new Set<NodeReadyListener>();
  private readonly registeredWaiter = deferred();
  private loopTimer: Timer | undefined;
  private runtimeTimer: Timer | undefined;
  private inFlight: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private running = false;

  constructor(options: NodeStatusManagerOptions) {
    this.opts = options;
    this.clock = options.clock;
    this.random = options.random ?? mathRandom;
    this.logger = (options.logger ?? noopLogger).child({ component: 'node-status' });
    this.recorder = options.recorder ?? noopEventRecorder;
    this.updateFrequencyMs =
      options.nodeStatusUpdateFrequencyMs ?? defaultNodeStatusUpdateFrequencyMs;
    this.reportFrequencyMs =
      options.nodeStatusReportFrequencyMs ?? defaultNodeStatusReportFrequencyMs;
    this.runtimeState = new NodeRuntimeState({
      runtime: options.runtime,
      clock: options.clock,
      pleg: options.pleg,
      logger: this.logger,
      ...(options.runtimeDownThresholdMs !== undefined
        ? { runtimeDownThresholdMs: options.runtimeDownThresholdMs }
        : {}),
    });
  }

  /** Starts the runtime check (every 5 s) and the status loop (first tick at once). Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.runtimeTimer = this.clock.setInterval(() => {
      void this.runtimeState.sync();
    }, this.opts.runtimeSyncPeriodMs ?? defaultRuntimeSyncPeriodMs);
    this.schedule(0);
  }

  /** Stops both loops, aborts a registration back-off, and waits for a tick in progress. */
  async stop(): Promise<void> {
    this.running = false;
    this.abort?.abort(new Error('node status manager stopped'));
    this.loopTimer?.cancel();
    this.loopTimer = undefined;
    this.runtimeTimer?.cancel();
    this.runtimeTimer = undefined;
    await this.inFlight;
  }

  /** Whether the Node has been registered (created or found) by this manager. */
  registered(): boolean {
    return this.isRegistered;
  }

  /** Resolves once the Node is registered. */
  whenRegistered(): Promise<void> {
    return this.registeredWaiter.promise;
  }

  /** Whether the Ready condition last computed is True. */
  ready(): boolean {
    return this.readyCondition?.status === 'True';
  }

  /** The Ready condition last computed (also when it was not written). */
  readyStatus(): NodeCondition | undefined {
    return this.readyCondition ? { ...this.readyCondition } : undefined;
  }

  /** Calls `listener` whenever Ready changes (also on the first computation). Returns the unsubscribe function. */
  onReadyChange(listener: NodeReadyListener): () => void {
    this.readyListeners.add(listener);
    return () => this.readyListeners.delete(listener);
  }

  /** A copy of the Node as last read from or written to the API server; undefined before registration. */
  node(): Node | undefined {
    return this.lastNode ? cloneJson(this.lastNode) : undefined;
  }

  /** Resolves when no tick is in progress. */
  async idle(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  /**
   * One tick (kubelet `syncNodeStatus`): registers the Node if needed, then updates its
   * status. Never rejects.
   */
  async syncNodeStatus(): Promise<void> {
    const signal = this.abort?.signal ?? new AbortController().signal;
    try {
      if (!this.runtimeSynced) {
        await this.runtimeState.sync();
        this.runtimeSynced = true;
      }
      await this.ensureMachineInfo();
      if (!this.isRegistered) await this.registerWithApiServer(signal);
      if (signal.aborted) return;
      await this.updateNodeStatus();
    } catch (err) {
      if (!signal.aborted) {
        this.logger.error('Node status sync failed', { err: apiErrorMessage(err) });
      }
    }
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.loopTimer = this.clock.setTimeout(() => {
      this.loopTimer = undefined;
      const run = this.syncNodeStatus().finally(() => {
        this.inFlight = undefined;
        this.schedule(jitter(this.updateFrequencyMs, nodeStatusJitterFactor, this.random));
      });
      this.inFlight = run;
    }, delayMs);
  }

  private async ensureMachineInfo(): Promise<void> {
    if (this.machine) return;
    try {
      this.machine = await this.opts.machineInfo.read();
    } catch (err) {
      this.logger.error('Error getting machine info', { err: apiErrorMessage(err) });
    }
  }

  private hostname(): string {
    return this.opts.hostname ?? this.machine?.hostname ?? this.opts.nodeName;
  }

  /** The labels the agent owns on its Node. */
  private ownedLabels(): Record<string, string> {
    const os = this.machine?.operatingSystem ?? goOs();
    const arch = this.machine?.architecture ?? goArch();
    return {
      [NodeLabel.hostname]: this.hostname(),
      [NodeLabel.os]: os,
      [NodeLabel.arch]: arch,
      [NodeLabel.betaOs]: os,
      [NodeLabel.betaArch]: arch,
      ...this.opts.nodeLabels,
    };
  }

  private ownedAnnotations(): Record<string, string> {
    return this.opts.controllerAttachDetach === false
      ? {}
      : { [controllerManagedAttachDetachAnnotation]: 'true' };
  }

  private async containerRuntimeVersion(): Promise<string> {
    try {
      const v = await this.opts.runtime.version({}, { timeoutMs: 10_000 });
      this.runtimeName = v.runtimeName;
      return `${v.runtimeName}://${v.runtimeVersion}`;
    } catch {
      return `${this.runtimeName || 'unknown'}://Unknown`;
    }
  }

  private async computeStatus(original: NodeStatus | undefined): Promise<NodeStatus> {
    const [containerRuntimeVersion, images] = await Promise.all([
      this.containerRuntimeVersion(),
      this.opts.images
        .listImages({}, { timeoutMs: 10_000 })
        .then((r) =>
          nodeImages(r.images, this.opts.nodeStatusMaxImages ?? defaultNodeStatusMaxImages),
        )
        .catch((err: unknown) => {
          this.logger.warn('Error getting image list', { err: apiErrorMessage(err) });
          return undefined;
        }),
    ]);
    const status = buildNodeStatus(original, {
      nowMs: this.clock.now(),
      machine: this.machine,
      hostname: this.hostname(),
      nodeIp: this.opts.nodeIp ?? this.machine?.addresses[0],
      maxPods: this.opts.maxPods ?? defaultMaxPods,
      podsPerCore: this.opts.podsPerCore ?? 0,
      kubeReserved: this.opts.kubeReserved,
      systemReserved: this.opts.systemReserved,
      evictionHard: this.opts.evictionHard ?? defaultEvictionHard,
      kubeletPort: this.opts.kubeletPort ?? defaultKubeletPort,
      images,
      runtimeErrors: this.runtimeState.errors(),
      pressure: (this.opts.pressure ?? noNodePressure).pressure(),
      containerRuntimeVersion,
      kubeletVersion: this.opts.kubeletVersion ?? 'v0.1.0',
    });
    this.observeConditions(status.conditions ?? []);
    return status;
  }

  /** Ready listeners and node events (kubelet `recordNodeStatusEvent`) for condition changes. */
  private observeConditions(conditions: NodeCondition[]): void {
    const previous = new Map(this.lastConditions.map((c) => [c.type, c.status]));
    this.lastConditions = conditions.map((c) => ({ ...c }));
    for (const c of conditions) {
      if (previous.get(c.type) === c.status) continue;
      const event = nodeEventFor(c);
      if (event) {
        this.recorder.event(
          { kind: 'Node', name: this.opts.nodeName, uid: this.opts.nodeName },
          'Normal',
          event,
          `Node ${this.opts.nodeName} status is now: ${event}`,
        );
      }
      if (c.type === 'Ready') {
        this.readyCondition = { ...c };
        if (c.status === 'True') this.logger.info('Node became ready');
        else this.logger.warn('Node became not ready', { reason: c.reason, message: c.message });
        for (const l of this.readyListeners) {
          try {
            l(c.status === 'True', { ...c });
          } catch (err) {
            this.logger.error('Ready listener failed', { err: apiErrorMessage(err) });
          }
        }
      }
    }
    const ready = conditions.find((c) => c.type === 'Ready');
    if (ready) this.readyCondition = { ...ready };
  }

  /** Kubelet `registerWithAPIServer`: tries until registered, back-off 100 ms doubling to 7 s. */
  private async registerWithApiServer(signal: AbortSignal): Promise<void> {
    let step = registrationInitialBackoffMs;
    for (;;) {
      if (await this.tryRegister()) {
        this.isRegistered = true;
        this.registeredWaiter.resolve();
        return;
      }
      await this.clock.sleep(step, signal);
      step = Math.min(step * 2, registrationMaxBackoffMs);
    }
  }

  /** Kubelet `tryRegisterWithAPIServer`. */
  private async tryRegister(): Promise<boolean> {
    const node: Node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: this.opts.nodeName,
        labels: this.ownedLabels(),
        annotations: this.ownedAnnotations(),
      },
      spec: this.opts.registerWithTaints?.length
        ? { taints: this.opts.registerWithTaints.map((t) => ({ ...t })) }
        : {},
      status: await this.computeStatus(undefined),
    };
    try {
      const created = await this.opts.api.core.createNode({ body: node as unknown as V1Node });
      this.lastNode = toApiJson<Node>(created);
      this.logger.info('Successfully registered node', { node: this.opts.nodeName });
      return true;
    } catch (err) {
      if (!isConflict(err)) {
        this.logger.error('Unable to register node with API server', {
          node: this.opts.nodeName,
          err: apiErrorMessage(err),
        });
        return false;
      }
    }
    let existing: Node;
    try {
      existing = toApiJson<Node>(await this.opts.api.core.readNode({ name: this.opts.nodeName }));
    } catch (err) {
      this.logger.error('Unable to register node with API server, error getting existing node', {
        node: this.opts.nodeName,
        err: apiErrorMessage(err),
      });
      return false;
    }
    this.logger.info('Node was previously registered', { node: this.opts.nodeName });
    const patch = reconcileMetadata(existing, this.ownedLabels(), this.ownedAnnotations());
    if (patch === undefined) {
      this.lastNode = existing;
      return true;
    }
    try {
      const updated = await this.opts.api.core.patchNode(
        { name: this.opts.nodeName, body: { metadata: patch } },
        strategicMergePatchOptions,
      );
      this.lastNode = toApiJson<Node>(updated);
      return true;
    } catch (err) {
      this.logger.error('Unable to reconcile node labels and annotations', {
        node: this.opts.nodeName,
        err: apiErrorMessage(err),
      });
      return false;
    }
  }

  /** Kubelet `updateNodeStatus`: up to `nodeStatusUpdateRetry` attempts. */
  private async updateNodeStatus(): Promise<void> {
    for (let i = 0; i < nodeStatusUpdateRetry; i++) {
      if (this.abort?.signal.aborted) return;
      try {
        await this.tryUpdateNodeStatus();
        return;
      } catch (err) {
        if (isNotFound(err)) {
          // The Node was deleted: register it again on the next tick.
          this.logger.warn('Node not found; registering it again', { node: this.opts.nodeName });
          this.isRegistered = false;
          return;
        }
        this.logger.warn('Error updating node status, will retry', { err: apiErrorMessage(err) });
      }
    }
    this.logger.error('Unable to update node status', {
      err: 'update node status exceeds retry count',
    });
  }

  /** Kubelet `tryUpdateNodeStatus`: read the Node, compute, write only when needed. */
  private async tryUpdateNodeStatus(): Promise<void> {
    const original = toApiJson<Node>(
      await this.opts.api.core.readNode({ name: this.opts.nodeName }),
    );
    const status = await this.computeStatus(original.status);
    const now = this.clock.monotonicNow();
    const reportDue =
      this.lastReportMs === undefined || now - this.lastReportMs >= this.reportFrequencyMs;
    if (!reportDue && !nodeStatusChanged(original.status, status)) {
      this.lastNode = original;
      return;
    }
    const patch = nodeStatusPatch(original.status, status) ?? { status: {} };
    const updated = await this.opts.api.core.patchNodeStatus(
      { name: this.opts.nodeName, body: patch },
      strategicMergePatchOptions,
    );
    this.lastReportMs = now;
    this.lastNode = toApiJson<Node>(updated);
  }
}

function nodeEventFor(c: NodeCondition): string | undefined {
  const t = c.status === 'True';
  switch (c.type) {
    case 'Ready':
      return t ? 'NodeReady' : 'NodeNotReady';
    case 'MemoryPressure':
      return t ? 'NodeHasInsufficientMemory' : 'NodeHasSufficientMemory';
    case 'DiskPressure':
      return t ? 'NodeHasDiskPressure' : 'NodeHasNoDiskPressure';
    case 'PIDPressure':
      return t ? 'NodeHasInsufficientPID' : 'NodeHasSufficientPID';
    default:
      return undefined;
  }
}

/**
 * The metadata patch that brings an existing Node's agent-owned labels and
 * annotations to the wanted values (kubelet `updateDefaultLabels` and
 * `reconcileCMADAnnotationWithExistingNode`); labels owned by others are left alone.
 */
export function reconcileMetadata(
  existing: Node,
  labels: Readonly<Record<string, string>>,
  annotations: Readonly<Record<string, string>>,
): { labels?: Record<string, string>; annotations?: Record<string, string> } | undefined {
  const changedLabels: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (existing.metadata.labels?.[k] !== v) changedLabels[k] = v;
  }
  const changedAnnotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(annotations)) {
    if (existing.metadata.annotations?.[k] !== v) changedAnnotations[k] = v;
  }
  const out: { labels?: Record<string, string>; annotations?: Record<string, string> } = {};
  if (Object.keys(changedLabels).length > 0) out.labels = changedLabels;
  if (Object.keys(changedAnnotations).length > 0) out.annotations = changedAnnotations;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The node status manager, for DI. */
export const NodeStatusManagerToken: InjectionToken<NodeStatusManager> =
  createToken<NodeStatusManager>('NodeStatusManager');

/** Creates a {@link NodeStatusManager}. */
export function createNodeStatusManager(options: NodeStatusManagerOptions): NodeStatusManager {
  return new NodeStatusManager(options);
}
