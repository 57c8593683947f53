import {
  noopLogger,
  type Clock,
  type Logger,
  type Random,
  type Service,
  type ServiceLister,
} from '@nodeagent/core';
import { CheckpointFile } from './checkpoint-file.js';
import type { KubeApi } from './kube-api.js';
import {
  Reflector,
  createApiListerWatcher,
  type ReflectorHealth,
  type ReflectorOptions,
} from './reflector.js';

/**
 * The kubelet's service informer field selector: headless Services are not watched,
 * they give no environment variables (kubernetes/kubernetes#122394).
 */
export const serviceListerFieldSelector = 'spec.clusterIP!=None';

/** Reflector tuning of the service lister. */
export type ServiceReflectorTuning = Omit<
  ReflectorOptions<Service>,
  'listerWatcher' | 'clock' | 'random' | 'logger'
>;

/** Options of {@link WatchingServiceLister}. */
export interface WatchingServiceListerOptions {
  /** The agent's shared, rate-limited API clients. */
  api: KubeApi;
  clock: Clock;
  /** Jitter of the reflector's back-off; default `Math.random`. */
  random?: Random;
  logger?: Logger;
  /** Reflector tuning (page size, back-off, timeouts). */
  reflector?: ServiceReflectorTuning;
  /**
   * A file keeping the last Service set (written at most once a second and on stop).
   * An agent started while the API server is unreachable serves it and counts as
   * synced, so containers of the pods it runs from its pod checkpoint can (re)start
   * with their service variables. None when unset.
   */
  checkpointPath?: string;
}

/** `kind` of the service checkpoint file. */
export const serviceCheckpointKind = 'NodeagentServiceCheckpoint';

interface ServiceCheckpoint {
  kind: typeof serviceCheckpointKind;
  version: 1;
  savedAt: string;
  services: Service[];
}

/**
 * The kubelet's service lister: one reflector listing and watching the Services of
 * all namespaces with `spec.clusterIP!=None` (the kubelet's shared informer with
 * that field selector), indexed by namespace. `hasSynced()` turns true after the
 * first complete list and stays true through later watch failures and relists, as
 * client-go's `HasSynced` does. Start it once the API clients exist; stop it on
 * shutdown (it then leaves no timers or watches).
 */
export class WatchingServiceLister implements ServiceLister {
  private readonly reflector: Reflector<Service>;
  /** namespace → uid → Service. */
  private readonly byNamespace = new Map<string, Map<string, Service>>();
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly checkpoint: CheckpointFile<ServiceCheckpoint> | undefined;
  /** Services served from the checkpoint until the first list succeeds. */
  private fromCheckpoint = false;
  private state: 'new' | 'running' | 'stopped' = 'new';
  private starting: Promise<void> | undefined;

