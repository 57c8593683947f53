/**
 * Command-line flags of `nodeagent`, named as the kubelet names them. Flags override
 * the configuration file.
 */
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { InvalidConfigError } from '@nodeagent/core';

/** The flags of the agent (the run command), parsed and checked. */
export interface AgentFlags {
  /** `--config`: path of the KubeletConfiguration file. */
  config?: string;
  /** `--kubeconfig`: credentials for the API server; without it the agent runs standalone. */
  kubeconfig?: string;
  /** `--bootstrap-kubeconfig`: credentials to request a client certificate with when `--kubeconfig` is missing or invalid. */
  bootstrapKubeconfig?: string;
  /** `--cert-dir`: where certificates are kept. Default `<root-dir>/pki`. */
  certDir?: string;
  /** `--in-cluster`: reach the API server with the pod's service account (agent run as a pod). */
  inCluster?: boolean;
  /** `--node-labels`: labels added when the Node registers (`key=value,…`). */
  nodeLabels?: Record<string, string>;
  /** `--hostname-override`: the node name instead of the host name. */
  hostnameOverride?: string;
  /** `--node-ip`: the node's IP address(es), comma-separated for dual-stack. */
  nodeIp?: string[];
  /** `--root-dir`: directory for pod directories and volumes. Default `/var/lib/kubelet`. */
  rootDir?: string;
  /** `--container-runtime-endpoint`: overrides `containerRuntimeEndpoint`. */
  containerRuntimeEndpoint?: string;
  /** `--image-service-endpoint`: overrides `imageServiceEndpoint`. */
  imageServiceEndpoint?: string;
  /** `--pod-manifest-path`: overrides `staticPodPath` (the kubelet's deprecated alias). */
  podManifestPath?: string;
  /** `--v`: log verbosity, overrides `logging.verbosity`. */
  verbosity?: number;
  /** `--log-format`: `text` or `json`, overrides `logging.format`. */
  logFormat?: 'text' | 'json';
  /** `--cgroup-root`: overrides `cgroupRoot`. */
  cgroupRoot?: string;
}

/** Flags of `nodeagent pods`. */
export interface PodsFlags {
  /** `--runtime-endpoint` (or `--container-runtime-endpoint`). */
  runtimeEndpoint?: string;
  /** `-o` / `--output`: `table` (default), `wide` or `json`. */
  output: 'table' | 'wide' | 'json';
  /** `--config`: take the runtime endpoint from this configuration file. */
  config?: string;
}

/** Flags of `nodeagent config audit`. */
export interface ConfigAuditFlags {
  /** The flags that also configure the agent (`--config`, `--kubeconfig`, `--hostname-override`). */
  agent: AgentFlags;
  /** `--bootstrap-kubeconfig`: its permissions are checked too. */
  bootstrapKubeconfig?: string;
  /** Kubelet flags that override the configuration file, by config field. */
  overrides: {
    /** `--rotate-certificates[=bool]`. */
    rotateCertificates?: boolean;
    /** `--rotate-server-certificates[=bool]` (serverTLSBootstrap). */
    serverTLSBootstrap?: boolean;
    /** `--anonymous-auth[=bool]`. */
    anonymousAuth?: boolean;
    /** `--authorization-mode`. */
    authorizationMode?: 'AlwaysAllow' | 'Webhook';
    /** `--client-ca-file`. */
    clientCAFile?: string;
    /** `--read-only-port`. */
    readOnlyPort?: number;
    /** `--tls-cert-file`. */
    tlsCertFile?: string;
    /** `--tls-private-key-file`. */
    tlsPrivateKeyFile?: string;
  };
  /** `-o` / `--output`: `table` (default) or `json`. */
  output: 'table' | 'json';
}

/** What the command line asks for. */
export type Command =
  | { kind: 'run'; flags: AgentFlags }
  | { kind: 'pods'; flags: PodsFlags }
  | { kind: 'config-audit'; flags: ConfigAuditFlags }
  | { kind: 'version' }
  | { kind: 'help'; topic: 'run' | 'pods' | 'config-audit' };

