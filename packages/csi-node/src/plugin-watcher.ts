import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Stats } from 'node:fs';
import { watch, type FSWatcher } from 'chokidar';
import {
  RealClock,
  jitter,
  mathRandom,
  noopLogger,
  type Clock,
  type Logger,
  type MetricsRegistry,
  type Random,
  type Timer,
} from '@nodeagent/core';
import { createCsiClient, type CsiClient, type CsiRetryPolicy } from './csi-client.js';
import type { CsiNodeInfoWriter } from './csinode.js';
import { InMemoryCsiDriverRegistry } from './driver-registry.js';
import {
  RegistrationClient,
  defaultGetInfoTimeoutMs,
  defaultNotifyTimeoutMs,
} from './registration-client.js';
import { parseCsiVersion, validateCsiPluginInfo } from './registration.js';

/** Kubelet's default root directory. */
export const defaultKubeletRootDir = '/var/lib/kubelet';

/** Kubelet `PluginsRegistryDir` below the root directory. */
export const pluginsRegistryDirName = 'plugins_registry';

/**
 * Back-off of a failed registration while its socket stays: 500 ms doubling to
 * 2 min 2 s, as kubelet's operation executor (`exponentialbackoff`) does.
 */
export const defaultRegistrationBackoff = {
  initialMs: 500,
  maxMs: 122_000,
  factor: 2,
  jitter: 0.1,
};

/** What happened to a registration attempt (for logs, events and tests). */
export interface CsiRegistrationEvent {
  /** The registration socket. */
  readonly socketPath: string;
  /** The driver name, when GetInfo answered. */
  readonly driverName?: string;
  /** `registered`, `failed` (will be retried while the socket stays) or `unregistered`. */
  readonly outcome: 'registered' | 'failed' | 'unregistered';
  /** Why it failed. */
  readonly error?: string;
}

/** Options of {@link CsiPluginManager}. */
export interface CsiPluginManagerOptions {
  /** Kubelet `--root-dir`; default `/var/lib/kubelet`. */
  rootDir?: string;
  /** The registration directory; default `<rootDir>/plugins_registry`. */
  registrationDir?: string;
  /** The registry to fill; default a new one (see {@link CsiPluginManager.registry}). */
  registry?: InMemoryCsiDriverRegistry;
  /** API mode: publishes drivers on the Node and CSINode. Absent in standalone mode. */
  nodeInfo?: CsiNodeInfoWriter;
  /** GetInfo deadline, ms; default 10 s. */
  getInfoTimeoutMs?: number;
  /** NotifyRegistrationStatus deadline, ms; default 5 s. */
  notifyTimeoutMs?: number;
  /** Deadline of CSI calls, ms; default 2 min (kubelet `csiTimeout`). */
  csiTimeoutMs?: number;
  /** Retry policy of CSI calls. */
  csiRetry?: Partial<CsiRetryPolicy>;
  /** Back-off of failed registrations. */
  registrationBackoff?: Partial<typeof defaultRegistrationBackoff>;
  /** Called after each registration attempt and unregistration. */
  onEvent?: (event: CsiRegistrationEvent) => void;
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  metrics?: MetricsRegistry;
}

interface SocketState {
  readonly socketPath: string;
  /** Ends the in-flight attempt when the socket goes away or the manager stops. */
  readonly abort: AbortController;
  /** Serializes the operations on this socket. */
  chain: Promise<void>;
  retryTimer: Timer | undefined;
  backoffMs: number;
  registeredName: string | undefined;
}

/**
 * Kubelet's plugin manager for CSI drivers: watches the plugin registration directory
 * (chokidar) for unix sockets — names starting with `.` and anything that is not a
 * socket are ignored — and for each one runs the registration handshake: GetInfo →
 * validate ({@link validateCsiPluginInfo}) → connect to the driver endpoint →
 * NodeGetInfo and NodeGetCapabilities → publish on the Node/CSINode (API mode) →
 * add to the {@link CsiDriverRegistry} → NotifyRegistrationStatus(true). A failure is
 * reported with NotifyRegistrationStatus(false, reason) (when GetInfo answered) and
 * retried with back-off while the socket stays. When the socket goes away the
 * driver is unregistered (only if it was registered through that socket, so a newer
 * registration of the same driver survives the old socket's removal).
 */
