/**
 * TLS bootstrapping of the agent's client certificate, as the kubelet does with
 * `--bootstrap-kubeconfig` (pkg/kubelet/certificate/bootstrap `LoadClientCert`):
 * when the `--kubeconfig` file is missing or its client certificate is unusable or
 * expired, request a client certificate with the bootstrap credentials (a bootstrap
 * token), store it as `<certDir>/kubelet-client-current.pem` and write a kubeconfig
 * at the `--kubeconfig` path that uses that file for certificate and key and the
 * bootstrap kubeconfig's cluster (server, CA).
 */
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import {
  InvalidConfigError,
  RealClock,
  noopLogger,
  type Clock,
  type Logger,
} from '@nodeagent/core';
import {
  generateNodePrivateKey,
  makeCertificateSigningRequest,
  parseCertificatePair,
} from './certificate-request.js';
import { kubeletClientSignerName, requestCertificate } from './certificate-signing-request.js';
import { CertificateFileStore, kubeletClientPairPrefix } from './certificate-store.js';
import { createKubeApi, loadKubeConfig, type KubeApi, type KubeApiOptions } from './kube-api.js';

/** How long bootstrapping waits for the CSR to be signed (kubelet: 1 hour), in ms. */
export const defaultBootstrapWaitTimeoutMs = 3_600_000;
/** The key kept while a bootstrap CSR is pending, reused after a restart (kubelet `kubelet-client.key.tmp`). */
export const bootstrapTempKeyFile = 'kubelet-client.key.tmp';

/** Options of {@link bootstrapClientCertificate}. */
export interface BootstrapClientCertificateOptions {
  /** kubelet `--kubeconfig`: read when valid, written after bootstrapping. */
  kubeconfigPath: string;
  /** kubelet `--bootstrap-kubeconfig`: the bootstrap token credentials. */
  bootstrapKubeconfigPath: string;
  /** kubelet `--cert-dir` (default `/var/lib/kubelet/pki`). */
  certDir: string;
  /** The node name: CN `system:node:<nodeName>`. */
  nodeName: string;
  /** `spec.expirationSeconds` of the CSR; default: the signer's duration. */
  requestedDurationSeconds?: number;
  /** How long to wait for the CSR to be signed, ms. Default {@link defaultBootstrapWaitTimeoutMs}. */
  waitTimeoutMs?: number;
  /** Ends the wait early. */
  signal?: AbortSignal;
  clock?: Clock;
  logger?: Logger;
  /** Options of the bootstrap API client (QPS, user agent, metrics). */
  kubeApiOptions?: KubeApiOptions;
  /** Builds the bootstrap API client; default {@link createKubeApi}. */
  createApi?: (config: KubeConfig, options: KubeApiOptions) => KubeApi;
}

