/**
 * The kubelet's certificate manager (pkg/kubelet/certificate + client-go
 * `util/certificate.Manager`): keeps a key and certificate current through
 * CertificateSigningRequests — the client certificate the agent talks to the API
 * server with (signer `kubernetes.io/kube-apiserver-client-kubelet`), or the serving
 * certificate of the :10250 server (signer `kubernetes.io/kubelet-serving`).
 */
import {
  CancelledError,
  RealClock,
  jitter,
  mathRandom,
  noopLogger,
  noopMetrics,
  type Clock,
  type Counter,
  type Gauge,
  type Logger,
  type MetricsRegistry,
  type Random,
  type Timer,
} from '@nodeagent/core';
import {
  certificateMatchesTemplate,
  generateNodePrivateKey,
  makeCertificateSigningRequest,
  type CertificatePair,
  type CertificateTemplate,
} from './certificate-request.js';
import {
  defaultCertificateWaitTimeoutMs,
  kubeletClientSignerName,
  kubeletServingSignerName,
  requestCertificate,
} from './certificate-signing-request.js';
import {
  CertificateFileStore,
  kubeletClientPairPrefix,
  kubeletServerPairPrefix,
} from './certificate-store.js';
import type { KubeApi } from './kube-api.js';

/** Which certificate a manager keeps: the API client's or the :10250 server's. */
export type CertificateKind = 'client' | 'serving';

/** Back-off steps after a failed rotation (client-go: 2 s doubling, 5 steps, 10 % jitter), in ms. */
export const certificateRotationBackoffMs: readonly number[] = [2_000, 4_000, 8_000, 16_000];
/** Retry period once the back-off steps are used up (client-go `PollInfinite(32s)`), in ms. */
export const certificateRotationRetryPeriodMs = 32_000;
/** Longest single timer; the manager wakes at least this often to refresh its TTL gauge, in ms. */
const maxWakeupMs = 60_000;

/**
 * client-go's `nextRotationDeadline`: a jittered point at 70–90 % of the
 * certificate's lifetime (`notBefore + total * (0.7 + 0.2 * random)`), in ms since the epoch.
 */
export function nextRotationDeadline(
  pair: Pick<CertificatePair, 'notBefore' | 'notAfter'>,
  random: Random = mathRandom,
): number {
  const total = pair.notAfter - pair.notBefore;
  return pair.notBefore + jitter(total, 0.2, random) - 0.3 * total;
}

/** Options of {@link CertificateManager}. */
export interface CertificateManagerOptions {
  /** `client` (signer kube-apiserver-client-kubelet) or `serving` (signer kubelet-serving). */
  kind: CertificateKind;
  /** The node name: the certificate's CN is `system:node:<nodeName>`. */
  nodeName: string;
  /** Where pairs are kept (kubelet `--cert-dir`, default `/var/lib/kubelet/pki`). */
  certDir: string;
  /**
   * The API connection CSRs are created with; a function is asked each time, so a
   * client rebuilt on the new certificate is used for the next renewal (kubelet `clientsetFn`).
   */
  api: KubeApi | (() => KubeApi);
  /**
   * Serving only: the node's host names and IPs for the subjectAltNames (kubelet:
   * the node's addresses). Undefined or empty means "not known yet": no request is
   * made until they are. A change makes the manager rotate at once.
   */
  servingAddresses?: () =>
    { dnsNames: readonly string[]; ipAddresses: readonly string[] } | undefined;
  /** A pair given by hand (`tlsCertFile`/`tlsPrivateKeyFile`) to start with when there is no current one. */
  certFile?: string;
  keyFile?: string;
  /** `spec.expirationSeconds` of new CSRs (at least 600); default: the signer's duration. */
  requestedDurationSeconds?: number;
  /** How long one CSR may wait for approval and signing, ms (client-go 15 min). */
  waitTimeoutMs?: number;
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  /**
   * Exports `kubelet_certificate_manager_client_ttl_seconds` /
   * `kubelet_certificate_manager_server_ttl_seconds` (seconds until the current
   * certificate expires, negative when expired), `…_client_expiration_renew_errors`
   * / `kubelet_server_expiration_renew_errors` (failed renewals) and
   * `kubelet_certificate_manager_{client,server}_rotation_seconds`-style counters of
   * rotations (`kubelet_certificate_manager_{client,server}_rotations_total`).
   */
  metrics?: MetricsRegistry;
}

/** A listener of new pairs; it runs after the pair is on disk and `current()` returns it. */
export type CertificateRotationListener = (pair: CertificatePair) => void;

/**
 * Keeps one key/certificate pair current: loads `<prefix>-current.pem` on start,
 * requests a new pair when there is none, when it expired, when it no longer
 * matches the template (serving addresses changed), and at a jittered 70–90 % of its
 * lifetime; retries failures with back-off (2, 4, 8, 16 s, then every 32 s);
 * tells listeners ({@link onRotate}) when a new pair is in place.
 */
