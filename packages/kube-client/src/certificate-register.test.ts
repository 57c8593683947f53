import {
  Clock,
  type FactoryRegistry,
  type InjectionToken,
  type TokenResolver,
} from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { describe, expect, it } from 'vitest';
import { CertificateManager } from './certificate-manager.js';
import {
  ClientCertificateManager,
  ServingCertificateManager,
  registerCertificateManagers,
} from './certificate-register.js';

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

describe('registerCertificateManagers', () => {
  it('registers only the managers asked for, each created once with the container clock', () => {
    const container = new MapContainer();
    container.register(Clock, { useFactory: () => new FakeClock() });
    registerCertificateManagers(container, {
      client: { nodeName: 'n1', certDir: '/var/lib/kubelet/pki' },
    });
    const client = container.resolve(ClientCertificateManager);
    expect(client).toBeInstanceOf(CertificateManager);
    expect(client.kind).toBe('client');
    expect(client.currentPath()).toBe('/var/lib/kubelet/pki/kubelet-client-current.pem');
    expect(container.resolve(ClientCertificateManager)).toBe(client);
    expect(container.isRegistered(ServingCertificateManager)).toBe(false);
  });

  it('registers the serving manager with the kubelet-server prefix', () => {
    const container = new MapContainer();
    container.register(Clock, { useFactory: () => new FakeClock() });
    registerCertificateManagers(container, {
      serving: { nodeName: 'n1', certDir: '/pki', servingAddresses: () => undefined },
    });
    const serving = container.resolve(ServingCertificateManager);
    expect(serving.kind).toBe('serving');
    expect(serving.currentPath()).toBe('/pki/kubelet-server-current.pem');
    expect(serving.template()).toBeUndefined();
  });
});