  constructor(options: WatchingServiceListerOptions) {
    this.logger = (options.logger ?? noopLogger).child({ component: 'service-lister' });
    this.clock = options.clock;
    this.checkpoint =
      options.checkpointPath === undefined
        ? undefined
        : new CheckpointFile<ServiceCheckpoint>({
            path: options.checkpointPath,
            clock: options.clock,
            minIntervalMs: 1_000,
            logger: this.logger,
            description: 'service checkpoint',
          });
    const api = options.api;
    this.reflector = new Reflector<Service>({
      ...options.reflector,
      listerWatcher: createApiListerWatcher<Service>(api, {
        description: `services (${serviceListerFieldSelector})`,
        path: '/api/v1/services',
        fieldSelector: serviceListerFieldSelector,
        list: (params, o) => api.core.listServiceForAllNamespaces(params, o),
      }),
      clock: options.clock,
      ...(options.random ? { random: options.random } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    this.reflector.addEventHandler({
      onAdd: (s) => this.changed(() => this.put(s)),
      onUpdate: (old, s) =>
        this.changed(() => {
          this.remove(old);
          this.put(s);
        }),
      onDelete: (s) => this.changed(() => this.remove(s)),
      onSync: () => {
        if (this.fromCheckpoint) {
          // The API server answered: its Services replace the checkpoint's.
          this.fromCheckpoint = false;
          this.byNamespace.clear();
          for (const svc of this.reflector.list()) this.put(svc);
        }
        this.logger.debug('Services synced', { count: this.reflector.list().length });
        this.saveCheckpoint();
      },
    });
  }

  /** Starts: reads the checkpoint (if any), then lists and watches (idempotent). */
  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    this.starting = this.loadCheckpoint().then(() => {
      if (this.state === 'running') this.reflector.start();
    });
  }

  /** Stops the reflector (no watch, list or timer is left) and writes the checkpoint. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    const wasRunning = this.state === 'running';
    this.state = 'stopped';
    await this.starting;
    this.reflector.stop();
    if (wasRunning && !this.fromCheckpoint && this.reflector.hasSynced()) this.saveCheckpoint(true);
    await this.checkpoint?.close();
  }

  /** Resolves once the checkpoint is loaded and no checkpoint write is in flight (tests). */
  async idle(): Promise<void> {
    await this.starting;
    await this.checkpoint?.idle();
  }

  listServices(namespace: string): readonly Service[] {
    const services = this.byNamespace.get(namespace);
    return services ? [...services.values()] : [];
  }

  hasSynced(): boolean {
    return this.fromCheckpoint || this.reflector.hasSynced();
  }

  private changed(apply: () => void): void {
    if (this.fromCheckpoint) return; // the list replaces the checkpoint's set at sync
    apply();
    if (this.reflector.hasSynced()) this.saveCheckpoint();
  }

  private saveCheckpoint(force = false): void {
    if (this.checkpoint === undefined || (this.state !== 'running' && !force)) return;
    const services = [...this.byNamespace.values()]
      .flatMap((m) => [...m.values()])
      .sort((a, b) => uidOf(a).localeCompare(uidOf(b)));
    this.checkpoint.schedule(
      {
        kind: serviceCheckpointKind,
        version: 1,
        savedAt: new Date(this.clock.now()).toISOString(),
        services,
      },
      JSON.stringify(services),
    );
  }

  private async loadCheckpoint(): Promise<void> {
    const text = await this.checkpoint?.read();
    if (text === undefined) return;
    let parsed: Partial<ServiceCheckpoint>;
    try {
      parsed = JSON.parse(text) as Partial<ServiceCheckpoint>;
    } catch {
      this.logger.warn('Ignoring a corrupt service checkpoint (not JSON)');
      return;
    }
    if (parsed.kind !== serviceCheckpointKind || !Array.isArray(parsed.services)) {
      this.logger.warn('Ignoring a service checkpoint of another kind or version');
      return;
    }
    if (this.reflector.hasSynced()) return;
    for (const svc of parsed.services) {
      if (typeof svc === 'object' && svc !== null && typeof svc.metadata === 'object')
        this.put(svc);
    }
    this.fromCheckpoint = true;
    this.checkpoint?.markWritten(JSON.stringify(parsed.services));
    this.logger.info('Serving Services from the checkpoint until the API server answers', {
      services: parsed.services.length,
    });
  }

  /** Health of the underlying reflector (unhealthy after failing for 3 minutes). */
  healthy(): ReflectorHealth {
    return this.reflector.healthy();
  }

  /** Lists, watches and failures of the underlying reflector. */
  get stats(): Reflector<Service>['stats'] {
    return this.reflector.stats;
  }

  private put(service: Service): void {
    const namespace = service.metadata.namespace ?? '';
    let services = this.byNamespace.get(namespace);
    if (!services) {
      services = new Map();
      this.byNamespace.set(namespace, services);
    }
    services.set(uidOf(service), service);
  }

  private remove(service: Service): void {
    const namespace = service.metadata.namespace ?? '';
    const services = this.byNamespace.get(namespace);
    if (!services) return;
    services.delete(uidOf(service));
    if (services.size === 0) this.byNamespace.delete(namespace);
  }
}

function uidOf(service: Service): string {
  return (
    service.metadata.uid ?? `${service.metadata.namespace ?? ''}/${service.metadata.name ?? ''}`
  );
}

/** Creates a (not yet started) {@link WatchingServiceLister}. */
export function createWatchingServiceLister(
  options: WatchingServiceListerOptions,
): WatchingServiceLister {
  return new WatchingServiceLister(options);
}
