/**
 * `nodeagent config audit`: checks the effective configuration against the CIS
 * Kubernetes Benchmark's worker node checks — section 4.2 (Kubelet) and the file
 * permission checks of section 4.1 — numbered as in CIS Kubernetes Benchmark v1.10
 * (the two checks that are not in v1.10 say which version they come from).
 *
 * The checks read the configuration as the benchmark does: the KubeletConfiguration
 * file, with the command-line flags applied on top.
 */
import { readFile as fsReadFile, stat as fsStat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { parseDocument } from 'yaml';
import { loadAgentConfig, type AgentConfig } from './config/agent-config.js';
import type { ConfigAuditFlags } from './config/flags.js';
import { formatGoDuration } from './config/go-duration.js';
import type { KubeletConfiguration } from './config/kubelet-config.js';
import { kubeletKernelTunables } from './kernel-defaults.js';

export type { ConfigAuditFlags } from './config/flags.js';

/** Result of one check: PASS, FAIL (exit code 1) or WARN (needs a look; does not fail). */
export type AuditStatus = 'PASS' | 'FAIL' | 'WARN';

/** One audited recommendation. */
export interface AuditCheck {
  /** CIS recommendation number, e.g. `4.2.1`. */
  id: string;
  /** The recommendation's title. */
  title: string;
  status: AuditStatus;
  /** Why: the value found and what the benchmark wants. */
  reason: string;
}

/** The cipher suites CIS 4.2.12 allows (or a subset of them). */
export const cisStrongCipherSuites: readonly string[] = [
  'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305',
  'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305',
  'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  'TLS_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_RSA_WITH_AES_128_GCM_SHA256',
];

/** Owner and mode bits of a file, or undefined when it does not exist. */
export interface FileFacts {
  mode: number;
  uid: number;
  gid: number;
}

/** What the audit looks at. */
export interface AuditInput {
  /** The effective configuration (file, defaults, flags). */
  agent: AgentConfig;
  /** The configuration file's decoded object (for fields nodeagent does not model), `{}` without a file. */
  rawFile: Record<string, unknown>;
  /** `--bootstrap-kubeconfig`, when given. */
  bootstrapKubeconfig?: string;
  /** Whether `--hostname-override` was given. */
  hostnameOverridden: boolean;
  /** Whether `--rotate-certificates` was given on the command line (an explicit value). */
  rotateFlagGiven?: boolean;
  /** Reads a file's mode and owner; default `fs.stat`. */
  stat?: (path: string) => Promise<FileFacts | undefined>;
}

async function defaultStat(path: string): Promise<FileFacts | undefined> {
  try {
    const s = await fsStat(path);
    return { mode: s.mode & 0o7777, uid: s.uid, gid: s.gid };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function pass(id: string, title: string, reason: string): AuditCheck {
  return { id, title, status: 'PASS', reason };
}
function fail(id: string, title: string, reason: string): AuditCheck {
  return { id, title, status: 'FAIL', reason };
}
function warn(id: string, title: string, reason: string): AuditCheck {
  return { id, title, status: 'WARN', reason };
}

async function permissionChecks(
  ids: [string, string],
  what: string,
  path: string | undefined,
  stat: (path: string) => Promise<FileFacts | undefined>,
): Promise<AuditCheck[]> {
  const permTitle = `Ensure that the ${what} file permissions are set to 600 or more restrictive`;
  const ownerTitle = `Ensure that the ${what} file ownership is set to root:root`;
  if (path === undefined || path === '')
    return [
      pass(ids[0], permTitle, `no ${what} file is used`),
      pass(ids[1], ownerTitle, `no ${what} file is used`),
    ];
  const facts = await stat(path);
  if (facts === undefined)
    return [
      fail(ids[0], permTitle, `${path} does not exist`),
      fail(ids[1], ownerTitle, `${path} does not exist`),
    ];
  const mode = facts.mode & 0o777;
  const modeText = mode.toString(8).padStart(3, '0');
  const perm =
    (mode & ~0o600) === 0
      ? pass(ids[0], permTitle, `${path} has mode ${modeText}`)
      : fail(ids[0], permTitle, `${path} has mode ${modeText}; run chmod 600 ${path}`);
  const owner =
    facts.uid === 0 && facts.gid === 0
      ? pass(ids[1], ownerTitle, `${path} is owned by root:root`)
      : fail(
          ids[1],
          ownerTitle,
          `${path} is owned by uid ${facts.uid}, gid ${facts.gid}; run chown root:root ${path}`,
        );
  return [perm, owner];
}

function fileValue(raw: Record<string, unknown>, field: string): unknown {
  return raw[field];
}

/** Runs every check; the order is the benchmark's. */
export async function auditConfiguration(input: AuditInput): Promise<AuditCheck[]> {
  const c: KubeletConfiguration = input.agent.kubelet;
  const raw = input.rawFile;
  const stat = input.stat ?? defaultStat;
  const checks: AuditCheck[] = [];

  // 4.1 Worker node configuration files.
  checks.push(
    ...(await permissionChecks(['4.1.5', '4.1.6'], '--kubeconfig', input.agent.kubeconfig, stat)),
    ...(await permissionChecks(
      ['4.1.7', '4.1.8'],
      'client certificate authorities (clientCAFile)',
      c.authentication.x509.clientCAFile,
      stat,
    )),
    ...(await permissionChecks(['4.1.9', '4.1.10'], '--config', input.agent.configFile, stat)),
  );
  // Not numbered by CIS, but the bootstrap kubeconfig holds a token: held to 4.1.5/4.1.6.
  if (input.bootstrapKubeconfig !== undefined)
    checks.push(
      ...(await permissionChecks(
        ['4.1.5-bootstrap', '4.1.6-bootstrap'],
        '--bootstrap-kubeconfig',
        input.bootstrapKubeconfig,
        stat,
      )),
    );

  // 4.2 Kubelet.
  let t = 'Ensure that the --anonymous-auth argument is set to false';
  checks.push(
    c.authentication.anonymous.enabled
      ? fail('4.2.1', t, 'authentication.anonymous.enabled is true: set it to false')
      : pass('4.2.1', t, 'authentication.anonymous.enabled is false'),
  );
  t = 'Ensure that the --authorization-mode argument is not set to AlwaysAllow';
  checks.push(
    c.authorization.mode === 'AlwaysAllow'
      ? fail('4.2.2', t, 'authorization.mode is AlwaysAllow: set it to Webhook')
      : pass('4.2.2', t, `authorization.mode is ${c.authorization.mode}`),
  );
  t = 'Ensure that the --client-ca-file argument is set as appropriate';
  checks.push(
    c.authentication.x509.clientCAFile === ''
      ? fail('4.2.3', t, 'authentication.x509.clientCAFile is not set')
      : pass(
          '4.2.3',
          t,
          `authentication.x509.clientCAFile is ${c.authentication.x509.clientCAFile}`,
        ),
  );
  t = 'Verify that the --read-only-port argument is set to 0';
  checks.push(
    c.readOnlyPort === 0
      ? pass('4.2.4', t, 'readOnlyPort is 0 (disabled)')
      : fail('4.2.4', t, `readOnlyPort is ${c.readOnlyPort}: set it to 0`),
  );
  t = 'Ensure that the --streaming-connection-idle-timeout argument is not set to 0';
  {
    // The loaded configuration already refused a malformed or negative duration.
    const ms = c.streamingConnectionIdleTimeout;
    const given = fileValue(raw, 'streamingConnectionIdleTimeout') !== undefined;
    checks.push(
      ms === 0
        ? fail(
            '4.2.5',
            t,
            'streamingConnectionIdleTimeout is 0: exec/attach/port-forward streams never time out; set it to, e.g., 5m',
          )
        : pass(
            '4.2.5',
            t,
            `streamingConnectionIdleTimeout is ${formatGoDuration(ms)}${given ? '' : ' (the default)'}: idle exec/attach/port-forward streams through the node API are closed after it`,
          ),
    );
  }
  t = 'Ensure that the --make-iptables-util-chains argument is set to true';
  {
    const v = fileValue(raw, 'makeIPTablesUtilChains');
    checks.push(
      c.makeIPTablesUtilChains
        ? pass(
            '4.2.6',
            t,
            `makeIPTablesUtilChains is ${v === undefined ? 'not set (default true)' : 'true'}: nodeagent creates the kubelet's iptables chains at start (KUBE-IPTABLES-HINT in mangle; KUBE-FIREWALL in filter, jumped to from INPUT and OUTPUT, dropping non-local traffic to 127.0.0.0/8) and re-creates them when the KUBE-KUBELET-CANARY chains are flushed`,
          )
        : fail(
            '4.2.6',
            t,
            'makeIPTablesUtilChains is false: nodeagent does not create the iptables chains; set it to true',
          ),
    );
  }
  t = 'Ensure that the --hostname-override argument is not set';
  checks.push(
    input.hostnameOverridden
      ? warn(
          '4.2.7',
          t,
          `--hostname-override is set (node name ${input.agent.nodeName}); the benchmark wants it unset unless the platform needs it`,
        )
      : pass('4.2.7', t, '--hostname-override is not set'),
  );
  t =
    'Ensure that the eventRecordQPS argument is set to a level which ensures appropriate event capture';
  checks.push(
    c.eventRecordQPS > 0
      ? pass('4.2.8', t, `eventRecordQPS is ${c.eventRecordQPS} (burst ${c.eventBurst})`)
      : warn(
          '4.2.8',
          t,
          'eventRecordQPS is 0: events are not rate limited, a flood of events can load the API server',
        ),
  );
  t = 'Ensure that the --tls-cert-file and --tls-private-key-file arguments are set as appropriate';
  {
    const cert = c.tlsCertFile !== '';
    const key = c.tlsPrivateKeyFile !== '';
    checks.push(
      cert && key
        ? pass('4.2.9', t, `tlsCertFile ${c.tlsCertFile}, tlsPrivateKeyFile ${c.tlsPrivateKeyFile}`)
        : cert !== key
          ? fail('4.2.9', t, 'only one of tlsCertFile and tlsPrivateKeyFile is set: set both')
          : c.serverTLSBootstrap
            ? pass(
                '4.2.9',
                t,
                'serverTLSBootstrap is true: the serving certificate comes from a kubelet-serving CSR',
              )
            : fail(
                '4.2.9',
                t,
                'neither tlsCertFile/tlsPrivateKeyFile nor serverTLSBootstrap is set: the server would use a self-signed certificate',
              ),
    );
  }
  t = 'Ensure that the --rotate-certificates argument is not set to false';
  {
    const explicit =
      fileValue(raw, 'rotateCertificates') !== undefined || input.rotateFlagGiven === true;
    checks.push(
      c.rotateCertificates
        ? pass('4.2.10', t, 'rotateCertificates is true')
        : explicit
          ? fail('4.2.10', t, 'rotateCertificates is set to false: set it to true')
          : pass(
              '4.2.10',
              t,
              'rotateCertificates is not set (CIS passes an unset value; set it to true to rotate the client certificate)',
            ),
    );
  }
  t = 'Verify that the RotateKubeletServerCertificate argument is set to true';
  {
    const gates = fileValue(raw, 'featureGates');
    const gate =
      typeof gates === 'object' && gates !== null
        ? (gates as Record<string, unknown>).RotateKubeletServerCertificate
        : undefined;
    checks.push(
      gate === false
        ? fail('4.2.11', t, 'featureGates.RotateKubeletServerCertificate is false')
        : c.serverTLSBootstrap
          ? pass('4.2.11', t, 'serverTLSBootstrap is true: the serving certificate is rotated')
          : c.tlsCertFile !== ''
            ? pass(
                '4.2.11',
                t,
                'RotateKubeletServerCertificate is on (default); the serving certificate is given by tlsCertFile',
              )
            : warn(
                '4.2.11',
                t,
                'RotateKubeletServerCertificate is on but serverTLSBootstrap is false: no serving certificate is requested or rotated',
              ),
    );
  }
  t = 'Ensure that the Kubelet only makes use of Strong Cryptographic Ciphers';
  {
    const weak = c.tlsCipherSuites.filter((s) => !cisStrongCipherSuites.includes(s));
    checks.push(
      c.tlsCipherSuites.length === 0
        ? fail(
            '4.2.12',
            t,
            'tlsCipherSuites is not set: the defaults include suites outside the CIS list',
          )
        : weak.length > 0
          ? fail('4.2.12', t, `tlsCipherSuites has suites outside the CIS list: ${weak.join(', ')}`)
          : pass('4.2.12', t, `tlsCipherSuites: ${c.tlsCipherSuites.join(', ')}`),
    );
  }
  t = 'Ensure that a limit is set on pod PIDs';
  checks.push(
    c.podPidsLimit > 0
      ? pass('4.2.13', t, `podPidsLimit is ${c.podPidsLimit}`)
      : fail('4.2.13', t, 'podPidsLimit is not set (-1, no limit): set e.g. 4096'),
  );
  t = 'Ensure that the --seccomp-default parameter is set to true';
  {
    const v = fileValue(raw, 'seccompDefault');
    checks.push(
      c.seccompDefault
        ? pass(
            '4.2.14',
            t,
            'seccompDefault is true: containers without a seccomp profile run with RuntimeDefault',
          )
        : fail(
            '4.2.14',
            t,
            `seccompDefault is ${v === undefined ? 'not set (false)' : 'false'}: containers without a seccomp profile run Unconfined; set it to true`,
          ),
    );
  }
  t = 'Ensure that the --protect-kernel-defaults argument is set to true (CIS 1.8 4.2.6)';
  {
    const v = fileValue(raw, 'protectKernelDefaults');
    checks.push(
      c.protectKernelDefaults
        ? pass(
            '1.8-4.2.6',
            t,
            `protectKernelDefaults is true: nodeagent refuses to start when a kernel tunable differs from the kubelet's value (${kubeletKernelTunables.map((k) => `${k.name}=${k.value}`).join(', ')})`,
          )
        : warn(
            '1.8-4.2.6',
            t,
            `protectKernelDefaults is ${v === undefined ? 'not set (false)' : 'false'}: nodeagent sets the kernel tunables the kubelet needs itself at start; the benchmark wants true (set them on the host, e.g. in /etc/sysctl.d, and refuse to start otherwise)`,
          ),
    );
  }
  return checks;
}

/** The checks as a fixed-width table: ID, STATUS, CHECK, REASON. */
export function formatAuditTable(checks: readonly AuditCheck[]): string {
  const header = { id: 'ID', status: 'STATUS', title: 'CHECK', reason: 'REASON' };
  const rows = [header, ...checks];
  const idWidth = Math.max(...rows.map((r) => r.id.length));
  const statusWidth = Math.max(...rows.map((r) => r.status.length));
  const lines = rows.map(
    (r) =>
      `${r.id.padEnd(idWidth)}  ${r.status.padEnd(statusWidth)}  ${r.title}\n${' '.repeat(idWidth + statusWidth + 4)}${r === header ? r.reason : `↳ ${r.reason}`}`,
  );
  const counts = (s: AuditStatus): number => checks.filter((c) => c.status === s).length;
  return `${lines.join('\n')}\n\n${counts('PASS')} passed, ${counts('FAIL')} failed, ${counts('WARN')} warnings\n`;
}

/** Dependencies of {@link runConfigAuditCommand}; tests replace the file system. */
export interface ConfigAuditDeps {
  readFile?: (path: string) => Promise<string>;
  stat?: (path: string) => Promise<FileFacts | undefined>;
  hostname?: () => string;
}

function applyOverrides(
  config: KubeletConfiguration,
  o: ConfigAuditFlags['overrides'],
): KubeletConfiguration {
  return {
    ...config,
    ...(o.rotateCertificates !== undefined ? { rotateCertificates: o.rotateCertificates } : {}),
    ...(o.serverTLSBootstrap !== undefined ? { serverTLSBootstrap: o.serverTLSBootstrap } : {}),
    ...(o.readOnlyPort !== undefined ? { readOnlyPort: o.readOnlyPort } : {}),
    ...(o.tlsCertFile !== undefined ? { tlsCertFile: o.tlsCertFile } : {}),
    ...(o.tlsPrivateKeyFile !== undefined ? { tlsPrivateKeyFile: o.tlsPrivateKeyFile } : {}),
    authentication: {
      ...config.authentication,
      anonymous:
        o.anonymousAuth !== undefined
          ? { enabled: o.anonymousAuth }
          : config.authentication.anonymous,
      x509:
        o.clientCAFile !== undefined
          ? { clientCAFile: o.clientCAFile }
          : config.authentication.x509,
    },
    authorization:
      o.authorizationMode !== undefined
        ? { ...config.authorization, mode: o.authorizationMode }
        : config.authorization,
  };
}

/**
 * Runs `nodeagent config audit`: loads the configuration as the agent would, prints
 * the table (or JSON) to `out` and resolves with the exit code: 1 when any check
 * FAILs (or the configuration cannot be loaded, message on `err`), else 0.
 */
export async function runConfigAuditCommand(
  flags: ConfigAuditFlags,
  io: { stdout: Writable; stderr: Writable },
  deps: ConfigAuditDeps = {},
): Promise<number> {
  const readFile = deps.readFile ?? ((path: string) => fsReadFile(path, 'utf8'));
  let agent: AgentConfig;
  let rawFile: Record<string, unknown> = {};
  try {
    agent = await loadAgentConfig(flags.agent, {
      readFile,
      ...(deps.hostname ? { hostname: deps.hostname } : {}),
    });
    if (flags.agent.config !== undefined) {
      const decoded: unknown = parseDocument(await readFile(flags.agent.config)).toJS();
      if (typeof decoded === 'object' && decoded !== null && !Array.isArray(decoded))
        rawFile = decoded as Record<string, unknown>;
    }
  } catch (err) {
    io.stderr.write(
      `nodeagent config audit: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    return 1;
  }
  agent = { ...agent, kubelet: applyOverrides(agent.kubelet, flags.overrides) };
  const checks = await auditConfiguration({
    agent,
    rawFile,
    hostnameOverridden: flags.agent.hostnameOverride !== undefined,
    rotateFlagGiven: flags.overrides.rotateCertificates !== undefined,
    ...(flags.bootstrapKubeconfig !== undefined
      ? { bootstrapKubeconfig: flags.bootstrapKubeconfig }
      : {}),
    ...(deps.stat ? { stat: deps.stat } : {}),
  });
  io.stdout.write(
    flags.output === 'json' ? `${JSON.stringify({ checks }, null, 2)}\n` : formatAuditTable(checks),
  );
  return checks.some((c) => c.status === 'FAIL') ? 1 : 0;
}