export class CsiPluginManager {
  /** The registration directory watched. */
  readonly registrationDir: string;
  /** The registered drivers. */
  readonly registry: InMemoryCsiDriverRegistry;
  private readonly opts: CsiPluginManagerOptions;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly logger: Logger;
  private readonly backoff: typeof defaultRegistrationBackoff;
  private readonly sockets = new Map<string, SocketState>();
  private watcher: FSWatcher | undefined;
  private running = false;

  constructor(options: CsiPluginManagerOptions = {}) {
    this.opts = options;
    this.registrationDir =
      options.registrationDir ??
      join(options.rootDir ?? defaultKubeletRootDir, pluginsRegistryDirName);
    this.registry = options.registry ?? new InMemoryCsiDriverRegistry();
    this.clock = options.clock ?? new RealClock();
    this.random = options.random ?? mathRandom;
    this.logger = (options.logger ?? noopLogger).child({ component: 'csi-plugin-manager' });
    this.backoff = { ...defaultRegistrationBackoff, ...options.registrationBackoff };
  }

  /** Creates the registration directory and starts watching it; resolves once the initial scan is done. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await mkdir(this.registrationDir, { recursive: true, mode: 0o750 });
    const watcher = watch(this.registrationDir, {
      ignoreInitial: false,
      alwaysStat: true,
      ignored: (path: string) => path !== this.registrationDir && basename(path).startsWith('.'),
    });
    this.watcher = watcher;
    watcher.on('add', (path: string, stats?: Stats) => this.onAdd(path, stats));
    watcher.on('unlink', (path: string) => this.onRemove(path));
    watcher.on('error', (err: unknown) =>
      this.logger.warn('Plugin registration directory watch error', { err: String(err) }),
    );
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
    this.logger.info('Watching the plugin registration directory', { dir: this.registrationDir });
  }

  /**
   * Stops watching, ends in-flight attempts and retries, and closes the driver
   * clients. Registered drivers are not unpublished from the API (kubelet keeps them
   * across restarts too).
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const watcher = this.watcher;
    this.watcher = undefined;
    await watcher?.close();
    const chains: Promise<void>[] = [];
    for (const state of this.sockets.values()) {
      state.retryTimer?.cancel();
      state.abort.abort(new Error('plugin manager stopped'));
      chains.push(state.chain);
    }
    await Promise.all(chains);
    this.sockets.clear();
    this.registry.clear();
  }

  /** Registration sockets currently known (registered or being retried). */
  registrationSockets(): string[] {
    return [...this.sockets.keys()].sort();
  }

  private onAdd(path: string, stats: Stats | undefined): void {
    if (!this.running || !stats?.isSocket()) {
      if (stats && !stats.isSocket()) {
        this.logger.debug('Ignoring a non-socket in the plugin registration directory', { path });
      }
      return;
    }
    if (this.sockets.has(path)) return;
    const state: SocketState = {
      socketPath: path,
      abort: new AbortController(),
      chain: Promise.resolve(),
      retryTimer: undefined,
      backoffMs: this.backoff.initialMs,
      registeredName: undefined,
    };
    this.sockets.set(path, state);
    this.enqueue(state, () => this.register(state));
  }

  private onRemove(path: string): void {
    const state = this.sockets.get(path);
    if (!state) return;
    this.sockets.delete(path);
    state.retryTimer?.cancel();
    state.abort.abort(new Error('registration socket removed'));
    this.enqueue(state, () => this.unregister(state));
  }

  private enqueue(state: SocketState, op: () => Promise<void>): void {
    state.chain = state.chain.then(op).catch((err: unknown) => {
      this.logger.error('Plugin registration operation failed unexpectedly', {
        socket: state.socketPath,
        err: String(err),
      });
    });
  }

