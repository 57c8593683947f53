import { join } from 'node:path';
import type { cri, k8s } from '@nodeagent/core';
import { podDNSConfig, type DnsOptions } from './dns.js';
import { InvalidPodSpecError } from './errors.js';
import { newPodAnnotations, newPodLabels } from './labels.js';
import { podSandboxResources } from './resources.js';
import { sandboxSecurityContext } from './security-context.js';

/** Longest hostname the kernel accepts (kubelet `hostnameMaxLen`). */
export const hostnameMaxLen = 63;
/** Longest FQDN usable as the kernel hostname (setHostnameAsFQDN). */
export const fqdnMaxLen = 64;

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** `pod.spec` fields the builders read that the core k8s types do not have yet. */
interface PodSpecExtras {
  setHostnameAsFQDN?: boolean;
}

/**
 * The pod with the defaults the API server would have applied to what the builders
 * read: namespace `default`. Throws when name or UID is missing.
 */
export function requirePodIdentity(pod: k8s.Pod): { name: string; namespace: string; uid: string } {
  const name = pod.metadata?.name;
  const uid = pod.metadata?.uid;
  if (!name) throw new InvalidPodSpecError('metadata.name', 'pod has no name');
  if (!uid) throw new InvalidPodSpecError('metadata.uid', 'pod has no UID');
  return { name, namespace: pod.metadata.namespace || 'default', uid };
}

/**
 * The pod's hostname and domain (kubelet `GeneratePodHostNameAndDomain`): `spec.hostname`
 * (a DNS-1123 label) or the pod name, cut to 63 characters without a trailing `-` or
 * `.`; the domain `<subdomain>.<namespace>.svc.<clusterDomain>` when `spec.subdomain`
 * is set.
 * @throws InvalidPodSpecError for an invalid hostname or subdomain.
 */
export function generatePodHostnameAndDomain(
  pod: k8s.Pod,
  clusterDomain = '',
): { hostname: string; domain: string } {
  const { name, namespace } = requirePodIdentity(pod);
  let hostname = name;
  const specHostname = pod.spec?.hostname;
  if (specHostname) {
    if (specHostname.length > hostnameMaxLen || !dns1123Label.test(specHostname)) {
      throw new InvalidPodSpecError(
        'spec.hostname',
        `${JSON.stringify(specHostname)} is not a valid DNS label`,
      );
    }
    hostname = specHostname;
  }
  if (hostname.length > hostnameMaxLen) {
    hostname = hostname.slice(0, hostnameMaxLen).replace(/[-.]+$/, '');
    if (hostname === '')
      throw new InvalidPodSpecError(
        'metadata.name',
        `hostname for pod ${JSON.stringify(name)} was invalid`,
      );
  }
  let domain = '';
  const subdomain = pod.spec?.subdomain;
  if (subdomain) {
    if (subdomain.length > hostnameMaxLen || !dns1123Label.test(subdomain)) {
      throw new InvalidPodSpecError(
        'spec.subdomain',
        `${JSON.stringify(subdomain)} is not a valid DNS label`,
      );
    }
    domain = `${subdomain}.${namespace}.svc.${clusterDomain}`;
  }
  return { hostname, domain };
}

/**
 * The sandbox hostname (kubelet `generatePodSandboxConfig` + `GetNodenameForKernel`):
 * empty for host-network pods (they keep the node's UTS namespace; runc cannot set a
 * hostname without its own), else {@link generatePodHostnameAndDomain}'s hostname, or
 * the FQDN when `setHostnameAsFQDN` is set with a subdomain (at most 64 characters).
 */
export function podSandboxHostname(pod: k8s.Pod, clusterDomain = ''): string {
  if (pod.spec?.hostNetwork) return '';
  const { hostname, domain } = generatePodHostnameAndDomain(pod, clusterDomain);
  const asFqdn =
    (pod.spec as (k8s.PodSpec & PodSpecExtras) | undefined)?.setHostnameAsFQDN === true;
  if (domain !== '' && asFqdn) {
    const fqdn = `${hostname}.${domain}`;
    if (fqdn.length > fqdnMaxLen) {
      throw new InvalidPodSpecError(
        'spec.setHostnameAsFQDN',
        `FQDN ${fqdn} is too long (${fqdnMaxLen} characters is the max, ${fqdn.length} characters requested)`,
      );
    }
    return fqdn;
  }
  return hostname;
}

