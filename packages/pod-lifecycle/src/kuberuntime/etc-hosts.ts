import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { cri, k8s } from '@nodeagent/core';
import { generatePodHostnameAndDomain } from './sandbox-config.js';

/** Where containers see the hosts file (kubelet `etcHostsPath`); also the node's hosts file. */
export const etcHostsPath = '/etc/hosts';
/** Name of the pod's managed hosts file under the pod directory (kubelet `getEtcHostsPath`). */
export const etcHostsFileName = 'etc-hosts';
/** First line of the managed hosts file of a pod-network pod (kubelet `managedHostsHeader`). */
export const managedHostsHeader = '# Kubernetes-managed hosts file.\n';
/** First line of the hosts file of a host-network pod (kubelet `managedHostsHeaderWithHostNetwork`). */
export const managedHostsHeaderWithHostNetwork =
  '# Kubernetes-managed hosts file (host network).\n';
/** Mode of the managed hosts file (kubelet `ensureHostsFile`: 0644). */
export const hostsFileMode = 0o644;

/** What a pod's managed hosts file is made of (the arguments of kubelet `ensureHostsFile`). */
export interface HostsFileSpec {
  /** The sandbox's IPs (primary first); each gets a line in a pod-network pod's file. */
  podIPs: readonly string[];
  /** The pod's short hostname (`spec.hostname` or the pod name, at most 63 characters). */
  hostname: string;
  /** `<subdomain>.<namespace>.svc.<clusterDomain>`, or `''` when the pod has no subdomain. */
  domain: string;
  /** `spec.hostAliases`, in order. */
  hostAliases: readonly k8s.HostAlias[];
  /** The pod uses the node's network: the file starts from the node's hosts file. */
  hostNetwork: boolean;
}

/** The pod's managed hosts file: `<podDir>/etc-hosts` (kubelet `getEtcHostsPath`). */
export function etcHostsFilePath(podDir: string): string {
  return join(podDir, etcHostsFileName);
}

/**
 * Whether the pod's containers get the managed hosts file at all (kubelet
 * `shouldMountHostsFile`, Linux): a host-network pod always, a pod-network pod only
 * once its sandbox has an IP.
 */
export function shouldMountHostsFile(pod: k8s.Pod, podIPs: readonly string[]): boolean {
  return podIPs.length > 0 || pod.spec?.hostNetwork === true;
}

/**
 * Whether the container mounts a volume at /etc/hosts itself, which keeps the kubelet
 * from mounting its own file there (kubelet `makeMounts`). The kubelet compares the
 * mountPath as written; a trailing slash or `.` segment is normalized away here, since
 * two mounts at the same path would fail in the runtime anyway.
 */
export function containerMountsEtcHosts(container: k8s.Container): boolean {
  return (container.volumeMounts ?? []).some(
    (vm) =>
      vm.mountPath === etcHostsPath ||
      (vm.mountPath !== '' && posix.normalize(`${vm.mountPath}/`) === `${etcHostsPath}/`),
  );
}

/**
 * Whether this container gets the pod's managed hosts file bind-mounted at /etc/hosts:
 * {@link shouldMountHostsFile} and the container mounts nothing there itself.
 */
export function needsHostsMount(
  pod: k8s.Pod,
  container: k8s.Container,
  podIPs: readonly string[],
): boolean {
  return shouldMountHostsFile(pod, podIPs) && !containerMountsEtcHosts(container);
}

/**
 * The `hostAliases` section (kubelet `hostsEntriesFromHostAliases`): nothing without
 * aliases, else an empty line, `# Entries added by HostAliases.` and one line per alias,
 * `<ip>\t<hostname>\t<hostname>…`.
 */
export function hostsEntriesFromHostAliases(hostAliases: readonly k8s.HostAlias[]): string {
  if (hostAliases.length === 0) return '';
  let out = '\n# Entries added by HostAliases.\n';
  for (const alias of hostAliases) out += `${alias.ip}\t${(alias.hostnames ?? []).join('\t')}\n`;
  return out;
}

/**
 * The hosts file of a pod-network pod (kubelet `managedHostsFileContent`): the
 * {@link managedHostsHeader}, localhost for IPv4 and IPv6, the `ip6-*` names, then per
 * pod IP `<ip>\t<hostname>.<domain>\t<hostname>` (with a subdomain) or `<ip>\t<hostname>`,
 * then {@link hostsEntriesFromHostAliases}.
 */