/** What {@link bootstrapClientCertificate} did. */
export interface BootstrapClientCertificateResult {
  /** True when a new certificate was requested; false when the kubeconfig was already valid. */
  bootstrapped: boolean;
  /** The kubeconfig to build API clients from (the `--kubeconfig` path). */
  kubeconfigPath: string;
  /** `<certDir>/kubelet-client-current.pem` when it was written or reused. */
  certificatePath?: string;
  /** End of validity of the client certificate in use, ms since the epoch (when one was found). */
  notAfter?: number;
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Whether a kubeconfig can be used as it is (kubelet `isClientConfigStillValid`):
 * it loads, has a current cluster and a client certificate (file or data) that
 * parses, and none of its certificates has expired at `now`. Token-only kubeconfigs
 * are not valid for a bootstrapping node, as in the kubelet.
 */
export async function isClientConfigStillValid(
  kubeconfigPath: string,
  now: number,
): Promise<boolean> {
  let kc: KubeConfig;
  try {
    kc = loadKubeConfig({ kubeconfigPath });
  } catch {
    return false;
  }
  const user = kc.getCurrentUser();
  if (!user) return false;
  let certText: string;
  let keyText: string;
  try {
    certText = user.certData
      ? Buffer.from(user.certData, 'base64').toString('utf8')
      : user.certFile
        ? await readFile(user.certFile, 'utf8')
        : '';
    keyText = user.keyData
      ? Buffer.from(user.keyData, 'base64').toString('utf8')
      : user.keyFile
        ? await readFile(user.keyFile, 'utf8')
        : '';
  } catch {
    return false;
  }
  if (certText === '' || keyText === '') return false;
  try {
    const pair = parseCertificatePair(certText, keyText);
    return pair.notAfter > now;
  } catch {
    return false;
  }
}

/** The kubeconfig the kubelet writes after bootstrapping (`writeKubeconfigFromBootstrapping`). */
async function writeKubeconfigFromBootstrapping(
  bootstrap: KubeConfig,
  kubeconfigPath: string,
  pemPath: string,
): Promise<void> {
  const cluster = bootstrap.getCurrentCluster();
  if (!cluster) throw new InvalidConfigError('bootstrap kubeconfig has no current cluster');
  let caData = cluster.caData;
  if (caData === undefined && cluster.caFile !== undefined)
    caData = (await readFile(cluster.caFile)).toString('base64');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'default-cluster',
        cluster: {
          server: cluster.server,
          ...(caData !== undefined ? { 'certificate-authority-data': caData } : {}),
          ...(cluster.skipTLSVerify ? { 'insecure-skip-tls-verify': true } : {}),
          ...(cluster.tlsServerName !== undefined
            ? { 'tls-server-name': cluster.tlsServerName }
            : {}),
        },
      },
    ],
    contexts: [
      {
        name: 'default-context',
        context: { cluster: 'default-cluster', namespace: 'default', user: 'default-auth' },
      },
    ],
    'current-context': 'default-context',
    users: [
      { name: 'default-auth', user: { 'client-certificate': pemPath, 'client-key': pemPath } },
    ],
  };
  await mkdir(dirname(kubeconfigPath), { recursive: true });
  const tmp = `${kubeconfigPath}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, kubeconfigPath);
}

/**
 * Makes sure `kubeconfigPath` holds working client-certificate credentials,
 * bootstrapping them through a CSR with the bootstrap kubeconfig when needed. Call
 * it before building the agent's API clients.
 *
 * Reuses a still-valid `kubelet-client-current.pem` in `certDir` instead of asking
 * again, and a pending key (`kubelet-client.key.tmp`) after a restart.
 * @throws PermissionDeniedError when the CSR is denied, FailedPreconditionError when
 *   it failed, DeadlineExceededError after the wait timeout, InvalidConfigError for an
 *   unusable bootstrap kubeconfig.
 */
export async function bootstrapClientCertificate(
  options: BootstrapClientCertificateOptions,
): Promise<BootstrapClientCertificateResult> {
  const clock = options.clock ?? new RealClock();
  const logger = (options.logger ?? noopLogger).child({ component: 'certificate-bootstrap' });
  const kubeconfigPath = resolve(options.kubeconfigPath);
  if (await isClientConfigStillValid(kubeconfigPath, clock.now())) {
    logger.info('Kubeconfig exists and is valid, skipping bootstrap', { path: kubeconfigPath });
    return { bootstrapped: false, kubeconfigPath };
  }
  const bootstrapConfig = loadKubeConfig({ kubeconfigPath: options.bootstrapKubeconfigPath });
  const certDir = resolve(options.certDir);
  const store = new CertificateFileStore({
    certDir,
    pairNamePrefix: kubeletClientPairPrefix,
    clock,
  });
  const pemPath = store.currentPath();
  // A pair from an earlier run that is still good: point the kubeconfig at it.
  let existing;
  try {
    existing = await store.current();
  } catch (err) {
    logger.warn('Ignoring an unusable current client certificate', { err: (err as Error).message });
  }
  if (existing !== undefined && existing.notAfter > clock.now()) {
    await writeKubeconfigFromBootstrapping(bootstrapConfig, kubeconfigPath, pemPath);
    logger.info('Using the existing client certificate', { path: pemPath });
    return {
      bootstrapped: false,
      kubeconfigPath,
      certificatePath: pemPath,
      notAfter: existing.notAfter,
    };
  }
  logger.info('Using bootstrap kubeconfig to generate TLS client cert, key and kubeconfig file', {
    path: options.bootstrapKubeconfigPath,
  });
  await mkdir(certDir, { recursive: true, mode: 0o755 });
  const keyPath = resolve(certDir, bootstrapTempKeyFile);
  let keyPem: string | undefined;
  try {
    keyPem = await readFile(keyPath, 'utf8');
    makeCertificateSigningRequest({ commonName: 'probe', organizations: [] }, keyPem);
  } catch (err) {
    if (keyPem !== undefined || errnoCode(err) !== 'ENOENT')
      logger.warn('Ignoring an unusable pending bootstrap key', { path: keyPath });
    keyPem = undefined;
  }
  if (keyPem === undefined) {
    keyPem = generateNodePrivateKey();
    await writeFile(keyPath, keyPem, { mode: 0o600 });
  }
  const createApi = options.createApi ?? createKubeApi;
  const api = createApi(bootstrapConfig, { clock, ...options.kubeApiOptions });
  const csrPem = makeCertificateSigningRequest(
    { commonName: `system:node:${options.nodeName}`, organizations: ['system:nodes'] },
    keyPem,
  );
  const certPem = await requestCertificate({
    api,
    csrPem,
    signerName: kubeletClientSignerName,
    usages: ['digital signature', 'client auth'],
    ...(options.requestedDurationSeconds !== undefined
      ? { expirationSeconds: options.requestedDurationSeconds }
      : {}),
    clock,
    timeoutMs: options.waitTimeoutMs ?? defaultBootstrapWaitTimeoutMs,
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
    logger,
  });
  const pair = await store.update(certPem, keyPem);
  await unlink(keyPath).catch(() => undefined);
  await writeKubeconfigFromBootstrapping(bootstrapConfig, kubeconfigPath, pemPath);
  logger.info('Bootstrapped the client certificate', {
    path: pemPath,
    expiration: new Date(pair.notAfter).toISOString(),
  });
  return { bootstrapped: true, kubeconfigPath, certificatePath: pemPath, notAfter: pair.notAfter };
}