/** Usage text of `nodeagent --help`. */
export const usage = `nodeagent — a Kubernetes node agent (kubelet) in TypeScript

Usage:
  nodeagent [flags]                 run the agent (standalone without --kubeconfig)
  nodeagent pods [-o wide|json]     list pods and containers straight from the runtime (CRI)
  nodeagent config audit [flags]    check the configuration against the CIS kubelet benchmark
  nodeagent version                 print the version
  nodeagent help                    this text

Flags (names and meaning as the kubelet's; flags override the config file):
  --config FILE                     KubeletConfiguration file (YAML or JSON)
  --kubeconfig FILE                 API server credentials; omit to run standalone
  --bootstrap-kubeconfig FILE       request a client certificate with these credentials when
                                    --kubeconfig is missing or its certificate invalid
  --cert-dir DIR                    certificates and keys (default <root-dir>/pki)
  --in-cluster                      use the in-cluster service account instead of --kubeconfig
  --node-labels K=V[,K=V]           labels to register the Node with
  --hostname-override NAME          node name to use instead of the host name
  --node-ip IP[,IP]                 node IP address(es)
  --root-dir DIR                    pod directories and volumes (default /var/lib/kubelet)
  --container-runtime-endpoint EP   CRI endpoint (default unix:///run/containerd/containerd.sock)
  --image-service-endpoint EP       CRI image endpoint (default: the runtime endpoint)
  --pod-manifest-path PATH          static pod directory (staticPodPath)
  --cgroup-root PATH                root cgroup of pods (cgroupRoot)
  --v N                             log verbosity: 0 info, 4 and up debug
  --log-format text|json            log format (default text)
  -h, --help                        this text
`;

/** Usage text of `nodeagent pods --help`. */
export const podsUsage = `Usage: nodeagent pods [flags]

Lists the pods and containers the container runtime has, over CRI (like crictl pods).

Flags:
  --runtime-endpoint EP   CRI endpoint (default: --config's containerRuntimeEndpoint,
                          else unix:///run/containerd/containerd.sock)
  --config FILE           KubeletConfiguration to take the endpoint from
  -o, --output FORMAT     table (default), wide or json
  -h, --help              this text
`;

/** Usage text of `nodeagent config audit --help`. */
export const configAuditUsage = `Usage: nodeagent config audit [flags]

Checks the effective configuration (the config file with the flags applied) against
the CIS Kubernetes Benchmark kubelet checks (4.2.x) and the file permission checks
(4.1.x), and prints a PASS/FAIL/WARN table. Exit code 1 when any check fails.

Flags:
  --config FILE                        KubeletConfiguration file
  --kubeconfig FILE                    kubeconfig (permissions checked)
  --bootstrap-kubeconfig FILE          bootstrap kubeconfig (permissions checked)
  --hostname-override NAME             as given to the agent
  --rotate-certificates[=BOOL]         overrides rotateCertificates
  --rotate-server-certificates[=BOOL]  overrides serverTLSBootstrap
  --anonymous-auth[=BOOL]              overrides authentication.anonymous.enabled
  --authorization-mode MODE            overrides authorization.mode
  --client-ca-file FILE                overrides authentication.x509.clientCAFile
  --read-only-port N                   overrides readOnlyPort
  --tls-cert-file FILE                 overrides tlsCertFile
  --tls-private-key-file FILE          overrides tlsPrivateKeyFile
  -o, --output FORMAT                  table (default) or json
  -h, --help                           this text
`;

function flagError(flag: string, message: string): InvalidConfigError {
  return new InvalidConfigError(`--${flag}: ${message}`);
}

function parseVerbosity(text: string): number {
  if (!/^\d+$/.test(text))
    throw flagError('v', `invalid value ${JSON.stringify(text)}: expected a number 0 or above`);
  return Number(text);
}

const labelName = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const labelPrefix = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

/** `key=value,key=value` with Kubernetes label syntax (kubelet `--node-labels`). */
function parseNodeLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of text.split(',').map((s) => s.trim())) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw flagError('node-labels', `${JSON.stringify(item)} is not key=value`);
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    const slash = key.lastIndexOf('/');
    const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    if (
      !labelName.test(name) ||
      (prefix !== undefined && (prefix.length > 253 || !labelPrefix.test(prefix)))
    ) {
      throw flagError('node-labels', `invalid label key ${JSON.stringify(key)}`);
    }
    if (value.length > 63 || !labelValue.test(value)) {
      throw flagError('node-labels', `invalid value ${JSON.stringify(value)} of label ${key}`);
    }
    labels[key] = value;
  }
  return labels;
}

