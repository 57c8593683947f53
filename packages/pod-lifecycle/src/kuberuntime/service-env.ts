import {
  UnavailableError,
  isServiceIPSet,
  type Service,
  type ServiceLister,
  type k8s,
} from '@nodeagent/core';
import { isStaticPod } from '../pod-phase.js';
import type { EnvVarValue } from './expansion.js';

/** The namespace of the master services (kubelet `metav1.NamespaceDefault`). */
export const masterServiceNamespace = 'default';

/**
 * Services of {@link masterServiceNamespace} whose variables every pod gets, even
 * with `enableServiceLinks: false` (kubelet `masterServices`).
 */
export const masterServices: ReadonlySet<string> = new Set(['kubernetes']);

/** The kubelet's error when the service lister has not synced (a CreateContainerConfigError). */
export const servicesNotSyncedMessage =
  'services have not yet been read at least once, cannot construct envvars';

/**
 * A Service name as an environment variable prefix (envvars `makeEnvVariableName`):
 * upper-cased, `-` and `.` become `_`, and a leading digit gets a `_` in front.
 */
export function serviceEnvVarName(name: string): string {
  const upper = name.replaceAll('.', '_').replaceAll('-', '_').toUpperCase();
  return /^[0-9]/.test(upper) ? `_${upper}` : upper;
}

/**
 * The Docker-links-style variables of Services (envvars `FromServices`), per Service
 * with a cluster IP (headless and ExternalName Services give none), in order:
 * `<NAME>_SERVICE_HOST` (the cluster IP), `<NAME>_SERVICE_PORT` (the first port),
 * `<NAME>_SERVICE_PORT_<PORTNAME>` for each named port, then `<NAME>_PORT`
 * (`<proto>://<ip>:<port>` of the first port) and for every port
 * `<NAME>_PORT_<port>_<PROTO>` with `_PROTO`, `_PORT` and `_ADDR`. The protocol
 * defaults to TCP. A Service without ports (which API validation forbids) gives only
 * its host variable.
 */
export function envVarsFromServices(services: readonly Service[]): EnvVarValue[] {
  const out: EnvVarValue[] = [];
  for (const service of services) {
    if (!isServiceIPSet(service)) continue;
    const ip = service.spec?.clusterIP ?? '';
    const prefix = serviceEnvVarName(service.metadata.name ?? '');
    const ports = service.spec?.ports ?? [];
    out.push({ name: `${prefix}_SERVICE_HOST`, value: ip });
    const first = ports[0];
    if (first === undefined) continue;
    out.push({ name: `${prefix}_SERVICE_PORT`, value: String(first.port) });
    for (const p of ports) {
      if (p.name)
        out.push({
          name: `${prefix}_SERVICE_PORT_${serviceEnvVarName(p.name)}`,
          value: String(p.port),
        });
    }
    ports.forEach((p, i) => {
      const protocol = p.protocol || 'TCP';
      const lower = protocol.toLowerCase();
      const url = `${lower}://${ip}:${p.port}`;
      if (i === 0) out.push({ name: `${prefix}_PORT`, value: url });
      const portPrefix = `${prefix}_PORT_${p.port}_${protocol.toUpperCase()}`;
      out.push(
        { name: portPrefix, value: url },
        { name: `${portPrefix}_PROTO`, value: lower },
        { name: `${portPrefix}_PORT`, value: String(p.port) },
        { name: `${portPrefix}_ADDR`, value: ip },
      );
    });
  }
  return out;
}

/**
 * The service variables a container of `pod` sees (kubelet `getServiceEnvVarMap`):
 * the master services of `default` (the `kubernetes` Service) always, and — when
 * `spec.enableServiceLinks` is true or unset (the API default) — every Service of the
 * pod's namespace, which wins over a master service of the same name. Services are
 * taken in name order, so the result is stable. Without a lister (standalone) there
 * are none.
 *
 * @throws UnavailableError "services have not yet been read at least once, cannot
 *   construct envvars" for a pod from the API server while the lister has not synced
 *   (static pods do not wait), as the kubelet does.
 */
export function serviceEnvironment(
  pod: k8s.Pod,
  lister: ServiceLister | undefined,
): Map<string, string> {
  const env = new Map<string, string>();
  if (!lister) return env;
  if (!isStaticPod(pod) && !lister.hasSynced())
    throw new UnavailableError(servicesNotSyncedMessage);
  const namespace = pod.metadata?.namespace || 'default';
  const enableServiceLinks = pod.spec?.enableServiceLinks ?? true;
  const byName = new Map<string, Service>();
  if (namespace !== masterServiceNamespace || !enableServiceLinks) {
    for (const s of lister.listServices(masterServiceNamespace)) {
      const name = s.metadata.name ?? '';
      if (masterServices.has(name) && isServiceIPSet(s)) byName.set(name, s);
    }
  }
  if (enableServiceLinks) {
    for (const s of lister.listServices(namespace)) {
      if (isServiceIPSet(s)) byName.set(s.metadata.name ?? '', s);
    }
  }
  const ordered = [...byName.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const e of envVarsFromServices(ordered.map(([, s]) => s))) env.set(e.name, e.value);
  return env;
}
