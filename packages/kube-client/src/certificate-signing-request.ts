/**
 * Requesting a certificate through a certificates.k8s.io/v1 CertificateSigningRequest
 * and waiting for it, as client-go's `util/certificate/csr` does (`RequestCertificate`
 * + `WaitForCertificate`): create the CSR (generateName `csr-`), watch it by name
 * until a signer put the certificate in `status.certificate`; Denied or Failed end
 * the wait with a clear error, and so does the timeout.
 */
import type { V1CertificateSigningRequest } from '@kubernetes/client-node';
import {
  CancelledError,
  DeadlineExceededError,
  FailedPreconditionError,
  PermissionDeniedError,
  UnavailableError,
  noopLogger,
  type Clock,
  type Logger,
  type Timer,
} from '@nodeagent/core';
import { apiFailureOf, rawApiCall } from './api-call.js';
import type { KubeApi } from './kube-api.js';

/** Signer of kubelet client certificates (CN `system:node:<node>`, O `system:nodes`). */
export const kubeletClientSignerName = 'kubernetes.io/kube-apiserver-client-kubelet';
/** Signer of kubelet serving certificates (the :10250 server). */
export const kubeletServingSignerName = 'kubernetes.io/kubelet-serving';

/** How long the certificate manager waits for a CSR to be approved and signed (client-go `certificateWaitTimeout`, 15 min), in ms. */
export const defaultCertificateWaitTimeoutMs = 15 * 60_000;
/** How long to wait before re-opening a CSR watch that ended, in ms. */
const watchRestartDelayMs = 1_000;

/** What {@link requestCertificate} asks for. */
export interface CertificateRequestOptions {
  /** The API connection to create the CSR with (bootstrap token or the current client certificate). */
  api: KubeApi;
  /** The PEM CSR (`CERTIFICATE REQUEST`). */
  csrPem: string;
  /** `spec.signerName`, e.g. {@link kubeletClientSignerName}. */
  signerName: string;
  /** `spec.usages`, e.g. `['digital signature', 'client auth']`. */
  usages: readonly string[];
  /** `spec.expirationSeconds` (at least 600); omitted: the signer's default. */
  expirationSeconds?: number;
  clock: Clock;
  /** Give up after this long, in ms. Default {@link defaultCertificateWaitTimeoutMs}. */
  timeoutMs?: number;
  /** Ends the wait early with CancelledError. */
  signal?: AbortSignal;
  logger?: Logger;
}

interface CsrCondition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

/** The JSON shape of the CSR fields read here. */
interface CsrJson {
  metadata?: { name?: string; uid?: string; resourceVersion?: string };
  status?: { certificate?: string; conditions?: CsrCondition[] };
}

function asCsr(raw: unknown): CsrJson {
  return typeof raw === 'object' && raw !== null ? raw : {};
}

/** The outcome a CSR shows: still pending, the issued PEM, or a terminal failure. */
function csrOutcome(
  csr: CsrJson,
  name: string,
): { state: 'pending' } | { state: 'issued'; certPem: string } | { state: 'failed'; error: Error } {
  const conditions = csr.status?.conditions ?? [];
  const find = (type: string): CsrCondition | undefined =>
    conditions.find((c) => c.type === type && (c.status ?? 'True') === 'True');
  const detail = (c: CsrCondition): string =>
    [c.reason && `reason: ${c.reason}`, c.message && `message: ${c.message}`]
      .filter(Boolean)
      .join(', ');
  const denied = find('Denied');
  if (denied)
    return {
      state: 'failed',
      error: new PermissionDeniedError(
        `certificate signing request ${name} is denied${detail(denied) ? ` (${detail(denied)})` : ''}`,
        { operation: 'CertificateSigningRequest', detail: denied.message ?? '' },
      ),
    };
  const failed = find('Failed');
  if (failed)
    return {
      state: 'failed',
      error: new FailedPreconditionError(
        `certificate signing request ${name} failed${detail(failed) ? ` (${detail(failed)})` : ''}`,
        { operation: 'CertificateSigningRequest', detail: failed.message ?? '' },
      ),
    };
  const certificate = csr.status?.certificate;
  if (find('Approved') && typeof certificate === 'string' && certificate !== '')
    return { state: 'issued', certPem: Buffer.from(certificate, 'base64').toString('utf8') };
  return { state: 'pending' };
}

/**
 * Creates a CSR and waits until it is signed; resolves with the issued certificate
 * chain (PEM). Rejects with `PermissionDeniedError` when the CSR is denied,
 * `FailedPreconditionError` when the signer marked it Failed,
 * `DeadlineExceededError` after `timeoutMs`, `CancelledError` when `signal` aborts,
 * and `UnavailableError` when the CSR cannot be created.
 */
