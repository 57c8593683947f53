import {
  noopLogger,
  type Clock,
  type Logger,
  type Random,
  type Service,
  type ServiceLister,
} from '@nodeagent/core';
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

  constructor(options: WatchingServiceListerOptions) {
    this.logger = (options.logger ?? noopLogger).child({ component: 'service-lister' });
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
      onAdd: (s) => this.put(s),
      onUpdate: (old, s) => {
        this.remove(old);
        this.put(s);
      },
      onDelete: (s) => this.remove(s),
      onSync: () => this.logger.debug('Services synced', { count: this.reflector.list().length }),
    });
  }

  /** Starts listing and watching (idempotent). */
  start(): void {
    this.reflector.start();
  }

  /** Stops the reflector: no watch, list or timer is left. */
  stop(): void {
    this.reflector.stop();
  }

  listServices(namespace: string): readonly Service[] {
    const services = this.byNamespace.get(namespace);
    return services ? [...services.values()] : [];
  }

  hasSynced(): boolean {
    return this.reflector.hasSynced();
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
