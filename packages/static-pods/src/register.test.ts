import {
  Clock,
  PodSources,
  type FactoryRegistry,
  type InjectionToken,
  type PodSource,
  type TokenResolver,
} from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { describe, expect, it } from 'vitest';
import { StaticPodFileSource } from './file-source.js';
import { StaticPodUrlSource } from './http-source.js';
import { registerStaticPods, StaticPodSources } from './register.js';

/** A minimal container: factories by token, resolved on demand. */
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

describe('registerStaticPods', () => {
  it('registers the configured sources as PodSources and StaticPodSources, once', () => {
    const container = new MapContainer();
    const clock = new FakeClock();
    container.register(Clock, { useFactory: () => clock });
    registerStaticPods(container, {
      nodeName: 'node-1',
      staticPodPath: '/etc/kubernetes/manifests',
      staticPodURL: 'http://127.0.0.1:1/pods',
    });
    const sources = container.resolve(PodSources);
    expect(sources.map((s) => s.name)).toEqual(['file', 'http']);
    expect(sources[0]).toBeInstanceOf(StaticPodFileSource);
    expect(sources[1]).toBeInstanceOf(StaticPodUrlSource);
    expect(container.resolve(StaticPodSources)).toBe(sources);
    expect(container.resolve(PodSources)).toBe(sources);
  });

  it('registers only what is configured, and lets the agent compose a longer list', () => {
    const container = new MapContainer();
    registerStaticPods(container, {
      nodeName: 'node-1',
      staticPodPath: '/etc/kubernetes/manifests',
      clock: new FakeClock(),
    });
    expect(container.resolve(PodSources).map((s) => s.name)).toEqual(['file']);

    const apiSource: PodSource = {
      name: 'api',
      start() {},
      stop: () => Promise.resolve(),
      subscribe: () => () => {},
    };
    container.register(PodSources, {
      useFactory: (r) => [...r.resolve(StaticPodSources), apiSource],
    });
    expect(container.resolve(PodSources).map((s) => s.name)).toEqual(['file', 'api']);
  });

  it('registers an empty list when neither a path nor a URL is configured', () => {
    const container = new MapContainer();
    registerStaticPods(container, { nodeName: 'n', clock: new FakeClock() });
    expect(container.resolve(PodSources)).toEqual([]);
  });
});
