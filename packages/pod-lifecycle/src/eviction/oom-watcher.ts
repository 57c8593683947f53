import {
  noopEventRecorder,
  noopLogger,
  noopMetrics,
  type Clock,
  type Counter,
  type EventRecorder,
  type k8s,
  type Logger,
  type MetricsRegistry,
  type Timer,
} from '@nodeagent/core';
import { DevKmsgReader, type KernelLogReader } from './kmsg-reader.js';
import { OomParser, parseKmsgRecord, type OomInstance } from './oom-parser.js';

/** Reason of the node event for a system OOM (kubelet `systemOOMEvent`). */
export const systemOOMEventReason = 'SystemOOM';

/** The cgroup of a system-wide OOM (kubelet `recordEventContainerName`). */
export const systemOomCgroup = '/';

/** Default time between reads of the kernel log, ms. */
export const defaultOomPollIntervalMs = 1000;

/** Options of {@link OomWatcher}. */
export interface OomWatcherOptions {
  clock: Clock;
  /** Where `SystemOOM` events go. */
  recorder?: EventRecorder;
  /** The node the events are about. Default `{ kind: 'Node', name: 'node' }`. */
  nodeRef?: k8s.ObjectReference;
  /** The kernel log. Default {@link DevKmsgReader} on `/dev/kmsg`. */
  reader?: KernelLogReader;
  /** Time between reads, ms. Default {@link defaultOomPollIntervalMs}. */
  pollIntervalMs?: number;
  /** Called with every OOM kill parsed, system-wide or in a cgroup. */
  onOom?: (oom: OomInstance) => void;
  logger?: Logger;
  metrics?: MetricsRegistry;
}

/**
 * The kubelet's OOM watcher (pkg/kubelet/oom): follows the kernel log from the
 * moment it starts (history is skipped), parses OOM kills like cadvisor's
 * `oomparser`, and records a Warning `SystemOOM` event on the node —
 * `System OOM encountered, victim process: <comm>, pid: <pid>` — for each kill whose
 * OOM cgroup is the root (`/`), i.e. the whole machine ran out of memory. Kills
 * inside a memory cgroup (a container over its limit) are parsed and counted but,
 * as in the kubelet, not recorded as SystemOOM: the runtime reports those containers
 * as `OOMKilled`.
 */
export class OomWatcher {
  private readonly reader: KernelLogReader;
  private readonly parser = new OomParser();
  private readonly logger: Logger;
  private readonly recorder: EventRecorder;
  private readonly nodeRef: k8s.ObjectReference;
  private readonly pollIntervalMs: number;
  private readonly kills: Counter;
  private timer: Timer | undefined;
  private running: Promise<unknown> | undefined;
  private started = false;
  private opened = false;

  constructor(private readonly options: OomWatcherOptions) {
    this.reader = options.reader ?? new DevKmsgReader();
    this.logger = (options.logger ?? noopLogger).child({ component: 'oom-watcher' });
    this.recorder = options.recorder ?? noopEventRecorder;
    this.nodeRef = options.nodeRef ?? { kind: 'Node', name: 'node' };
    this.pollIntervalMs = options.pollIntervalMs ?? defaultOomPollIntervalMs;
    this.kills = (options.metrics ?? noopMetrics).counter({
      name: 'nodeagent_oom_kills_total',
      help: 'OOM kills seen in the kernel log, by scope (system: the root cgroup ran out; cgroup: a memory cgroup hit its limit)',
      labelNames: ['scope'],
    });
  }

  /** Opens the kernel log at its end and starts polling it. Rejects when the log cannot be opened. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    try {
      await this.reader.open();
      this.opened = true;
    } catch (err) {
      this.started = false;
      throw err;
    }
    this.schedule();
  }

  /** Stops polling, waits for a read in progress and closes the log. */
  async stop(): Promise<void> {
    this.started = false;
    this.timer?.cancel();
    this.timer = undefined;
    await this.running;
    if (this.opened) {
      this.opened = false;
      await this.reader.close();
    }
  }

  private schedule(): void {
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      if (!this.started) return;
      this.running = this.poll()
        .catch((err: unknown) => {
          this.logger.error('Failed to read the kernel log', { err });
        })
        .finally(() => {
          this.running = undefined;
          if (this.started) this.schedule();
        });
    }, this.pollIntervalMs);
  }

  /** Reads what the kernel logged since the last read and handles the OOM kills in it. */
  async poll(): Promise<OomInstance[]> {
    const records = await this.reader.readAvailable();
    const found: OomInstance[] = [];
    for (const raw of records) {
      const record = parseKmsgRecord(raw);
      const message = record ? record.message : raw.replace(/\n$/, '');
      const oom = this.parser.push(message, this.options.clock.now());
      if (oom) {
        found.push(oom);
        this.handle(oom);
      }
    }
    return found;
  }

  private handle(oom: OomInstance): void {
    this.options.onOom?.(oom);
    const system = oom.victimContainerName === systemOomCgroup;
    this.kills.inc({ scope: system ? 'system' : 'cgroup' });
    if (!system) {
      this.logger.debug('OOM kill in a memory cgroup', {
        pid: oom.pid,
        process: oom.processName,
        cgroup: oom.victimContainerName,
      });
      return;
    }
    this.logger.info('Got sys oom event', { pid: oom.pid, process: oom.processName });
    let message = 'System OOM encountered';
    if (oom.processName !== '' && oom.pid !== 0) {
      message = `${message}, victim process: ${oom.processName}, pid: ${oom.pid}`;
    }
    this.recorder.event(this.nodeRef, 'Warning', systemOOMEventReason, message);
  }
}

/** Creates an {@link OomWatcher}. */
export function createOomWatcher(options: OomWatcherOptions): OomWatcher {
  return new OomWatcher(options);
}
