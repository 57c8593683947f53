import { mkdir, rmdir, statfs, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { status as grpcStatus, type Server } from '@grpc/grpc-js';
import { RealClock, type Clock, type Timer } from '@nodeagent/core';
import { csiDescriptor, identityMethods, nodeMethods } from './generated/csi-descriptor.js';
import {
  pluginRegistrationDescriptor,
  registrationMethods,
} from './generated/pluginregistration-descriptor.js';
import { GrpcFailure, serveUnix, shutdownUnix, type UnaryHandler } from './grpc-service.js';
import { systemMounter, type TestCsiMounter } from './mounter.js';

/** The CSI RPCs the test driver serves, by their CSI names. */
export type TestCsiRpc =
  | 'GetPluginInfo'
  | 'GetPluginCapabilities'
  | 'Probe'
  | 'NodeStageVolume'
  | 'NodeUnstageVolume'
  | 'NodePublishVolume'
  | 'NodeUnpublishVolume'
  | 'NodeGetVolumeStats'
  | 'NodeExpandVolume'
  | 'NodeGetCapabilities'
  | 'NodeGetInfo';

/** A gRPC status code, by number or by its grpc-js name (`'UNAVAILABLE'`). */
export type TestCsiStatus = grpcStatus | keyof typeof grpcStatus;

/** One RPC the driver answered: its name, decoded request and the status code it returned (0 = OK). */
export interface TestCsiCall {
  readonly rpc: TestCsiRpc;
  readonly request: Readonly<Record<string, unknown>>;
  readonly code: number;
}

/** What the registration server answers to GetInfo; fields override the defaults. */
export interface TestPluginInfo {
  /** Default `CSIPlugin`. */
  type?: string;
  /** Default the driver name. */
  name?: string;
  /** Default the driver's socket path. */
  endpoint?: string;
  /** Default `['1.0.0']`. */
  supportedVersions?: string[];
}

/** Options of {@link startTestCsiDriver}. */
export interface TestCsiDriverOptions {
  /** The CSI driver name, e.g. `hostpath.csi.test`. */
  name: string;
  /**
   * The driver's own directory: its socket (`<dir>/csi.sock`) and the backing
   * directories of its volumes (`<dir>/volumes/<volumeId>`). Keep it short: unix
   * socket paths are limited to 107 bytes.
   */
  dir: string;
  /**
   * The agent's plugin registration directory. When set, a registration server (the
   * role of node-driver-registrar) listens on `<registrationDir>/<name>-reg.sock`.
   */
  registrationDir?: string;
  /** File name of the registration socket; default `<name>-reg.sock` (node-driver-registrar's). */
  registrationSocketName?: string;
  /** Whether the driver has STAGE_UNSTAGE_VOLUME; default true. */
  stageUnstage?: boolean;
  /** NodeGetInfo node id; default `test-node`. */
  nodeId?: string;
  /** NodeGetInfo max volumes (0 = unlimited); default 0. */
  maxVolumesPerNode?: number;
  /** NodeGetInfo accessible topology segments; default none. */
  topology?: Record<string, string>;
  /** GetPluginInfo vendor version; default `0.1.0`. */
  vendorVersion?: string;
  /** Overrides of the registration GetInfo reply; `Buffer` sends those raw bytes (a malformed reply). */
  pluginInfo?: TestPluginInfo | Buffer;
  /** Mount operations; default real `mount --bind` / `umount` (needs root). */
  mounter?: TestCsiMounter;
  /** Clock for {@link TestCsiDriver.delay}; default the real clock. */
  clock?: Clock;
}

/** A running test CSI driver. */
export interface TestCsiDriver {
  /** The driver name. */
  readonly name: string;
  /** The driver's CSI socket path. */
  readonly endpoint: string;
  /** The registration socket path, when a registration directory was given. */
  readonly registrationSocket: string | undefined;
  /** Where volume `<id>` lives: `<dir>/volumes/<id>`. */
  backingDir(volumeId: string): string;
  /** Every CSI call answered, in order. */
  readonly calls: TestCsiCall[];
  /** Every NotifyRegistrationStatus received from the agent, in order. */
  readonly registrationStatus: Array<{ pluginRegistered: boolean; error: string }>;
  /** Number of GetInfo calls received on the registration socket. */
  readonly getInfoCalls: () => number;
  /** The next `times` calls of `rpc` fail with `code` (default once). */
  failNext(rpc: TestCsiRpc, code: TestCsiStatus, times?: number): void;
  /** Every call of `rpc` waits `ms` before it is handled; `Infinity` hangs it until {@link clearFaults} or stop. 0 clears. */
  delay(rpc: TestCsiRpc, ms: number): void;
  /** Clears failures and delays, and releases hanging calls. */
  clearFaults(): void;
  /** Switches the STAGE_UNSTAGE_VOLUME capability. */
  setStageUnstage(enabled: boolean): void;
  /** Paths this driver has mounted and not unmounted yet. */
  mounts(): string[];
  /** Stops the registration server and removes its socket (the agent should unregister the driver). */
  removeRegistration(): Promise<void>;
  /** Unmounts everything it mounted, stops both servers and removes their sockets. */
  stop(): Promise<void>;
}

const volumeIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function checkVolumeId(id: unknown): string {
  if (typeof id !== 'string' || id === '') {
    throw new GrpcFailure(grpcStatus.INVALID_ARGUMENT, 'volume_id is required');
  }
  if (!volumeIdPattern.test(id) || id.includes('..')) {
    throw new GrpcFailure(
      grpcStatus.INVALID_ARGUMENT,
      `volume_id "${id}" must not contain path characters (letters, digits, '.', '_', '-' only)`,
    );
  }
  return id;
}

function checkPath(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new GrpcFailure(grpcStatus.INVALID_ARGUMENT, `${field} is required`);
  }
  if (!isAbsolute(value) || value.split('/').includes('..')) {
    throw new GrpcFailure(
      grpcStatus.INVALID_ARGUMENT,
      `${field} "${value}" must be an absolute path`,
    );
  }
  return value;
}

