/**
 * DI registration of the certificate managers. The tokens live here until core
 * declares certificate-manager contracts (see the package README).
 */
import {
  Clock,
  Logger,
  MetricsRegistry,
  Random,
  createToken,
  resolveOptional,
  type FactoryRegistry,
  type InjectionToken,
  type TokenResolver,
} from '@nodeagent/core';
import {
  CertificateManager,
  type KindlessCertificateManagerOptions,
} from './certificate-manager.js';
import { KubeApiClient } from './register.js';

/** The manager of the agent's API client certificate (`kubelet-client-current.pem`). */
export const ClientCertificateManager: InjectionToken<CertificateManager> =
  createToken<CertificateManager>('ClientCertificateManager');
/** The manager of the :10250 serving certificate (`kubelet-server-current.pem`). */
export const ServingCertificateManager: InjectionToken<CertificateManager> =
  createToken<CertificateManager>('ServingCertificateManager');

/** Options of {@link registerCertificateManagers}; clock, random, logger, metrics and api default to the container's. */
export interface CertificateManagersOptions {
  /** Register {@link ClientCertificateManager} (kubelet `rotateCertificates`). */
  client?: Omit<KindlessCertificateManagerOptions, 'api'> &
    Partial<Pick<KindlessCertificateManagerOptions, 'api'>>;
  /** Register {@link ServingCertificateManager} (kubelet `serverTLSBootstrap`). */
  serving?: Omit<KindlessCertificateManagerOptions, 'api'> &
    Partial<Pick<KindlessCertificateManagerOptions, 'api'>>;
}

/**
 * Registers the client and/or serving certificate managers, each created once on
 * first resolve; CSRs go through `KubeApiClient` unless `api` is given. The agent
 * calls `start()` and `stop()` on them.
 */
export function registerCertificateManagers(
  container: FactoryRegistry,
  options: CertificateManagersOptions,
): void {
  const build = (
    kind: 'client' | 'serving',
    o: NonNullable<CertificateManagersOptions['client']>,
    r: TokenResolver,
  ): CertificateManager => {
    const random = o.random ?? resolveOptional(r, Random);
    const logger = o.logger ?? resolveOptional(r, Logger);
    const metrics = o.metrics ?? resolveOptional(r, MetricsRegistry);
    return new CertificateManager({
      ...o,
      kind,
      api: o.api ?? (() => r.resolve(KubeApiClient)),
      clock: o.clock ?? r.resolve(Clock),
      ...(random ? { random } : {}),
      ...(logger ? { logger } : {}),
      ...(metrics ? { metrics } : {}),
    });
  };
  const { client, serving } = options;
  if (client) {
    let manager: CertificateManager | undefined;
    container.register(ClientCertificateManager, {
      useFactory: (r) => (manager ??= build('client', client, r)),
    });
  }
  if (serving) {
    let manager: CertificateManager | undefined;
    container.register(ServingCertificateManager, {
      useFactory: (r) => (manager ??= build('serving', serving, r)),
    });
  }
}