function parseNodeIps(text: string): string[] {
  const ips = text.split(',').map((s) => s.trim());
  for (const ip of ips) {
    if (isIP(ip) === 0) throw flagError('node-ip', `invalid IP address ${JSON.stringify(ip)}`);
  }
  if (ips.length > 2) throw flagError('node-ip', 'at most two addresses (one IPv4, one IPv6)');
  return ips;
}

/** Strips `undefined` values so that the result fits `exactOptionalPropertyTypes`. */
function defined<T extends object>(obj: { [K in keyof T]: T[K] | undefined }): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}

function wrapParseError(err: unknown): never {
  // node:util parseArgs throws TypeErrors with codes such as ERR_PARSE_ARGS_UNKNOWN_OPTION.
  const message = err instanceof Error ? err.message : String(err);
  throw new InvalidConfigError(`${message} (see nodeagent --help)`, { cause: err });
}

/**
 * Parses the command line (without `node` and the script): the subcommand and its
 * flags. Unknown flags and bad values throw `InvalidConfigError` naming the flag.
 */
export function parseCommandLine(argv: readonly string[]): Command {
  const [first, ...rest] = argv;
  if (first === 'version') return { kind: 'version' };
  if (first === 'help') return { kind: 'help', topic: 'run' };
  if (first === 'pods') return parsePodsCommand(rest);
  if (first === 'config') {
    const [sub, ...auditArgs] = rest;
    if (sub === 'audit') return parseConfigAuditCommand(auditArgs);
    throw new InvalidConfigError(
      `unknown command "config ${sub ?? ''}" (the config command has: audit; see nodeagent --help)`,
    );
  }
  if (first !== undefined && !first.startsWith('-')) {
    throw new InvalidConfigError(`unknown command ${JSON.stringify(first)} (see nodeagent --help)`);
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        kubeconfig: { type: 'string' },
        'bootstrap-kubeconfig': { type: 'string' },
        'cert-dir': { type: 'string' },
        'in-cluster': { type: 'boolean' },
        'node-labels': { type: 'string' },
        'hostname-override': { type: 'string' },
        'node-ip': { type: 'string' },
        'root-dir': { type: 'string' },
        'container-runtime-endpoint': { type: 'string' },
        'image-service-endpoint': { type: 'string' },
        'pod-manifest-path': { type: 'string' },
        'cgroup-root': { type: 'string' },
        v: { type: 'string' },
        'log-format': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    }));
  } catch (err) {
    wrapParseError(err);
  }
  if (values.help) return { kind: 'help', topic: 'run' };
  if (values.version) return { kind: 'version' };
  const logFormat = values['log-format'];
  if (logFormat !== undefined && logFormat !== 'text' && logFormat !== 'json') {
    throw flagError(
      'log-format',
      `invalid value ${JSON.stringify(logFormat)}: expected text or json`,
    );
  }
  for (const name of ['config', 'kubeconfig', 'root-dir', 'container-runtime-endpoint'] as const) {
    if (values[name] === '') throw flagError(name, 'must not be empty');
  }
  if (values['in-cluster'] && values.kubeconfig !== undefined) {
    throw flagError('in-cluster', 'cannot be combined with --kubeconfig');
  }
  const hostnameOverride = values['hostname-override'];
  if (hostnameOverride !== undefined && hostnameOverride.trim() === '') {
    throw flagError('hostname-override', 'must not be empty');
  }
  const flags = defined<AgentFlags>({
    config: values.config,
    kubeconfig: values.kubeconfig,
    bootstrapKubeconfig: values['bootstrap-kubeconfig'],
    certDir: values['cert-dir'],
    inCluster: values['in-cluster'],
    nodeLabels:
      values['node-labels'] === undefined ? undefined : parseNodeLabels(values['node-labels']),
    hostnameOverride,
    nodeIp: values['node-ip'] === undefined ? undefined : parseNodeIps(values['node-ip']),
    rootDir: values['root-dir'],
    containerRuntimeEndpoint: values['container-runtime-endpoint'],
    imageServiceEndpoint: values['image-service-endpoint'],
    podManifestPath: values['pod-manifest-path'],
    verbosity: values.v === undefined ? undefined : parseVerbosity(values.v),
    logFormat,
    cgroupRoot: values['cgroup-root'],
  });
  return { kind: 'run', flags };
}

