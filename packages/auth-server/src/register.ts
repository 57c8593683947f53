import {
  Clock,
  ContainerRuntime,
  Logger,
  PodLifecycleEventGenerator,
  RealClock,
  StatsProvider,
  createToken,
  resolveOptional,
  type FactoryRegistry,
  type InjectionToken,
  type TokenResolver,
} from '@nodeagent/core';
import { logHealthCheck, pingHealthCheck, syncLoopHealthCheck } from './healthz.js';
import { createNodeApiServer, type NodeApiServer, type NodeApiServerOptions } from './server.js';

/** DI token of the node API server. */
export const NodeApiServerToken: InjectionToken<NodeApiServer> =
  createToken<NodeApiServer>('NodeApiServer');

/** Options of {@link registerNodeApiServer}: the server's options with `clock` optional. */
export type RegisterNodeApiServerOptions = Omit<NodeApiServerOptions, 'clock'> & { clock?: Clock };

/**
 * Registers one shared {@link NodeApiServer} (created on first resolve) as
 * `NodeApiServerToken`. Missing collaborators come from the container when
 * registered: `Clock` (else the real clock), `Logger`, `ContainerRuntime`,
 * `StatsProvider`, and the PLEG for the `syncloop` health check (the checks are
 * then ping, log, syncloop as in the kubelet).
 */
export function registerNodeApiServer(
  container: FactoryRegistry,
  options: RegisterNodeApiServerOptions,
): void {
  let server: NodeApiServer | undefined;
  const get = (resolver: TokenResolver): NodeApiServer => {
    if (server) return server;
    const clock = options.clock ?? resolveOptional(resolver, Clock) ?? new RealClock();
    const logger = options.logger ?? resolveOptional(resolver, Logger);
    const p = options.providers ?? {};
    const runtime = p.runtime ?? resolveOptional(resolver, ContainerRuntime);
    const stats = p.stats ?? resolveOptional(resolver, StatsProvider);
    const pleg = resolveOptional(resolver, PodLifecycleEventGenerator);
    const healthChecks = p.healthChecks ?? [
      pingHealthCheck,
      logHealthCheck(),
      ...(pleg ? [syncLoopHealthCheck(pleg)] : []),
    ];
    server = createNodeApiServer({
      ...options,
      clock,
      ...(logger ? { logger } : {}),
      providers: {
        ...p,
        ...(runtime ? { runtime } : {}),
        ...(stats ? { stats } : {}),
        healthChecks,
      },
    });
    return server;
  };
  container.register(NodeApiServerToken, { useFactory: get });
}