export function managedHostsFileContent(
  podIPs: readonly string[],
  hostname: string,
  domain: string,
  hostAliases: readonly k8s.HostAlias[],
): string {
  let out =
    managedHostsHeader +
    '127.0.0.1\tlocalhost\n' +
    '::1\tlocalhost ip6-localhost ip6-loopback\n' +
    'fe00::0\tip6-localnet\n' +
    'fe00::0\tip6-mcastprefix\n' +
    'fe00::1\tip6-allnodes\n' +
    'fe00::2\tip6-allrouters\n';
  for (const ip of podIPs) {
    out += domain !== '' ? `${ip}\t${hostname}.${domain}\t${hostname}\n` : `${ip}\t${hostname}\n`;
  }
  return out + hostsEntriesFromHostAliases(hostAliases);
}

/**
 * The hosts file of a host-network pod (kubelet `nodeHostsFileContent`): the
 * {@link managedHostsHeaderWithHostNetwork}, the node's hosts file as it is, then
 * {@link hostsEntriesFromHostAliases}.
 */
export function nodeHostsFileContent(
  nodeHosts: string,
  hostAliases: readonly k8s.HostAlias[],
): string {
  return managedHostsHeaderWithHostNetwork + nodeHosts + hostsEntriesFromHostAliases(hostAliases);
}

/**
 * The {@link HostsFileSpec} of a pod: hostname and domain as kubelet
 * `GeneratePodHostNameAndDomain` (see `generatePodHostnameAndDomain`), the sandbox's IPs,
 * `spec.hostAliases` and `spec.hostNetwork`.
 * @param clusterDomain kubelet `clusterDomain` (e.g. `cluster.local`); default `''`.
 * @throws InvalidPodSpecError for an invalid hostname or subdomain.
 */
export function hostsFileSpec(
  pod: k8s.Pod,
  podIPs: readonly string[],
  clusterDomain = '',
): HostsFileSpec {
  const { hostname, domain } = generatePodHostnameAndDomain(pod, clusterDomain);
  return {
    podIPs: [...podIPs],
    hostname,
    domain,
    hostAliases: pod.spec?.hostAliases ?? [],
    hostNetwork: pod.spec?.hostNetwork === true,
  };
}

/**
 * The text of a pod's hosts file (kubelet `ensureHostsFile`): {@link nodeHostsFileContent}
 * of `nodeHosts` for a host-network pod, else {@link managedHostsFileContent}.
 * @param nodeHosts the text of the node's hosts file; used only for host-network pods.
 */
export function hostsFileContent(spec: HostsFileSpec, nodeHosts = ''): string {
  return spec.hostNetwork
    ? nodeHostsFileContent(nodeHosts, spec.hostAliases)
    : managedHostsFileContent(spec.podIPs, spec.hostname, spec.domain, spec.hostAliases);
}

/** Options of {@link ensureHostsFile}. */
export interface EnsureHostsFileOptions {
  /** The node's hosts file, copied for host-network pods; default /etc/hosts. */
  nodeHostsPath?: string;
}

/**
 * Writes a pod's hosts file (kubelet `ensureHostsFile`), mode 0644, creating the pod
 * directory when missing. As the kubelet, it is rewritten at every container start
 * (so a sandbox recreated with a new IP gets the new IP), in place: containers
 * already running see the new content through their bind mount.
 * @throws the filesystem error (e.g. the node's hosts file cannot be read); the
 *   container then fails with CreateContainerConfigError, as on a kubelet.
 */
export async function ensureHostsFile(
  path: string,
  spec: HostsFileSpec,
  options: EnsureHostsFileOptions = {},
): Promise<void> {
  const nodeHosts = spec.hostNetwork
    ? await readFile(options.nodeHostsPath ?? etcHostsPath, 'utf8')
    : '';
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, hostsFileContent(spec, nodeHosts), { mode: hostsFileMode });
  // writeFile's mode applies only to a new file, and through the umask.
  await chmod(path, hostsFileMode);
}

/**
 * The CRI mount of a pod's hosts file at /etc/hosts (kubelet `makeHostsMount`):
 * read-write (containers may edit it, as on a kubelet) with SELinux relabelling.
 */
export function makeHostsMount(hostPath: string): cri.MountInput {
  return { containerPath: etcHostsPath, hostPath, readonly: false, selinuxRelabel: true };
}