export async function requestCertificate(options: CertificateRequestOptions): Promise<string> {
  const { api, clock } = options;
  const logger = options.logger ?? noopLogger;
  if (options.signal?.aborted) throw new CancelledError('certificate request cancelled');
  const body: V1CertificateSigningRequest = {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { generateName: 'csr-' },
    spec: {
      request: Buffer.from(options.csrPem, 'utf8').toString('base64'),
      signerName: options.signerName,
      usages: [...options.usages],
      ...(options.expirationSeconds !== undefined
        ? { expirationSeconds: options.expirationSeconds }
        : {}),
    },
  };
  let created: CsrJson;
  try {
    created = asCsr(
      await rawApiCall(
        (o) => api.certificates.createCertificateSigningRequest({ body }, o),
        options.signal,
      ),
    );
  } catch (err) {
    if (options.signal?.aborted) throw new CancelledError('certificate request cancelled');
    const f = apiFailureOf(err);
    throw new UnavailableError(`cannot create a certificate signing request: ${f.message}`, {
      cause: err,
      operation: 'CreateCertificateSigningRequest',
      detail: f.message,
    });
  }
  const name = created.metadata?.name ?? '';
  const uid = created.metadata?.uid;
  logger.info('Waiting for client certificate to be issued', {
    csr: name,
    signerName: options.signerName,
  });
  const first = csrOutcome(created, name);
  if (first.state === 'issued') return first.certPem;
  if (first.state === 'failed') throw first.error;
  return waitForCertificate({
    api,
    clock,
    name,
    uid,
    resourceVersion: created.metadata?.resourceVersion,
    timeoutMs: options.timeoutMs ?? defaultCertificateWaitTimeoutMs,
    signal: options.signal,
    logger,
  });
}

interface WaitOptions {
  api: KubeApi;
  clock: Clock;
  name: string;
  uid: string | undefined;
  resourceVersion: string | undefined;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  logger: Logger;
}

/** Watches the named CSR (re-reading it each time a watch opens) until it is issued or fails. */
function waitForCertificate(w: WaitOptions): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let finished = false;
    let watch: AbortController | undefined;
    let restartTimer: Timer | undefined;
    const finish = (err: Error | undefined, certPem?: string): void => {
      if (finished) return;
      finished = true;
      deadline.cancel();
      restartTimer?.cancel();
      watch?.abort();
      w.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(certPem ?? '');
    };
    const onAbort = (): void => finish(new CancelledError('certificate request cancelled'));
    const deadline = w.clock.setTimeout(
      () =>
        finish(
          new DeadlineExceededError(
            `timed out after ${Math.round(w.timeoutMs / 1000)}s waiting for certificate signing request ${w.name} to be approved and signed`,
            { operation: 'WaitForCertificate' },
          ),
        ),
      w.timeoutMs,
    );
    w.signal?.addEventListener('abort', onAbort, { once: true });
    const consider = (raw: unknown): void => {
      const csr = asCsr(raw);
      if (csr.metadata?.name !== w.name) return;
      if (w.uid !== undefined && csr.metadata.uid !== undefined && csr.metadata.uid !== w.uid) {
        finish(
          new FailedPreconditionError(
            `certificate signing request ${w.name} was replaced by another object (uid changed)`,
          ),
        );
        return;
      }
      const outcome = csrOutcome(csr, w.name);
      if (outcome.state === 'issued') finish(undefined, outcome.certPem);
      else if (outcome.state === 'failed') finish(outcome.error);
    };
    const open = async (): Promise<void> => {
      if (finished) return;
      try {
        // Re-read first: a change between two watches must not be missed.
        const raw = await rawApiCall(
          (o) => w.api.certificates.readCertificateSigningRequest({ name: w.name }, o),
          w.signal,
        );
        consider(raw);
        if (finished) return;
        const rv = asCsr(raw).metadata?.resourceVersion;
        const controller = await w.api.startWatch(
          '/apis/certificates.k8s.io/v1/certificatesigningrequests',
          {
            fieldSelector: `metadata.name=${w.name}`,
            ...(rv !== undefined ? { resourceVersion: rv } : {}),
            allowWatchBookmarks: true,
          },
          (type, object) => {
            if (type === 'ADDED' || type === 'MODIFIED') consider(object);
            else if (type === 'DELETED' && asCsr(object).metadata?.name === w.name)
              finish(
                new FailedPreconditionError(
                  `certificate signing request ${w.name} was deleted before it was signed`,
                ),
              );
          },
          (err) => {
            if (finished) return;
            if (err)
              w.logger.debug('CSR watch ended', { csr: w.name, err: apiFailureOf(err).message });
            scheduleRestart();
          },
        );
        if (finished) controller.abort();
        else watch = controller;
      } catch (err) {
        if (finished) return;
        w.logger.warn('Cannot watch certificate signing request, retrying', {
          csr: w.name,
          err: apiFailureOf(err).message,
        });
        scheduleRestart();
      }
    };
    const scheduleRestart = (): void => {
      if (finished) return;
      restartTimer?.cancel();
      restartTimer = w.clock.setTimeout(() => void open(), watchRestartDelayMs);
    };
    void open();
  });
}