function checkCapability(value: unknown): { readonly: boolean } {
  const cap = value as {
    block: unknown;
    mount: unknown;
    accessMode: { mode: string } | null;
  } | null;
  if (!cap) throw new GrpcFailure(grpcStatus.INVALID_ARGUMENT, 'volume_capability is required');
  if (cap.block) {
    throw new GrpcFailure(grpcStatus.INVALID_ARGUMENT, 'block volumes are not supported');
  }
  if (!cap.mount)
    throw new GrpcFailure(grpcStatus.INVALID_ARGUMENT, 'access_type mount is required');
  if (!cap.accessMode || cap.accessMode.mode === 'UNKNOWN') {
    throw new GrpcFailure(grpcStatus.INVALID_ARGUMENT, 'access_mode is required');
  }
  const ro =
    cap.accessMode.mode === 'SINGLE_NODE_READER_ONLY' ||
    cap.accessMode.mode === 'MULTI_NODE_READER_ONLY';
  return { readonly: ro };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function statusNumber(code: TestCsiStatus): number {
  return typeof code === 'number' ? code : grpcStatus[code];
}

/**
 * Starts a small hostpath-style CSI driver (Identity + Node) on `<dir>/csi.sock`:
 * volumes are directories under `<dir>/volumes`; NodeStageVolume bind-mounts the
 * volume's directory on the staging path, NodePublishVolume bind-mounts the staging
 * path (or, without STAGE_UNSTAGE_VOLUME, the volume's directory) on the target path,
 * Unpublish/Unstage unmount and remove the mount point directory. All calls are
 * idempotent as the CSI spec requires. Volume ids with path characters are refused
 * with INVALID_ARGUMENT. With `registrationDir` it also registers itself the way
 * node-driver-registrar does. Failures and delays are switchable per RPC.
 */
export async function startTestCsiDriver(options: TestCsiDriverOptions): Promise<TestCsiDriver> {
  const mounter = options.mounter ?? systemMounter;
  const clock = options.clock ?? new RealClock();
  const endpoint = join(options.dir, 'csi.sock');
  const volumesDir = join(options.dir, 'volumes');
  await mkdir(volumesDir, { recursive: true });
  let stageUnstage = options.stageUnstage ?? true;
  const calls: TestCsiCall[] = [];
  const registrationStatus: Array<{ pluginRegistered: boolean; error: string }> = [];
  let getInfoCalls = 0;
  const failures = new Map<TestCsiRpc, Array<number>>();
  const delays = new Map<TestCsiRpc, number>();
  const waiting = new Set<{ release: () => void; timer: Timer | undefined }>();
  /** Mount point → kind, in mount order. */
  const mounted = new Map<string, 'staging' | 'target'>();
  const backingDir = (id: string): string => join(volumesDir, id);

  async function ensureBacking(id: string): Promise<string> {
    const dir = backingDir(id);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  async function isMounted(path: string): Promise<boolean> {
    return mounted.has(path) || (await mounter.isMounted(path));
  }

  async function unmountAndRemove(path: string): Promise<void> {
    if (await isMounted(path)) await mounter.unmount(path);
    mounted.delete(path);
    try {
      await rmdir(path);
    } catch {
      // not there, or not empty (not ours to remove)
    }
  }

  const node: Record<string, (req: Record<string, unknown>) => unknown> = {
    getPluginInfo: () => ({
      name: options.name,
      vendorVersion: options.vendorVersion ?? '0.1.0',
      manifest: { driver: 'nodeagent testkit' },
    }),
    getPluginCapabilities: () => ({
      capabilities: options.topology
        ? [{ service: { type: 'VOLUME_ACCESSIBILITY_CONSTRAINTS' } }]
        : [],
    }),
    probe: () => ({ ready: { value: true } }),
    nodeGetInfo: () => ({
      nodeId: options.nodeId ?? 'test-node',
      maxVolumesPerNode: options.maxVolumesPerNode ?? 0,
      ...(options.topology ? { accessibleTopology: { segments: options.topology } } : {}),
    }),
    nodeGetCapabilities: () => ({
      capabilities: [
        ...(stageUnstage ? [{ rpc: { type: 'STAGE_UNSTAGE_VOLUME' } }] : []),
        { rpc: { type: 'GET_VOLUME_STATS' } },
        { rpc: { type: 'EXPAND_VOLUME' } },
      ],
    }),
    nodeStageVolume: async (req) => {
      if (!stageUnstage) {
        throw new GrpcFailure(grpcStatus.UNIMPLEMENTED, 'STAGE_UNSTAGE_VOLUME is switched off');
      }
      const id = checkVolumeId(req.volumeId);
      const staging = checkPath('staging_target_path', req.stagingTargetPath);
      checkCapability(req.volumeCapability);
      const source = await ensureBacking(id);
      await mkdir(staging, { recursive: true });
      if (await isMounted(staging)) return {};
      await mounter.bind(source, staging, false);
      mounted.set(staging, 'staging');
      return {};
    },
    nodeUnstageVolume: async (req) => {
      if (!stageUnstage) {
        throw new GrpcFailure(grpcStatus.UNIMPLEMENTED, 'STAGE_UNSTAGE_VOLUME is switched off');
      }
      checkVolumeId(req.volumeId);
      const staging = checkPath('staging_target_path', req.stagingTargetPath);
      await unmountAndRemove(staging);
      return {};
    },
    nodePublishVolume: async (req) => {
      const id = checkVolumeId(req.volumeId);
      const target = checkPath('target_path', req.targetPath);
      const { readonly: roMode } = checkCapability(req.volumeCapability);
      let source: string;
      if (stageUnstage) {
        const staging = checkPath('staging_target_path', req.stagingTargetPath);
        if (!(await isMounted(staging))) {
          throw new GrpcFailure(
            grpcStatus.FAILED_PRECONDITION,
            `volume ${id} is not staged at ${staging}`,
          );
        }
        source = staging;
      } else {
        source = await ensureBacking(id);
      }
      await mkdir(target, { recursive: true });
      if (await isMounted(target)) return {};
      await mounter.bind(source, target, req.readonly === true || roMode);
      mounted.set(target, 'target');
      return {};
    },
    nodeUnpublishVolume: async (req) => {
      checkVolumeId(req.volumeId);
      const target = checkPath('target_path', req.targetPath);
      await unmountAndRemove(target);
      return {};
    },
    nodeGetVolumeStats: async (req) => {
      checkVolumeId(req.volumeId);
      const path = checkPath('volume_path', req.volumePath);
      if (!(await exists(path))) {
        throw new GrpcFailure(grpcStatus.NOT_FOUND, `volume path ${path} does not exist`);
      }
      const s = await statfs(path);
      return {
        usage: [
          {
            unit: 'BYTES',
            total: s.blocks * s.bsize,
            available: s.bavail * s.bsize,
            used: (s.blocks - s.bfree) * s.bsize,
          },
          { unit: 'INODES', total: s.files, available: s.ffree, used: s.files - s.ffree },
        ],
        volumeCondition: { abnormal: false, message: 'ok' },
      };
    },
    nodeExpandVolume: (req) => {
      checkVolumeId(req.volumeId);
      checkPath('volume_path', req.volumePath);
      const range = req.capacityRange as { requiredBytes: number } | null;
      return { capacityBytes: range?.requiredBytes ?? 0 };
    },
  };

  async function applyDelay(rpc: TestCsiRpc): Promise<void> {
    const ms = delays.get(rpc);
    if (!ms) return;
    await new Promise<void>((resolve) => {
      const entry: { release: () => void; timer: Timer | undefined } = {
        release: () => {
          entry.timer?.cancel();
          waiting.delete(entry);
          resolve();
        },
        timer: undefined,
      };
      waiting.add(entry);
      if (Number.isFinite(ms)) entry.timer = clock.setTimeout(entry.release, ms);
    });
  }

  const handlers: Record<string, UnaryHandler> = {};
  for (const [name, fn] of Object.entries(node)) {
    const rpc = (name.charAt(0).toUpperCase() + name.slice(1)) as TestCsiRpc;
    handlers[name] = async (request) => {
      await applyDelay(rpc);
      const pending = failures.get(rpc);
      const code = pending?.shift();
      if (pending && pending.length === 0) failures.delete(rpc);
      if (code !== undefined) {
        calls.push({ rpc, request, code });
        throw new GrpcFailure(code, `injected failure of ${rpc}`);
      }
      try {
        const reply = await fn(request);
        calls.push({ rpc, request, code: 0 });
        return reply;
      } catch (err) {
        calls.push({
          rpc,
          request,
          code: err instanceof GrpcFailure ? err.code : grpcStatus.INTERNAL,
        });
        throw err;
      }
    };
  }
  const server = await serveUnix(endpoint, csiDescriptor, [identityMethods, nodeMethods], handlers);

  let registration: { server: Server; socket: string } | undefined;
  if (options.registrationDir !== undefined) {
    await mkdir(options.registrationDir, { recursive: true });
    const socket = join(
      options.registrationDir,
      options.registrationSocketName ?? `${options.name}-reg.sock`,
    );
    const info = options.pluginInfo;
    const regServer = await serveUnix(socket, pluginRegistrationDescriptor, [registrationMethods], {
      getInfo: () => {
        getInfoCalls++;
        if (Buffer.isBuffer(info)) return info;
        return {
          type: info?.type ?? 'CSIPlugin',
          name: info?.name ?? options.name,
          endpoint: info?.endpoint ?? endpoint,
          supportedVersions: info?.supportedVersions ?? ['1.0.0'],
        };
      },
      notifyRegistrationStatus: (req) => {
        registrationStatus.push({
          pluginRegistered: req.pluginRegistered === true,
          error: typeof req.error === 'string' ? req.error : '',
        });
        return {};
      },
    });
    registration = { server: regServer, socket };
  }

  let stopped = false;
  return {
    name: options.name,
    endpoint,
    registrationSocket: registration?.socket,
    backingDir,
    calls,
    registrationStatus,
    getInfoCalls: () => getInfoCalls,
    failNext(rpc, code, times = 1) {
      const list = failures.get(rpc) ?? [];
      for (let i = 0; i < times; i++) list.push(statusNumber(code));
      failures.set(rpc, list);
    },
    delay(rpc, ms) {
      if (ms > 0) delays.set(rpc, ms);
      else delays.delete(rpc);
    },
    clearFaults() {
      failures.clear();
      delays.clear();
      for (const w of [...waiting]) w.release();
    },
    setStageUnstage(enabled) {
      stageUnstage = enabled;
    },
    mounts: () => [...mounted.keys()],
    removeRegistration() {
      if (registration) shutdownUnix(registration.server, registration.socket);
      registration = undefined;
      return Promise.resolve();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      failures.clear();
      delays.clear();
      for (const w of [...waiting]) w.release();
      if (registration) shutdownUnix(registration.server, registration.socket);
      registration = undefined;
      shutdownUnix(server, endpoint);
      // Pod mounts first, then staging mounts.
      const order = [...mounted.entries()].sort((a, b) =>
        a[1] === b[1] ? 0 : a[1] === 'target' ? -1 : 1,
      );
      for (const [path] of order) {
        try {
          await unmountAndRemove(path);
        } catch {
          // keep going: unmount as much as possible
        }
      }
    },
  };
}