export class CertificateManager {
  readonly kind: CertificateKind;
  readonly store: CertificateFileStore;
  private readonly options: CertificateManagerOptions;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly logger: Logger;
  private readonly listeners = new Set<CertificateRotationListener>();
  private readonly ttl: Gauge;
  private readonly renewErrors: Counter;
  private readonly rotations: Counter;
  private pair: CertificatePair | undefined;
  private deadline: number | undefined;
  private timer: Timer | undefined;
  private running = false;
  private failures = 0;
  private inFlight: Promise<CertificatePair> | undefined;
  private abort: AbortController | undefined;

  constructor(options: CertificateManagerOptions) {
    this.options = options;
    this.kind = options.kind;
    this.clock = options.clock ?? new RealClock();
    this.random = options.random ?? mathRandom;
    this.logger = (options.logger ?? noopLogger).child({
      component: 'certificate-manager',
      certificate: options.kind,
    });
    this.store = new CertificateFileStore({
      certDir: options.certDir,
      pairNamePrefix: options.kind === 'client' ? kubeletClientPairPrefix : kubeletServerPairPrefix,
      clock: this.clock,
      ...(options.certFile !== undefined ? { certFile: options.certFile } : {}),
      ...(options.keyFile !== undefined ? { keyFile: options.keyFile } : {}),
    });
    const metrics = options.metrics ?? noopMetrics;
    const who = options.kind === 'client' ? 'client' : 'server';
    this.ttl = metrics.gauge({
      name: `kubelet_certificate_manager_${who}_ttl_seconds`,
      help: `Gauge of the TTL (time-to-live) of the Kubelet's ${who} certificate. The value is in seconds until certificate expiry (negative if already expired). If ${who} certificate is invalid or unused, the value will be +INF.`,
    });
    this.renewErrors = metrics.counter({
      name:
        options.kind === 'client'
          ? 'kubelet_certificate_manager_client_expiration_renew_errors'
          : 'kubelet_server_expiration_renew_errors',
      help: `Counter of ${who} certificate renewal errors.`,
    });
    this.rotations = metrics.counter({
      name: `kubelet_certificate_manager_${who}_rotations_total`,
      help: `Number of times the Kubelet's ${who} certificate was replaced.`,
    });
    this.ttl.set({}, Number.POSITIVE_INFINITY);
  }

  /** The current pair, or undefined before one exists (or when it expired). */
  current(): CertificatePair | undefined {
    const pair = this.pair;
    if (pair === undefined || pair.notAfter <= this.clock.now()) return undefined;
    return pair;
  }

  /** The path of `<prefix>-current.pem` (cert and key in one file). */
  currentPath(): string {
    return this.store.currentPath();
  }

  /** When the next rotation is due (ms since the epoch); undefined when not started or no pair. */
  nextRotationDeadline(): number | undefined {
    return this.deadline;
  }

