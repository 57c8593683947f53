import { KubeConfig } from '@kubernetes/client-node';
import {
  Clock,
  ConfigMapManager,
  SecretManager,
  ServiceLister,
  type FactoryRegistry,
  type InjectionToken,
  type TokenResolver,
} from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { describe, expect, it } from 'vitest';
import { ApiPodSource } from './api-pod-source.js';
import { createKubeApi } from './kube-api.js';
import {
  ApiServerPodSource,
  ApiServerServiceLister,
  KubeApiClient,
  registerKubeClient,
} from './register.js';
import { WatchingServiceLister } from './service-lister.js';
import { WatchingConfigMapManager, WatchingSecretManager } from './watching-object-managers.js';

class MapContainer implements FactoryRegistry, TokenResolver {
  private readonly factories = new Map<symbol, (r: TokenResolver) => unknown>();
  register<T>(token: InjectionToken<T>, provider: { useFactory: (r: TokenResolver) => T }): void {
    this.factories.set(token, provider.useFactory);
  }
  resolve<T>(token: InjectionToken<T>): T {
    const factory = this.factories.get(token);
    if (factory === undefined) throw new Error(`not registered: ${String(token)}`);
    return factory(this) as T;
  }
  isRegistered(token: symbol): boolean {
    return this.factories.has(token);
  }
}

describe('registerKubeClient', () => {
  it('binds the managers, the API pod source and the clients, each created once', () => {
    const container = new MapContainer();
    const clock = new FakeClock();
    container.register(Clock, { useFactory: () => clock });
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: false }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const api = createKubeApi(kc, { clock });
    registerKubeClient(container, { nodeName: 'n1', api });
    expect(container.resolve(KubeApiClient)).toBe(api);
    const source = container.resolve(ApiServerPodSource);
    expect(source).toBeInstanceOf(ApiPodSource);
    expect(source.name).toBe('api');
    expect(container.resolve(ApiServerPodSource)).toBe(source);
    expect(container.resolve(ConfigMapManager)).toBeInstanceOf(WatchingConfigMapManager);
    expect(container.resolve(ConfigMapManager)).toBe(container.resolve(ConfigMapManager));
    expect(container.resolve(SecretManager)).toBeInstanceOf(WatchingSecretManager);
    const services = container.resolve(ApiServerServiceLister);
    expect(services).toBeInstanceOf(WatchingServiceLister);
    expect(container.resolve(ServiceLister)).toBe(services);
    expect(services.hasSynced()).toBe(false); // not started: nothing listed yet
    expect(clock.pendingTimers()).toBe(0);
  });
});