  private async register(state: SocketState): Promise<void> {
    const signal = state.abort.signal;
    if (signal.aborted) return;
    const reg = new RegistrationClient(state.socketPath, this.clock, {
      getInfoMs: this.opts.getInfoTimeoutMs ?? defaultGetInfoTimeoutMs,
      notifyMs: this.opts.notifyTimeoutMs ?? defaultNotifyTimeoutMs,
    });
    let driverName: string | undefined;
    let gotInfo = false;
    let client: CsiClient | undefined;
    try {
      const info = await reg.getInfo(signal);
      gotInfo = true;
      driverName = typeof info.name === 'string' && info.name ? info.name : undefined;
      const plugin = validateCsiPluginInfo(info, (name) => {
        const entry = this.registry.entry(name);
        return entry ? parseCsiVersion(entry.version) : undefined;
      });
      client = createCsiClient({
        driverName: plugin.name,
        endpoint: plugin.endpoint,
        clock: this.clock,
        random: this.random,
        logger: this.logger,
        ...(this.opts.metrics ? { metrics: this.opts.metrics } : {}),
        ...(this.opts.csiTimeoutMs !== undefined ? { timeoutMs: this.opts.csiTimeoutMs } : {}),
        ...(this.opts.csiRetry ? { retry: this.opts.csiRetry } : {}),
      });
      const nodeInfo = await client.nodeGetInfo(signal);
      if (!nodeInfo.nodeId) {
        throw new Error(`CSI driver "${plugin.name}" NodeGetInfo returned an empty node_id`);
      }
      await client.nodeGetCapabilities(signal);
      if (signal.aborted) throw new Error('registration socket removed');
      await this.opts.nodeInfo?.installDriver({
        name: plugin.name,
        nodeId: nodeInfo.nodeId,
        maxVolumesPerNode: nodeInfo.maxVolumesPerNode,
        ...(nodeInfo.accessibleTopology ? { topology: nodeInfo.accessibleTopology } : {}),
      });
      if (signal.aborted) throw new Error('registration socket removed');
      this.registry.set({
        name: plugin.name,
        endpoint: client.endpoint,
        registrationSocket: state.socketPath,
        version: plugin.version.text,
        nodeId: nodeInfo.nodeId,
        maxVolumesPerNode: nodeInfo.maxVolumesPerNode,
        topology: nodeInfo.accessibleTopology ?? {},
        client,
      });
      client = undefined;
      state.registeredName = plugin.name;
      state.backoffMs = this.backoff.initialMs;
      this.logger.info('Registered CSI driver', {
        driver: plugin.name,
        endpoint: plugin.endpoint,
        version: plugin.version.text,
        nodeId: nodeInfo.nodeId,
      });
      try {
        await reg.notify(true, '', signal);
      } catch (err) {
        this.logger.warn('Could not notify the plugin of its registration', {
          driver: plugin.name,
          err: String(err),
        });
      }
      this.opts.onEvent?.({
        socketPath: state.socketPath,
        driverName: plugin.name,
        outcome: 'registered',
      });
    } catch (err) {
      client?.close();
      if (signal.aborted) return;
      const message = err instanceof Error ? err.message : String(err);
      this.logger.warn('CSI driver registration failed', {
        socket: state.socketPath,
        driver: driverName,
        err: message,
        retryInMs: state.backoffMs,
      });
      if (gotInfo) {
        try {
          await reg.notify(false, message, signal);
        } catch (notifyErr) {
          this.logger.debug('Could not notify the plugin of the failed registration', {
            socket: state.socketPath,
            err: String(notifyErr),
          });
        }
      }
      this.opts.onEvent?.({
        socketPath: state.socketPath,
        ...(driverName ? { driverName } : {}),
        outcome: 'failed',
        error: message,
      });
      this.scheduleRetry(state);
    } finally {
      reg.close();
    }
  }

  private scheduleRetry(state: SocketState): void {
    if (!this.running || state.abort.signal.aborted) return;
    const wait = jitter(state.backoffMs, this.backoff.jitter, this.random);
    state.backoffMs = Math.min(state.backoffMs * this.backoff.factor, this.backoff.maxMs);
    state.retryTimer = this.clock.setTimeout(() => {
      state.retryTimer = undefined;
      if (this.sockets.get(state.socketPath) === state)
        this.enqueue(state, () => this.register(state));
    }, wait);
  }

  private async unregister(state: SocketState): Promise<void> {
    const name = state.registeredName;
    if (!name) return;
    const entry = this.registry.entry(name);
    if (!entry || entry.registrationSocket !== state.socketPath) return;
    this.registry.delete(name);
    this.logger.info('Unregistered CSI driver: its registration socket went away', {
      driver: name,
      socket: state.socketPath,
    });
    try {
      await this.opts.nodeInfo?.uninstallDriver(name);
    } catch (err) {
      this.logger.warn('Could not remove the CSI driver from the Node/CSINode', {
        driver: name,
        err: String(err),
      });
    }
    this.opts.onEvent?.({
      socketPath: state.socketPath,
      driverName: name,
      outcome: 'unregistered',
    });
  }
}

/** Creates a {@link CsiPluginManager}. */
export function createCsiPluginManager(options: CsiPluginManagerOptions = {}): CsiPluginManager {
  return new CsiPluginManager(options);
}