function checkPort(value: unknown, min: number, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 65535) {
    throw new InvalidPodSpecError(
      field,
      `must be an integer between ${min} and 65535, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/**
 * Validates a container's ports: containerPort 1–65535, hostPort 0–65535, protocol
 * TCP, UDP or SCTP. @throws InvalidPodSpecError.
 */
export function validateContainerPorts(container: k8s.Container, base: string): void {
  (container.ports ?? []).forEach((p, i) => {
    const field = `${base}.ports[${i}]`;
    checkPort(p.containerPort, 1, `${field}.containerPort`);
    if (p.hostPort !== undefined) checkPort(p.hostPort, 0, `${field}.hostPort`);
    if (p.protocol !== undefined && !['TCP', 'UDP', 'SCTP'].includes(p.protocol)) {
      throw new InvalidPodSpecError(
        `${field}.protocol`,
        `unsupported protocol ${JSON.stringify(p.protocol)} (TCP, UDP, SCTP)`,
      );
    }
  });
}

/**
 * The sandbox's port mappings: every port of an app container that asks for a
 * `hostPort` (a port without one publishes nothing), with protocol (default TCP),
 * containerPort, hostPort and hostIP. As kubelet `MakePortMappings`, a port repeated
 * under the same name (or the same family/protocol/hostIP/ports when unnamed) within a
 * container is used once.
 * @throws InvalidPodSpecError for ports out of range or unknown protocols.
 */
export function makePortMappings(pod: k8s.Pod): cri.PortMappingInput[] {
  const mappings: cri.PortMappingInput[] = [];
  for (const container of pod.spec?.containers ?? []) {
    validateContainerPorts(container, `spec.containers{${container.name}}`);
    const names = new Set<string>();
    for (const p of container.ports ?? []) {
      const protocol = p.protocol ?? 'TCP';
      const hostIP = p.hostIP ?? '';
      const family = hostIP === '' ? 'any' : hostIP.includes(':') ? 'v6' : 'v4';
      const name =
        p.name || `${family}-${protocol}-${hostIP}:${p.containerPort}:${p.hostPort ?? 0}`;
      if (names.has(name)) continue;
      names.add(name);
      if (!p.hostPort) continue;
      mappings.push({
        protocol,
        containerPort: p.containerPort,
        hostPort: p.hostPort,
        hostIp: hostIP,
      });
    }
  }
  return mappings;
}

/** Options of {@link makePodSandboxConfig}. */
export interface PodSandboxConfigOptions {
  /** How many sandboxes were created for this pod before (0 for the first). */
  attempt: number;
  /** Root of pod log directories (kubelet `podLogsDir`, /var/log/pods). */
  podLogsDir: string;
  /** The pod's cgroup (see `podCgroupName`); `''`/unset lets the runtime choose. */
  cgroupParent?: string;
  /** DNS settings of the node. */
  dns?: DnsOptions;
  /** Enforce CPU limits with CFS quota in the pod-level resources; default true. */
  cpuCFSQuota?: boolean;
  /** CFS period in microseconds; default 100000. */
  cpuCFSQuotaPeriodUs?: number;
}

/** The pod's log directory: `<podLogsDir>/<namespace>_<name>_<uid>` (kubelet `BuildPodLogsDirectory`). */
export function podLogsDirectory(podLogsDir: string, pod: k8s.Pod): string {
  const { name, namespace, uid } = requirePodIdentity(pod);
  return join(podLogsDir, `${namespace}_${name}_${uid}`);
}

/**
 * The CRI `PodSandboxConfig` of a pod (kubelet `generatePodSandboxConfig`): metadata
 * (name, namespace, uid, attempt), hostname ({@link podSandboxHostname}), log directory
 * ({@link podLogsDirectory}), DNS config by dnsPolicy (`podDNSConfig`), host port
 * mappings ({@link makePortMappings}), labels (pod labels + `io.kubernetes.pod.name`,
 * `.namespace`, `.uid`), annotations (the pod's), and Linux settings: cgroupParent,
 * security context (namespaces, privileged, runAsUser/Group, supplemental groups,
 * seccomp), sysctls and the pod-level resources.
 *
 * @throws InvalidPodSpecError for anything in the pod that cannot be expressed.
 */
export function makePodSandboxConfig(
  pod: k8s.Pod,
  options: PodSandboxConfigOptions,
): cri.PodSandboxConfigInput {
  const identity = requirePodIdentity(pod);
  const normalized: k8s.Pod = {
    ...pod,
    metadata: { ...pod.metadata, namespace: identity.namespace },
  };
  if (!Number.isInteger(options.attempt) || options.attempt < 0) {
    throw new InvalidPodSpecError(
      '',
      `sandbox attempt must be a non-negative integer, got ${options.attempt}`,
    );
  }
  const sysctls: Record<string, string> = {};
  for (const s of pod.spec?.securityContext?.sysctls ?? []) sysctls[s.name] = s.value;
  const resourceOptions: { cpuCFSQuota?: boolean; cpuCFSQuotaPeriodUs?: number } = {};
  if (options.cpuCFSQuota !== undefined) resourceOptions.cpuCFSQuota = options.cpuCFSQuota;
  if (options.cpuCFSQuotaPeriodUs !== undefined)
    resourceOptions.cpuCFSQuotaPeriodUs = options.cpuCFSQuotaPeriodUs;
  return {
    metadata: {
      name: identity.name,
      namespace: identity.namespace,
      uid: identity.uid,
      attempt: options.attempt,
    },
    hostname: podSandboxHostname(normalized, options.dns?.clusterDomain),
    logDirectory: podLogsDirectory(options.podLogsDir, normalized),
    dnsConfig: podDNSConfig(normalized, options.dns),
    portMappings: makePortMappings(normalized),
    labels: newPodLabels(normalized),
    annotations: newPodAnnotations(normalized),
    linux: {
      cgroupParent: options.cgroupParent ?? '',
      securityContext: sandboxSecurityContext(normalized),
      sysctls,
      resources: podSandboxResources(normalized, resourceOptions),
    },
  };
}