function parsePodsCommand(argv: readonly string[]): Command {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'runtime-endpoint': { type: 'string' },
        'container-runtime-endpoint': { type: 'string' },
        config: { type: 'string' },
        output: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    wrapParseError(err);
  }
  if (values.help) return { kind: 'help', topic: 'pods' };
  const output = values.output ?? 'table';
  if (output !== 'table' && output !== 'wide' && output !== 'json') {
    throw flagError('output', `invalid value ${JSON.stringify(output)}: expected wide or json`);
  }
  return {
    kind: 'pods',
    flags: defined<PodsFlags>({
      runtimeEndpoint: values['runtime-endpoint'] ?? values['container-runtime-endpoint'],
      output,
      config: values.config,
    }),
  };
}

/** Kubelet boolean flags take `--flag`, `--flag=true` or `--flag=false`. */
const auditBooleanFlags = [
  'rotate-certificates',
  'rotate-server-certificates',
  'anonymous-auth',
] as const;

function parseConfigAuditCommand(argv: readonly string[]): Command {
  const booleans: Partial<Record<(typeof auditBooleanFlags)[number], boolean>> = {};
  const rest: string[] = [];
  for (const arg of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const name = auditBooleanFlags.find((f) => f === m?.[1]);
    if (m === null || name === undefined) {
      rest.push(arg);
      continue;
    }
    const value = m[2];
    if (value !== undefined && value !== 'true' && value !== 'false')
      throw flagError(name, `invalid value ${JSON.stringify(value)}: expected true or false`);
    booleans[name] = value !== 'false';
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        kubeconfig: { type: 'string' },
        'bootstrap-kubeconfig': { type: 'string' },
        'hostname-override': { type: 'string' },
        'authorization-mode': { type: 'string' },
        'client-ca-file': { type: 'string' },
        'read-only-port': { type: 'string' },
        'tls-cert-file': { type: 'string' },
        'tls-private-key-file': { type: 'string' },
        output: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    wrapParseError(err);
  }
  if (values.help) return { kind: 'help', topic: 'config-audit' };
  const output = values.output ?? 'table';
  if (output !== 'table' && output !== 'json')
    throw flagError('output', `invalid value ${JSON.stringify(output)}: expected table or json`);
  const mode = values['authorization-mode'];
  if (mode !== undefined && mode !== 'AlwaysAllow' && mode !== 'Webhook')
    throw flagError(
      'authorization-mode',
      `invalid value ${JSON.stringify(mode)}: expected AlwaysAllow or Webhook`,
    );
  const portText = values['read-only-port'];
  let readOnlyPort: number | undefined;
  if (portText !== undefined) {
    readOnlyPort = /^\d+$/.test(portText) ? Number(portText) : Number.NaN;
    if (!(readOnlyPort >= 0 && readOnlyPort <= 65535))
      throw flagError(
        'read-only-port',
        `invalid value ${JSON.stringify(portText)}: expected 0 to 65535`,
      );
  }
  for (const name of ['config', 'kubeconfig', 'bootstrap-kubeconfig'] as const) {
    if (values[name] === '') throw flagError(name, 'must not be empty');
  }
  return {
    kind: 'config-audit',
    flags: {
      agent: defined<AgentFlags>({
        config: values.config,
        kubeconfig: values.kubeconfig,
        hostnameOverride: values['hostname-override'],
      }),
      ...(values['bootstrap-kubeconfig'] !== undefined
        ? { bootstrapKubeconfig: values['bootstrap-kubeconfig'] }
        : {}),
      overrides: defined<ConfigAuditFlags['overrides']>({
        rotateCertificates: booleans['rotate-certificates'],
        serverTLSBootstrap: booleans['rotate-server-certificates'],
        anonymousAuth: booleans['anonymous-auth'],
        authorizationMode: mode,
        clientCAFile: values['client-ca-file'],
        readOnlyPort,
        tlsCertFile: values['tls-cert-file'],
        tlsPrivateKeyFile: values['tls-private-key-file'],
      }),
      output,
    },
  };
}