  /** Calls `listener` with each new pair. Returns a function that removes it. */
  onRotate(listener: CertificateRotationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The certificate the manager asks for now; undefined when serving addresses are unknown. */
  template(): CertificateTemplate | undefined {
    const base = {
      commonName: `system:node:${this.options.nodeName}`,
      organizations: ['system:nodes'],
    };
    if (this.kind === 'client') return base;
    const addresses = this.options.servingAddresses?.();
    if (
      addresses === undefined ||
      (addresses.dnsNames.length === 0 && addresses.ipAddresses.length === 0)
    )
      return undefined;
    return { ...base, dnsNames: addresses.dnsNames, ipAddresses: addresses.ipAddresses };
  }

  /**
   * Loads the current pair (if any, and valid) and starts the rotation loop. A
   * missing or expired pair is requested at once, in the background; await
   * {@link waitForCertificate} to block until one exists.
   */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const loaded = await this.store.current();
      if (loaded !== undefined && loaded.notAfter > this.clock.now()) this.install(loaded, false);
      else if (loaded !== undefined)
        this.logger.warn('Current certificate is expired, requesting a new one', {
          notAfter: new Date(loaded.notAfter).toISOString(),
        });
    } catch (err) {
      this.logger.error('Could not load the current certificate, requesting a new one', {
        err: (err as Error).message,
      });
    }
    this.schedule();
  }

  /** Stops the loop and cancels a CSR being waited for; leaves no timers. */
  async stop(): Promise<void> {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    this.abort?.abort(new CancelledError('certificate manager stopped'));
    await this.inFlight?.catch(() => undefined);
  }

  /**
   * Requests a new pair now (a new key, a CSR, waiting for it), stores it and tells
   * the listeners. Concurrent calls share one request.
   */
  rotate(): Promise<CertificatePair> {
    if (this.inFlight) return this.inFlight;
    const run = this.requestPair().finally(() => {
      this.inFlight = undefined;
    });
    this.inFlight = run;
    return run;
  }

  /** Resolves with a valid pair: the current one, or the next one installed. */
  waitForCertificate(): Promise<CertificatePair> {
    const now = this.current();
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => {
      const off = this.onRotate((pair) => {
        off();
        resolve(pair);
      });
    });
  }

  private async requestPair(): Promise<CertificatePair> {
    const template = this.template();
    if (template === undefined)
      throw new CancelledError('no serving addresses known yet; not requesting a certificate');
    const abort = new AbortController();
    this.abort = abort;
    try {
      const keyPem = generateNodePrivateKey();
      const csrPem = makeCertificateSigningRequest(template, keyPem);
      const api = typeof this.options.api === 'function' ? this.options.api() : this.options.api;
      const certPem = await requestCertificate({
        api,
        csrPem,
        signerName: this.kind === 'client' ? kubeletClientSignerName : kubeletServingSignerName,
        usages:
          this.kind === 'client'
            ? ['digital signature', 'client auth']
            : ['digital signature', 'server auth'],
        ...(this.options.requestedDurationSeconds !== undefined
          ? { expirationSeconds: this.options.requestedDurationSeconds }
          : {}),
        clock: this.clock,
        timeoutMs: this.options.waitTimeoutMs ?? defaultCertificateWaitTimeoutMs,
        signal: abort.signal,
        logger: this.logger,
      });
      const pair = await this.store.update(certPem, keyPem);
      this.install(pair, true);
      return pair;
    } finally {
      if (this.abort === abort) this.abort = undefined;
    }
  }

  private install(pair: CertificatePair, rotated: boolean): void {
    this.pair = pair;
    this.deadline = nextRotationDeadline(pair, this.random);
    this.failures = 0;
    this.updateTtl();
    if (!rotated) {
      this.logger.info('Loaded certificate', {
        expiration: new Date(pair.notAfter).toISOString(),
        rotationDeadline: new Date(this.deadline).toISOString(),
      });
      return;
    }
    this.rotations.inc();
    this.logger.info('Certificate rotation', {
      expiration: new Date(pair.notAfter).toISOString(),
      rotationDeadline: new Date(this.deadline).toISOString(),
    });
    for (const listener of [...this.listeners]) {
      try {
        listener(pair);
      } catch (err) {
        this.logger.error('Certificate rotation listener failed', { err: String(err) });
      }
    }
  }

  private updateTtl(): void {
    const pair = this.pair;
    this.ttl.set(
      {},
      pair === undefined ? Number.POSITIVE_INFINITY : (pair.notAfter - this.clock.now()) / 1000,
    );
  }

  /** When to try next: now without a (matching) pair, else at the rotation deadline. */
  private dueAt(): number {
    const pair = this.current();
    if (pair === undefined || this.deadline === undefined) return this.clock.now();
    const template = this.template();
    if (template !== undefined && !certificateMatchesTemplate(pair.certificate, template)) {
      this.logger.info('Certificate template changed, rotating');
      return this.clock.now();
    }
    return this.deadline;
  }

  private schedule(delayOverrideMs?: number): void {
    if (!this.running) return;
    this.timer?.cancel();
    const wait = delayOverrideMs ?? Math.max(0, this.dueAt() - this.clock.now());
    if (wait > maxWakeupMs) {
      this.timer = this.clock.setTimeout(() => {
        this.updateTtl();
        this.schedule();
      }, maxWakeupMs);
      return;
    }
    this.timer = this.clock.setTimeout(() => void this.attempt(), wait);
  }

  private async attempt(): Promise<void> {
    this.timer = undefined;
    if (!this.running) return;
    // Re-checked when the timer fires: a pair may have been installed meanwhile.
    if (this.dueAt() > this.clock.now()) {
      this.schedule();
      return;
    }
    try {
      await this.rotate();
      this.schedule();
    } catch (err) {
      if (!this.running) return;
      const waitingForAddresses = this.template() === undefined;
      if (!waitingForAddresses) {
        this.renewErrors.inc();
        this.logger.error('Failed while requesting a signed certificate from the control plane', {
          err: (err as Error).message,
        });
      }
      this.updateTtl();
      const step = certificateRotationBackoffMs[this.failures];
      this.failures++;
      const delay =
        step === undefined ? certificateRotationRetryPeriodMs : jitter(step, 0.1, this.random);
      this.schedule(delay);
    }
  }
}

/** Options of {@link createClientCertificateManager} and {@link createServingCertificateManager}. */
export type KindlessCertificateManagerOptions = Omit<CertificateManagerOptions, 'kind'>;

/** The manager of the agent's API client certificate (kubelet `--rotate-certificates`). */
export function createClientCertificateManager(
  options: KindlessCertificateManagerOptions,
): CertificateManager {
  return new CertificateManager({ ...options, kind: 'client' });
}

/** The manager of the :10250 serving certificate (kubelet `serverTLSBootstrap`). */
export function createServingCertificateManager(
  options: KindlessCertificateManagerOptions,
): CertificateManager {
  return new CertificateManager({ ...options, kind: 'serving' });
}
