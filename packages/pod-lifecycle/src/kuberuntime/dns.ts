import type { cri, k8s } from '@nodeagent/core';
import { InvalidPodSpecError } from './errors.js';

/** `pod.spec.dnsConfig` (core/v1 `PodDNSConfig`). */
export type PodDNSConfig = k8s.PodDNSConfig;

/** The kubelet's DNS settings (`clusterDomain`, `clusterDNS`, `resolvConf`). */
export interface DnsOptions {
  /** Cluster domain, e.g. `cluster.local` (kubelet `clusterDomain`); none by default. */
  clusterDomain?: string;
  /** Cluster DNS server IPs (kubelet `clusterDNS`); none by default. */
  clusterDNS?: readonly string[];
  /**
   * The text of the node's resolver configuration (the file kubelet `resolvConf`
   * names, normally /etc/resolv.conf). When undefined or empty, pods using the node's
   * DNS get `nameserver 127.0.0.1` and `search .`, as the kubelet with `--resolv-conf=""`.
   */
  resolvConf?: string;
  /** Node IPs: with no resolv.conf, an IPv6-only node gets `::1` instead of 127.0.0.1. */
  nodeIPs?: readonly string[];
}

/** DNS settings as lists (the shape of a CRI `DNSConfig`). */
export interface DnsSettings {
  servers: string[];
  searches: string[];
  options: string[];
}

/** Options the kubelet gives cluster-DNS pods (`defaultDNSOptions`). */
export const defaultDNSOptions: readonly string[] = ['ndots:5'];
/** Most nameservers a resolver uses (`validation.MaxDNSNameservers`). */
export const maxDNSNameservers = 3;
/** Most search domains (`validation.MaxDNSSearchPaths`). */
export const maxDNSSearchPaths = 32;
/** Most characters in the search line (`validation.MaxDNSSearchListChars`). */
export const maxDNSSearchListChars = 2048;

function mergeOptions(existing: readonly string[], added: readonly string[]): string[] {
  const byName = new Map<string, string>();
  for (const o of [...existing, ...added]) byName.set(o.split(':')[0] ?? o, o);
  return [...byName.values()];
}

/**
 * Parses resolv.conf text (kubelet `parseResolvConf`): `nameserver` lines add servers,
 * the last `search` line gives the searches (trailing dots removed), `options` lines
 * accumulate (a later option of the same name wins). `#` and `;` start comments.
 */
export function parseResolvConf(text: string): DnsSettings {
  const servers: string[] = [];
  let searches: string[] = [];
  let options: string[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    const fields = trimmed.split(/\s+/).filter((f) => f !== '');
    const [keyword, ...rest] = fields;
    if (keyword === 'nameserver' && rest[0] !== undefined) servers.push(rest[0]);
    else if (keyword === 'search')
      searches = rest.map((s) => (s === '.' ? s : s.replace(/\.$/, '')));
    else if (keyword === 'options') options = mergeOptions(options, rest);
  }
  return { servers, searches, options };
}

function omitDuplicates(list: readonly string[]): string[] {
  return [...new Set(list)];
}

function isIPv6(ip: string): boolean {
  return ip.includes(':');
}

/**
 * The pod's DNS policy in effect (kubelet `getPodDNSType`): `None`; `ClusterFirst` for
 * `ClusterFirstWithHostNet` and for `ClusterFirst` (the default) unless the pod uses
 * the host network; `Default` for `Default` and for host-network `ClusterFirst` pods.
 * @throws InvalidPodSpecError for an unknown policy.
 */
export function podDNSType(pod: k8s.Pod): 'None' | 'ClusterFirst' | 'Default' {
  const policy = pod.spec?.dnsPolicy ?? 'ClusterFirst';
  switch (policy) {
    case 'None':
      return 'None';
    case 'ClusterFirstWithHostNet':
      return 'ClusterFirst';
    case 'ClusterFirst':
      return pod.spec?.hostNetwork ? 'Default' : 'ClusterFirst';
    case 'Default':
      return 'Default';
    default:
      throw new InvalidPodSpecError(
        'spec.dnsPolicy',
        `unknown DNS policy ${JSON.stringify(policy)} (ClusterFirst, ClusterFirstWithHostNet, Default, None)`,
      );
  }
}

function fitSearches(searches: string[]): string[] {
  let out = searches.slice(0, maxDNSSearchPaths);
  while (out.length > 0 && out.join(' ').length > maxDNSSearchListChars) out = out.slice(0, -1);
  return out;
}

/**
 * The sandbox's DNS configuration (kubelet `dns.Configurer.GetPodDNS`):
 * - `ClusterFirst` with cluster DNS servers: those servers, searches
 *   `<ns>.svc.<domain> svc.<domain> <domain>` + the node's searches, options `ndots:5`;
 *   without cluster DNS servers it falls back to `Default` (the kubelet also raises a
 *   `MissingClusterDNS` event);
 * - `Default`: the node's resolv.conf ({@link DnsOptions.resolvConf});
 * - `None`: empty;
 * then `pod.spec.dnsConfig` is merged in (servers and searches appended without
 * duplicates, options merged by name), and the lists cut to the resolver's limits
 * (3 servers, 32 searches / 2048 characters).
 */
export function podDNSConfig(pod: k8s.Pod, options: DnsOptions = {}): cri.DNSConfigInput {
  const type = podDNSType(pod);
  const resolv = options.resolvConf ?? '';
  let config: DnsSettings = parseResolvConf(resolv);
  const clusterDNS = options.clusterDNS ?? [];
  if (type === 'None') {
    config = { servers: [], searches: [], options: [] };
  } else if (type === 'ClusterFirst' && clusterDNS.length > 0) {
    let searches = config.searches;
    const domain = options.clusterDomain ?? '';
    if (domain !== '') {
      const ns = pod.metadata?.namespace ?? 'default';
      searches = omitDuplicates([`${ns}.svc.${domain}`, `svc.${domain}`, domain, ...searches]);
    }
    config = { servers: [...clusterDNS], searches, options: [...defaultDNSOptions] };
  } else if (resolv.trim() === '') {
    const nodeIPs = options.nodeIPs ?? [];
    const servers = nodeIPs.map((ip) => (isIPv6(ip) ? '::1' : '127.0.0.1'));
    config.servers = servers.length > 0 ? omitDuplicates(servers) : ['127.0.0.1'];
    config.searches = ['.'];
  }
  const podConfig = pod.spec?.dnsConfig;
  if (podConfig) {
    config = {
      servers: omitDuplicates([...config.servers, ...(podConfig.nameservers ?? [])]),
      searches: omitDuplicates([...config.searches, ...(podConfig.searches ?? [])]),
      options: mergeOptions(
        config.options,
        (podConfig.options ?? [])
          .filter((o) => o.name)
          .map((o) =>
            o.value !== undefined && o.value !== '' ? `${o.name}:${o.value}` : `${o.name}`,
          ),
      ),
    };
  }
  return {
    servers: config.servers.slice(0, maxDNSNameservers),
    searches: fitSearches(config.searches),
    options: config.options,
  };
}
