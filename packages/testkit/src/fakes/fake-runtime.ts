import {
  CancelledError,
  FailedPreconditionError,
  NotFoundError,
  RealClock,
  UnimplementedError,
  type CallOptions,
  type Clock,
  type ContainerRuntime,
  type ImageService,
  type cri,
} from '@nodeagent/core';

/** A method of the fake: any CRI RuntimeService or ImageService method (camelCase). */
export type FakeRuntimeMethod = keyof ContainerRuntime | keyof ImageService;

/** Options of {@link FakeRuntime}. */
export interface FakeRuntimeOptions {
  /** Source of creation/start/finish times; default the real clock. */
  clock?: Clock;
  /**
   * Emit CRI container events on every state change to open `getContainerEvents`
   * streams, as containerd 2 does (default true). Sandboxes emit events with the
   * sandbox ID as `containerId`.
   */
  autoEvents?: boolean;
  /** `runtimeName` in Version; default `fake`. */
  runtimeName?: string;
}

/** What {@link FakeRuntime.addSandbox} accepts; everything has a default. */
export interface FakeSandboxInput {
  /** Pod UID (metadata.uid and the `io.kubernetes.pod.uid` label); default generated. */
  uid?: string;
  name?: string;
  namespace?: string;
  attempt?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  state?: cri.PodSandboxState;
  /** Pod IP; default `''` (host network). */
  ip?: string;
  /**
   * Network namespace mode reported in the sandbox status (as containerd does);
   * default `NODE` when there is no IP, else `POD`.
   */
  network?: cri.NamespaceMode;
  /** Leave out the `io.kubernetes.pod.uid` label (the UID is then only in metadata). */
  withoutUidLabel?: boolean;
}

/** What {@link FakeRuntime.addContainer} accepts; everything has a default. */
export interface FakeContainerInput {
  name?: string;
  attempt?: number;
  image?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Default `CONTAINER_RUNNING`. */
  state?: cri.ContainerState;
  exitCode?: number;
  reason?: string;
  message?: string;
}

interface SandboxRecord {
  id: string;
  metadata: cri.PodSandboxMetadata;
  state: cri.PodSandboxState;
  createdAt: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtimeHandler: string;
  ip: string;
  network: cri.NamespaceMode;
}

interface ContainerRecord {
  id: string;
  podSandboxId: string;
  metadata: cri.ContainerMetadata;
  image: string;
  imageRef: string;
  state: cri.ContainerState;
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
  message: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  logPath: string;
}

interface Fault {
  errors: Array<{ error: Error; remaining: number }>;
  hung: Set<() => void> | undefined;
}

interface EventStream {
  queue: cri.ContainerEventResponse[];
  wake: (() => void) | undefined;
  failure: Error | undefined;
  ended: boolean;
}

const podUidLabel = 'io.kubernetes.pod.uid';
const msToNs = 1_000_000;

function imageId(name: string): string {
  // FNV-1a, repeated to 64 hex digits: stable, distinct per name.
  let out = '';
  for (let round = 0; out.length < 64; round++) {
    let h = 0x811c9dc5 ^ round;
    for (let i = 0; i < name.length; i++) {
      h ^= name.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    out += h.toString(16).padStart(8, '0');
  }
  return `sha256:${out.slice(0, 64)}`;
}

function matchesLabels(labels: Record<string, string>, selector: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

/**
 * An in-memory CRI runtime (`ContainerRuntime` + `ImageService`) for unit tests.
 *
 * - Sandboxes and containers with states and times from the injected Clock; list
 *   filters by id (prefix, like containerd), state, labels and sandbox.
 * - Test helpers that bypass fault injection: {@link addSandbox}, {@link addContainer},
 *   {@link setContainerState}, {@link exitContainer}, {@link setSandboxState},
 *   {@link deleteContainer}, {@link deleteSandbox}.
 * - Faults per method: {@link failNext}, {@link failAlways}, {@link hang} (released by
 *   the returned function or the call's AbortSignal), {@link clearFaults}; and
 *   {@link callCount}.
 * - A controllable `getContainerEvents` stream: automatic events on state changes,
 *   {@link emitContainerEvent}, {@link breakEventStreams}, {@link endEventStreams}.
 *
 * Streaming and stats methods it does not model reject with `UnimplementedError`.
 */
export class FakeRuntime implements ContainerRuntime, ImageService {
  private readonly clock: Clock;
  private readonly autoEvents: boolean;
  private readonly runtimeName: string;
  private readonly sandboxMap = new Map<string, SandboxRecord>();
  private readonly containerMap = new Map<string, ContainerRecord>();
  private readonly imageMap = new Map<string, cri.Image>();
  private readonly faults = new Map<FakeRuntimeMethod, Fault>();
  private readonly counts = new Map<FakeRuntimeMethod, number>();
  private readonly streams = new Set<EventStream>();
  private nextId = 1;

  constructor(options: FakeRuntimeOptions = {}) {
    this.clock = options.clock ?? new RealClock();
    this.autoEvents = options.autoEvents ?? true;
    this.runtimeName = options.runtimeName ?? 'fake';
  }

  // ---------------------------------------------------------------- faults

  /** The next `times` calls of `method` reject with `error`. */
  failNext(method: FakeRuntimeMethod, error: Error, times = 1): void {
    this.fault(method).errors.push({ error, remaining: times });
  }

  /** Every call of `method` rejects with `error` until {@link clearFaults}. */
  failAlways(method: FakeRuntimeMethod, error: Error): void {
    this.fault(method).errors.push({ error, remaining: Number.POSITIVE_INFINITY });
  }

  /**
   * Calls of `method` hang until the returned function is called (they then proceed
   * normally) or their AbortSignal aborts (they reject with `CancelledError`).
   */
  hang(method: FakeRuntimeMethod): () => void {
    const fault = this.fault(method);
    const waiters = new Set<() => void>();
    fault.hung = waiters;
    return () => {
      if (fault.hung === waiters) fault.hung = undefined;
      for (const wake of waiters) wake();
      waiters.clear();
    };
  }

  /** Removes the faults of `method` (all methods when omitted) and releases hung calls. */
  clearFaults(method?: FakeRuntimeMethod): void {
    const methods = method === undefined ? [...this.faults.keys()] : [method];
    for (const m of methods) {
      const fault = this.faults.get(m);
      if (!fault) continue;
      fault.errors = [];
      const waiters = fault.hung;
      fault.hung = undefined;
      if (waiters) for (const wake of waiters) wake();
    }
  }

  /** How many times `method` was called (including failed and hung calls). */
  callCount(method: FakeRuntimeMethod): number {
    return this.counts.get(method) ?? 0;
  }

  // ---------------------------------------------------------------- test helpers

  /** Adds a sandbox directly (READY unless told); returns its ID. Emits no fault. */
  addSandbox(input: FakeSandboxInput = {}): string {
    const id = `fake-sandbox-${this.nextId++}`;
    const uid = input.uid ?? `pod-uid-${id}`;
    const labels = { ...(input.withoutUidLabel ? {} : { [podUidLabel]: uid }), ...input.labels };
    this.sandboxMap.set(id, {
      id,
      metadata: {
        name: input.name ?? `pod-${id}`,
        namespace: input.namespace ?? 'default',
        uid,
        attempt: input.attempt ?? 0,
      },
      state: input.state ?? 'SANDBOX_READY',
      createdAt: this.nowNs(),
      labels,
      annotations: { ...input.annotations },
      runtimeHandler: '',
      ip: input.ip ?? '',
      network: input.network ?? (input.ip ? 'POD' : 'NODE'),
    });
    this.emitFor(id, id, 'CONTAINER_CREATED_EVENT');
    if ((input.state ?? 'SANDBOX_READY') === 'SANDBOX_READY') {
      this.emitFor(id, id, 'CONTAINER_STARTED_EVENT');
    }
    return id;
  }

  /**
   * Adds a container to `podSandboxId` directly (RUNNING unless told, with the pod UID
   * label of its sandbox); returns its ID.
   */
  addContainer(podSandboxId: string, input: FakeContainerInput = {}): string {
    const sandbox = this.sandboxMap.get(podSandboxId);
    if (!sandbox) throw new NotFoundError(`sandbox ${podSandboxId} not found`);
    const id = `fake-container-${this.nextId++}`;
    const image = input.image ?? 'registry.test/busybox:1';
    this.ensureImage(image);
    const now = this.nowNs();
    const uidLabel = sandbox.labels[podUidLabel];
    const record: ContainerRecord = {
      id,
      podSandboxId,
      metadata: { name: input.name ?? `c-${id}`, attempt: input.attempt ?? 0 },
      image,
      imageRef: imageId(image),
      state: 'CONTAINER_CREATED',
      createdAt: now,
      startedAt: 0,
      finishedAt: 0,
      exitCode: 0,
      reason: '',
      message: '',
      labels: { ...(uidLabel === undefined ? {} : { [podUidLabel]: uidLabel }), ...input.labels },
      annotations: { ...input.annotations },
      logPath: '',
    };
    this.containerMap.set(id, record);
    this.emitFor(podSandboxId, id, 'CONTAINER_CREATED_EVENT');
    const state = input.state ?? 'CONTAINER_RUNNING';
    if (state !== 'CONTAINER_CREATED') {
      this.setContainerState(id, state, {
        ...(input.exitCode === undefined ? {} : { exitCode: input.exitCode }),
        ...(input.reason === undefined ? {} : { reason: input.reason }),
        ...(input.message === undefined ? {} : { message: input.message }),
      });
    }
    return id;
  }

  /**
   * Moves a container to `state`, setting start/finish times from the clock and the
   * exit details for EXITED; emits the matching event (STARTED for RUNNING, STOPPED
   * for EXITED, none for CREATED/UNKNOWN).
   */
  setContainerState(
    id: string,
    state: cri.ContainerState,
    details: { exitCode?: number; reason?: string; message?: string } = {},
  ): void {
    const c = this.container(id);
    const now = this.nowNs();
    c.state = state;
    if (state === 'CONTAINER_RUNNING') {
      c.startedAt = now;
      c.finishedAt = 0;
      c.exitCode = 0;
      c.reason = '';
      c.message = '';
      this.emitFor(c.podSandboxId, id, 'CONTAINER_STARTED_EVENT');
    } else if (state === 'CONTAINER_EXITED') {
      if (c.startedAt === 0) c.startedAt = now;
      c.finishedAt = now;
      c.exitCode = details.exitCode ?? 0;
      c.reason = details.reason ?? (c.exitCode === 0 ? 'Completed' : 'Error');
      c.message = details.message ?? '';
      this.emitFor(c.podSandboxId, id, 'CONTAINER_STOPPED_EVENT');
    } else {
      if (details.reason !== undefined) c.reason = details.reason;
      if (details.message !== undefined) c.message = details.message;
    }
  }

  /** The container's process ends with `exitCode` (reason `Completed`/`Error` unless given). */
  exitContainer(id: string, exitCode = 0, reason?: string): void {
    this.setContainerState(id, 'CONTAINER_EXITED', {
      exitCode,
      ...(reason === undefined ? {} : { reason }),
    });
  }

  /** Sets a sandbox's state (emits STARTED for READY, STOPPED for NOTREADY). */
  setSandboxState(id: string, state: cri.PodSandboxState): void {
    const sb = this.sandbox(id);
    if (sb.state === state) return;
    sb.state = state;
    this.emitFor(
      id,
      id,
      state === 'SANDBOX_READY' ? 'CONTAINER_STARTED_EVENT' : 'CONTAINER_STOPPED_EVENT',
    );
  }

  /** Removes a container whatever its state (emits DELETED). */
  deleteContainer(id: string): void {
    const c = this.container(id);
    this.containerMap.delete(id);
    this.emitFor(c.podSandboxId, id, 'CONTAINER_DELETED_EVENT');
  }

  /** Removes a sandbox and its containers whatever their state (emits DELETED for each). */
  deleteSandbox(id: string): void {
    const sb = this.sandbox(id);
    for (const c of [...this.containerMap.values()]) {
      if (c.podSandboxId === id) this.deleteContainer(c.id);
    }
    const status = this.sandboxStatusOf(sb);
    this.sandboxMap.delete(id);
    this.emit({
      containerId: id,
      containerEventType: 'CONTAINER_DELETED_EVENT',
      createdAt: this.nowNs(),
      podSandboxStatus: status,
      containersStatuses: [],
    });
  }

  /** Snapshot of every sandbox. */
  listSandboxesNow(): cri.PodSandbox[] {
    return [...this.sandboxMap.values()].map((sb) => this.sandboxOf(sb));
  }

  /** Snapshot of every container. */
  listContainersNow(): cri.Container[] {
    return [...this.containerMap.values()].map((c) => this.containerOf(c));
  }

  // ---------------------------------------------------------------- event stream control

  /** Sends `event` to every open `getContainerEvents` stream. */
  emitContainerEvent(event: cri.ContainerEventResponse): void {
    this.emit(event);
  }

  /** Fails every open event stream with `error` (default `UnavailableError`-like Error). */
  breakEventStreams(error: Error = new Error('fake runtime: event stream broken')): void {
    for (const s of this.streams) {
      s.failure = error;
      s.wake?.();
    }
    this.streams.clear();
  }

  /** Ends every open event stream cleanly. */
  endEventStreams(): void {
    for (const s of this.streams) {
      s.ended = true;
      s.wake?.();
    }
    this.streams.clear();
  }

  /** Number of `getContainerEvents` streams currently open. */
  openEventStreams(): number {
    return this.streams.size;
  }

  // ---------------------------------------------------------------- RuntimeService

  version: ContainerRuntime['version'] = (_req, options) =>
    this.call('version', options, () => ({
      version: '0.1.0',
      runtimeName: this.runtimeName,
      runtimeVersion: '0.0.0',
      runtimeApiVersion: 'v1',
    }));

  status: ContainerRuntime['status'] = (_req, options) =>
    this.call('status', options, () => ({
      status: {
        conditions: [
          { type: 'RuntimeReady', status: true, reason: '', message: '' },
          { type: 'NetworkReady', status: true, reason: '', message: '' },
        ],
      },
      info: {},
      runtimeHandlers: [],
      features: null,
    }));

  runPodSandbox: ContainerRuntime['runPodSandbox'] = (req, options) =>
    this.call('runPodSandbox', options, () => {
      const config = req?.config;
      const md = config?.metadata;
      const input: FakeSandboxInput = {
        name: md?.name ?? '',
        namespace: md?.namespace ?? '',
        attempt: md?.attempt ?? 0,
        labels: { ...config?.labels },
        annotations: { ...config?.annotations },
        withoutUidLabel: true,
      };
      if (md?.uid != null) input.uid = md.uid;
      const network = config?.linux?.securityContext?.namespaceOptions?.network ?? 'POD';
      input.network = network;
      // A pod-network sandbox gets an address (never contacted: this runtime is in memory).
      if (network !== 'NODE') input.ip = `10.255.${(this.nextId >> 8) & 255}.${this.nextId & 255}`;
      const id = this.addSandbox(input);
      const sb = this.sandbox(id);
      sb.runtimeHandler = req?.runtimeHandler ?? '';
      return { podSandboxId: id };
    });

  stopPodSandbox: ContainerRuntime['stopPodSandbox'] = (req, options) =>
    this.call('stopPodSandbox', options, () => {
      const id = req?.podSandboxId ?? '';
      const sb = this.sandboxMap.get(id);
      if (!sb) return {};
      for (const c of this.containerMap.values()) {
        if (c.podSandboxId === id && c.state === 'CONTAINER_RUNNING') {
          this.setContainerState(c.id, 'CONTAINER_EXITED', { exitCode: 137, reason: 'Error' });
        }
      }
      this.setSandboxState(id, 'SANDBOX_NOTREADY');
      return {};
    });

  removePodSandbox: ContainerRuntime['removePodSandbox'] = (req, options) =>
    this.call('removePodSandbox', options, () => {
      const id = req?.podSandboxId ?? '';
      const sb = this.sandboxMap.get(id);
      if (!sb) return {};
      if (sb.state === 'SANDBOX_READY') {
        throw new FailedPreconditionError(`sandbox ${id} is still running, stop it first`);
      }
      this.deleteSandbox(id);
      return {};
    });

  podSandboxStatus: ContainerRuntime['podSandboxStatus'] = (req, options) =>
    this.call('podSandboxStatus', options, () => {
      const sb = this.sandbox(req?.podSandboxId ?? '');
      return {
        status: this.sandboxStatusOf(sb),
        info: {},
        containersStatuses: this.containerStatusesOf(sb.id),
        timestamp: this.nowNs(),
      };
    });

  listPodSandbox: ContainerRuntime['listPodSandbox'] = (req, options) =>
    this.call('listPodSandbox', options, () => {
      const f = req?.filter;
      const items: cri.PodSandbox[] = [];
      for (const sb of this.sandboxMap.values()) {
        if (f?.id && !sb.id.startsWith(f.id)) continue;
        if (f?.state?.state != null && sb.state !== f.state.state) continue;
        if (f?.labelSelector && !matchesLabels(sb.labels, f.labelSelector)) continue;
        items.push(this.sandboxOf(sb));
      }
      return { items };
    });

  createContainer: ContainerRuntime['createContainer'] = (req, options) =>
    this.call('createContainer', options, () => {
      const sandboxId = req?.podSandboxId ?? '';
      const sb = this.sandbox(sandboxId);
      if (sb.state !== 'SANDBOX_READY') {
        throw new FailedPreconditionError(`sandbox ${sandboxId} is not ready`);
      }
      const config = req?.config;
      const input: FakeContainerInput = {
        name: config?.metadata?.name ?? '',
        attempt: config?.metadata?.attempt ?? 0,
        labels: { ...config?.labels },
        annotations: { ...config?.annotations },
        state: 'CONTAINER_CREATED',
      };
      if (config?.image?.image != null) input.image = config.image.image;
      const id = this.addContainer(sandboxId, input);
      const record = this.container(id);
      record.logPath = config?.logPath ?? '';
      // CRI containers carry only the labels they were given.
      record.labels = { ...config?.labels };
      return { containerId: id };
    });

  startContainer: ContainerRuntime['startContainer'] = (req, options) =>
    this.call('startContainer', options, () => {
      const c = this.container(req?.containerId ?? '');
      if (c.state !== 'CONTAINER_CREATED') {
        throw new FailedPreconditionError(`container ${c.id} is in state ${c.state}`);
      }
      this.setContainerState(c.id, 'CONTAINER_RUNNING');
      return {};
    });

  stopContainer: ContainerRuntime['stopContainer'] = (req, options) =>
    this.call('stopContainer', options, () => {
      const c = this.container(req?.containerId ?? '');
      if (c.state === 'CONTAINER_RUNNING') {
        this.setContainerState(c.id, 'CONTAINER_EXITED', { exitCode: 137, reason: 'Error' });
      }
      return {};
    });

  removeContainer: ContainerRuntime['removeContainer'] = (req, options) =>
    this.call('removeContainer', options, () => {
      const c = this.containerMap.get(req?.containerId ?? '');
      if (!c) return {};
      if (c.state === 'CONTAINER_RUNNING') {
        throw new FailedPreconditionError(`container ${c.id} is still running, stop it first`);
      }
      this.deleteContainer(c.id);
      return {};
    });

  listContainers: ContainerRuntime['listContainers'] = (req, options) =>
    this.call('listContainers', options, () => {
      const f = req?.filter;
      const containers: cri.Container[] = [];
      for (const c of this.containerMap.values()) {
        if (f?.id && !c.id.startsWith(f.id)) continue;
        if (f?.state?.state != null && c.state !== f.state.state) continue;
        if (f?.podSandboxId && !c.podSandboxId.startsWith(f.podSandboxId)) continue;
        if (f?.labelSelector && !matchesLabels(c.labels, f.labelSelector)) continue;
        containers.push(this.containerOf(c));
      }
      return { containers };
    });

  containerStatus: ContainerRuntime['containerStatus'] = (req, options) =>
    this.call('containerStatus', options, () => ({
      status: this.containerStatusOf(this.container(req?.containerId ?? '')),
      info: {},
    }));

  updateContainerResources: ContainerRuntime['updateContainerResources'] = (req, options) =>
    this.call('updateContainerResources', options, () => {
      this.container(req?.containerId ?? '');
      return {};
    });

  reopenContainerLog: ContainerRuntime['reopenContainerLog'] = (req, options) =>
    this.call('reopenContainerLog', options, () => {
      this.container(req?.containerId ?? '');
      return {};
    });

  execSync: ContainerRuntime['execSync'] = (req, options) =>
    this.call('execSync', options, () => {
      const c = this.container(req?.containerId ?? '');
      if (c.state !== 'CONTAINER_RUNNING') {
        throw new FailedPreconditionError(`container ${c.id} is not running`);
      }
      return { stdout: new Uint8Array(), stderr: new Uint8Array(), exitCode: 0 };
    });

  updateRuntimeConfig: ContainerRuntime['updateRuntimeConfig'] = (_req, options) =>
    this.call('updateRuntimeConfig', options, () => ({}));

  runtimeConfig: ContainerRuntime['runtimeConfig'] = (_req, options) =>
    this.call('runtimeConfig', options, () => ({ linux: null }));

  getContainerEvents: ContainerRuntime['getContainerEvents'] = (_req, options) =>
    this.eventStream(options);

  exec: ContainerRuntime['exec'] = (_req, options) => this.unimplemented('exec', options);
  attach: ContainerRuntime['attach'] = (_req, options) => this.unimplemented('attach', options);
  portForward: ContainerRuntime['portForward'] = (_req, options) =>
    this.unimplemented('portForward', options);
  containerStats: ContainerRuntime['containerStats'] = (_req, options) =>
    this.unimplemented('containerStats', options);
  listContainerStats: ContainerRuntime['listContainerStats'] = (_req, options) =>
    this.unimplemented('listContainerStats', options);
  podSandboxStats: ContainerRuntime['podSandboxStats'] = (_req, options) =>
    this.unimplemented('podSandboxStats', options);
  listPodSandboxStats: ContainerRuntime['listPodSandboxStats'] = (_req, options) =>
    this.unimplemented('listPodSandboxStats', options);
  checkpointContainer: ContainerRuntime['checkpointContainer'] = (_req, options) =>
    this.unimplemented('checkpointContainer', options);
  listMetricDescriptors: ContainerRuntime['listMetricDescriptors'] = (_req, options) =>
    this.unimplemented('listMetricDescriptors', options);
  listPodSandboxMetrics: ContainerRuntime['listPodSandboxMetrics'] = (_req, options) =>
    this.unimplemented('listPodSandboxMetrics', options);
  updatePodSandboxResources: ContainerRuntime['updatePodSandboxResources'] = (_req, options) =>
    this.unimplemented('updatePodSandboxResources', options);
  streamPodSandboxes: ContainerRuntime['streamPodSandboxes'] = () =>
    this.unimplementedStream('streamPodSandboxes');
  streamContainers: ContainerRuntime['streamContainers'] = () =>
    this.unimplementedStream('streamContainers');
  streamContainerStats: ContainerRuntime['streamContainerStats'] = () =>
    this.unimplementedStream('streamContainerStats');
  streamPodSandboxStats: ContainerRuntime['streamPodSandboxStats'] = () =>
    this.unimplementedStream('streamPodSandboxStats');
  streamPodSandboxMetrics: ContainerRuntime['streamPodSandboxMetrics'] = () =>
    this.unimplementedStream('streamPodSandboxMetrics');

  // ---------------------------------------------------------------- ImageService

  listImages: ImageService['listImages'] = (req, options) =>
    this.call('listImages', options, () => {
      const wanted = req?.filter?.image?.image;
      const images = [...this.imageMap.values()].filter(
        (img) => !wanted || img.repoTags.includes(wanted) || img.id === wanted,
      );
      return { images };
    });

  imageStatus: ImageService['imageStatus'] = (req, options) =>
    this.call('imageStatus', options, () => ({
      image: this.findImage(req?.image?.image ?? '') ?? null,
      info: {},
    }));

  pullImage: ImageService['pullImage'] = (req, options) =>
    this.call('pullImage', options, () => ({
      imageRef: this.ensureImage(req?.image?.image ?? '').id,
    }));

  removeImage: ImageService['removeImage'] = (req, options) =>
    this.call('removeImage', options, () => {
      const img = this.findImage(req?.image?.image ?? '');
      if (img) this.imageMap.delete(img.id);
      return {};
    });

  imageFsInfo: ImageService['imageFsInfo'] = (_req, options) =>
    this.call('imageFsInfo', options, () => ({
      imageFilesystems: [
        {
          timestamp: this.nowNs(),
          fsId: { mountpoint: '/var/lib/fake/images' },
          usedBytes: {
            value: [...this.imageMap.values()].reduce((sum, img) => sum + img.size, 0),
          },
          inodesUsed: { value: this.imageMap.size },
        },
      ],
      containerFilesystems: [],
    }));

  streamImages: ImageService['streamImages'] = () => this.unimplementedStream('streamImages');

  // ---------------------------------------------------------------- internals

  private nowNs(): number {
    return this.clock.now() * msToNs;
  }

  private fault(method: FakeRuntimeMethod): Fault {
    let f = this.faults.get(method);
    if (!f) {
      f = { errors: [], hung: undefined };
      this.faults.set(method, f);
    }
    return f;
  }

  /** Applies the method's faults: counts the call, hangs, or throws. */
  private async enter(method: FakeRuntimeMethod, options: CallOptions | undefined): Promise<void> {
    this.counts.set(method, this.callCount(method) + 1);
    const signal = options?.signal;
    const cancelled = (): CancelledError =>
      new CancelledError(`fake runtime: ${method} cancelled`, { operation: method });
    if (signal?.aborted) throw cancelled();
    const fault = this.faults.get(method);
    const hung = fault?.hung;
    if (hung) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          hung.delete(wake);
          reject(cancelled());
        };
        const wake = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        hung.add(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    const next = fault?.errors[0];
    if (fault && next) {
      next.remaining -= 1;
      if (next.remaining <= 0) fault.errors.shift();
      throw next.error;
    }
  }

  private async call<T>(
    method: FakeRuntimeMethod,
    options: CallOptions | undefined,
    fn: () => T,
  ): Promise<T> {
    await this.enter(method, options);
    return fn();
  }

  private async unimplemented(method: FakeRuntimeMethod, options?: CallOptions): Promise<never> {
    await this.enter(method, options);
    throw new UnimplementedError(`fake runtime does not implement ${method}`, {
      operation: method,
    });
  }

  private unimplementedStream(method: FakeRuntimeMethod): AsyncIterable<never> {
    const enter = (): Promise<void> => this.enter(method, undefined);
    return {
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<never>> => {
          await enter();
          throw new UnimplementedError(`fake runtime does not implement ${method}`, {
            operation: method,
          });
        },
      }),
    };
  }

  private eventStream(options: CallOptions | undefined): AsyncIterable<cri.ContainerEventResponse> {
    const signal = options?.signal;
    return {
      [Symbol.asyncIterator]: () => {
        let stream: EventStream | undefined;
        let opening: Promise<void> | undefined;
        const close = (): void => {
          if (stream) {
            stream.ended = true;
            this.streams.delete(stream);
            stream.wake?.();
          }
        };
        const onAbort = (): void => close();
        const open = async (): Promise<void> => {
          await this.enter('getContainerEvents', options);
          stream = { queue: [], wake: undefined, failure: undefined, ended: false };
          this.streams.add(stream);
          signal?.addEventListener('abort', onAbort, { once: true });
        };
        return {
          next: async (): Promise<IteratorResult<cri.ContainerEventResponse>> => {
            if (!stream) {
              opening ??= open();
              try {
                await opening;
              } catch (err) {
                if (signal?.aborted) return { done: true, value: undefined };
                throw err;
              }
            }
            const s = stream;
            if (!s) return { done: true, value: undefined };
            for (;;) {
              const event = s.queue.shift();
              if (event) return { done: false, value: event };
              if (s.failure) {
                const failure = s.failure;
                s.failure = undefined;
                s.ended = true;
                signal?.removeEventListener('abort', onAbort);
                throw failure;
              }
              if (s.ended || signal?.aborted) {
                signal?.removeEventListener('abort', onAbort);
                return { done: true, value: undefined };
              }
              await new Promise<void>((resolve) => {
                s.wake = resolve;
              });
              s.wake = undefined;
            }
          },
          return: (): Promise<IteratorResult<cri.ContainerEventResponse>> => {
            close();
            signal?.removeEventListener('abort', onAbort);
            return Promise.resolve({ done: true, value: undefined });
          },
        };
      },
    };
  }

  private emit(event: cri.ContainerEventResponse): void {
    for (const s of this.streams) {
      s.queue.push(event);
      s.wake?.();
    }
  }

  private emitFor(sandboxId: string, containerId: string, type: cri.ContainerEventType): void {
    if (!this.autoEvents || this.streams.size === 0) return;
    const sb = this.sandboxMap.get(sandboxId);
    const statuses = this.containerStatusesOf(sandboxId);
    this.emit({
      containerId,
      containerEventType: type,
      createdAt: this.nowNs(),
      podSandboxStatus: sb ? this.sandboxStatusOf(sb) : null,
      containersStatuses: statuses,
    });
  }

  private sandbox(id: string): SandboxRecord {
    const sb = this.sandboxMap.get(id);
    if (!sb)
      throw new NotFoundError(`an error occurred when try to find sandbox "${id}": not found`);
    return sb;
  }

  private container(id: string): ContainerRecord {
    const c = this.containerMap.get(id);
    if (!c)
      throw new NotFoundError(`an error occurred when try to find container "${id}": not found`);
    return c;
  }

  private sandboxOf(sb: SandboxRecord): cri.PodSandbox {
    return {
      id: sb.id,
      metadata: { ...sb.metadata },
      state: sb.state,
      createdAt: sb.createdAt,
      labels: { ...sb.labels },
      annotations: { ...sb.annotations },
      runtimeHandler: sb.runtimeHandler,
    };
  }

  private sandboxStatusOf(sb: SandboxRecord): cri.PodSandboxStatus {
    return {
      ...this.sandboxOf(sb),
      network: { ip: sb.ip, additionalIps: [] },
      linux: {
        namespaces: {
          options: {
            network: sb.network,
            pid: 'CONTAINER',
            ipc: 'POD',
            targetId: '',
            usernsOptions: null,
          },
        },
      },
    };
  }

  private imageSpec(image: string, imageRef: string): cri.ImageSpec {
    return { image, annotations: {}, userSpecifiedImage: image, runtimeHandler: '', imageRef };
  }

  private containerOf(c: ContainerRecord): cri.Container {
    return {
      id: c.id,
      podSandboxId: c.podSandboxId,
      metadata: { ...c.metadata },
      image: this.imageSpec(c.image, c.imageRef),
      imageRef: c.imageRef,
      state: c.state,
      createdAt: c.createdAt,
      labels: { ...c.labels },
      annotations: { ...c.annotations },
      imageId: c.imageRef,
    };
  }

  private containerStatusOf(c: ContainerRecord): cri.ContainerStatus {
    return {
      id: c.id,
      metadata: { ...c.metadata },
      state: c.state,
      createdAt: c.createdAt,
      startedAt: c.startedAt,
      finishedAt: c.finishedAt,
      exitCode: c.exitCode,
      image: this.imageSpec(c.image, c.imageRef),
      imageRef: c.imageRef,
      reason: c.reason,
      message: c.message,
      labels: { ...c.labels },
      annotations: { ...c.annotations },
      mounts: [],
      logPath: c.logPath,
      resources: null,
      imageId: c.imageRef,
      user: null,
      stopSignal: 'RUNTIME_DEFAULT',
    };
  }

  private containerStatusesOf(sandboxId: string): cri.ContainerStatus[] {
    const out: cri.ContainerStatus[] = [];
    for (const c of this.containerMap.values()) {
      if (c.podSandboxId === sandboxId) out.push(this.containerStatusOf(c));
    }
    return out;
  }

  private findImage(ref: string): cri.Image | undefined {
    for (const img of this.imageMap.values()) {
      if (img.id === ref || img.repoTags.includes(ref)) return img;
    }
    return undefined;
  }

  private ensureImage(name: string): cri.Image {
    const existing = this.findImage(name);
    if (existing) return existing;
    const img: cri.Image = {
      id: imageId(name),
      repoTags: [name],
      repoDigests: [],
      size: 1_000_000,
      uid: null,
      username: '',
      spec: this.imageSpec(name, ''),
      pinned: false,
    };
    this.imageMap.set(img.id, img);
    return img;
  }
}

/** Creates a {@link FakeRuntime}. */
export function createFakeRuntime(options: FakeRuntimeOptions = {}): FakeRuntime {
  return new FakeRuntime(options);
}
