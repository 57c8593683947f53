import { createHash } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  noopLogger,
  PodSourceName,
  type Logger,
  type PodSource,
  type PodUpdate,
  type Timer,
} from '@nodeagent/core';
import { decodeStaticPods, MAX_CONFIG_LENGTH } from './decode.js';
import { keyPod, PodSetPublisher, type StaticPodSourceCommonOptions } from './pod-set-publisher.js';

/** How often the kubelet polls the manifest URL (`httpCheckFrequency`), in ms. */
export const DEFAULT_HTTP_CHECK_FREQUENCY_MS = 20_000;
/** Timeout of one manifest URL request (the kubelet's `http.Client{Timeout: 10s}`), ms. */
export const DEFAULT_HTTP_TIMEOUT_MS = 10_000;
/** Failed polls logged as warnings before the kubelet drops the message to debug. */
const MAX_LOUD_FAILURES = 3;

/** Options of {@link createHttpSource}. */
export interface HttpSourceOptions extends StaticPodSourceCommonOptions {
  /** The manifest URL (kubelet `staticPodURL`): `http:` or `https:`, serving a Pod or a PodList. */
  url: string;
  /**
   * Request headers (kubelet `staticPodURLHeader`, a map of header name to values);
   * a header with several values is sent several times.
   */
  headers?: Readonly<Record<string, string | readonly string[]>>;
  /** Poll period (kubelet `httpCheckFrequency`), ms. Default 20 000. */
  pollPeriodMs?: number;
  /** Timeout of one request, ms. Default 10 000 (the kubelet's client timeout). */
  timeoutMs?: number;
}

interface Response {
  status: number;
  statusText: string;
  body: Buffer;
}

class FetchError extends Error {}
/** A failure already reported through the publisher (not logged twice). */
class ReportedError extends FetchError {}

/**
 * The kubelet's manifest URL source (pkg/kubelet/config/http.go): polls `url` every
 * `pollPeriodMs` (20 s), accepts a single v1 Pod or a v1 PodList in YAML or JSON,
 * gives the pods their static identity (UID from the pod and `url:<url>`, config
 * source `http`) and emits `SET` when the set changes.
 *
 * As in the kubelet: a non-200 answer, an unreachable server, a body over 10 MiB or
 * a body that does not decode is logged (the first three failures in a row as
 * warnings, later ones at debug level) and the previous set is kept; an unchanged
 * body is not decoded again; an empty 200 body empties the set (the kubelet's empty
 * SET) and is logged. A PodList is all-or-nothing: one invalid pod rejects the body.
 */
export class StaticPodUrlSource implements PodSource {
  readonly name: PodSourceName = PodSourceName.Http;

  private readonly url: URL;
  private readonly pollPeriodMs: number;
  private readonly timeoutMs: number;
  private readonly logger: Logger;
  private readonly publisher: PodSetPublisher;

  private running = false;
  private pollTimer: Timer | undefined;
  private polling: Promise<void> | undefined;
  private inFlight: ClientRequest | undefined;
  private lastData: Buffer | undefined;
  private failures = 0;

  constructor(private readonly options: HttpSourceOptions) {
    this.url = new URL(options.url);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') {
      throw new TypeError(`static pod URL must be http: or https:, got ${this.url.protocol}`);
    }
    this.pollPeriodMs = options.pollPeriodMs ?? DEFAULT_HTTP_CHECK_FREQUENCY_MS;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
    this.logger = (options.logger ?? noopLogger).child({
      component: 'static-pods',
      source: 'http',
      url: options.url,
    });
    this.publisher = new PodSetPublisher('http', options, this.logger);
  }

  subscribe(listener: (update: PodUpdate) => void): () => void {
    return this.publisher.subscribe(listener);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.logger.info('Watching static pod URL');
    this.pollTimer = this.options.clock.setInterval(() => void this.tick(), this.pollPeriodMs);
    void this.tick();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.pollTimer?.cancel();
    this.pollTimer = undefined;
    this.inFlight?.destroy(new FetchError('source stopped'));
    await this.polling;
  }

  /**
   * Polls the URL now (after the poll in progress, if any). Resolves when the poll
   * is done; never rejects.
   */
  async poll(): Promise<void> {
    while (this.polling !== undefined) await this.polling;
    await this.tick();
  }

  /** The periodic poll: skipped while the previous one is still in progress. */
  private tick(): Promise<void> {
    if (!this.running) return Promise.resolve();
    this.polling ??= this.extractFromUrl()
      .then(
        () => {
          if (this.failures > 0) this.logger.info('Successfully read pods from URL');
          this.failures = 0;
        },
        (err: unknown) => this.logFailure(err),
      )
      .finally(() => {
        this.polling = undefined;
      });
    return this.polling;
  }

  private logFailure(err: unknown): void {
    if (!this.running) return;
    const reason = err instanceof Error ? err.message : String(err);
    if (err instanceof ReportedError) {
      // Already logged with its reason by reportError.
    } else if (this.failures < MAX_LOUD_FAILURES) {
      this.logger.warn('Failed to read pods from URL', { reason });
    } else if (this.failures === MAX_LOUD_FAILURES) {
      this.logger.warn(
        'Failed to read pods from URL. Dropping verbosity of this message to debug',
        {
          reason,
        },
      );
    } else {
      this.logger.debug('Failed to read pods from URL', { reason });
    }
    this.failures++;
  }

  /** One poll (kubelet `extractFromURL`); throws what makes this poll a failure. */
  private async extractFromUrl(): Promise<void> {
    const response = await this.get();
    if (!this.running) return;
    if (response.status !== 200) {
      throw new FetchError(`${this.options.url}: ${response.status} ${response.statusText}`);
    }
    if (response.body.length === 0) {
      this.lastData = undefined;
      this.publisher.publish([]);
      throw new FetchError(`zero-length data received from ${this.options.url}`);
    }
    if (this.lastData !== undefined && this.lastData.equals(response.body)) return;
    this.lastData = response.body;
    const decoded = decodeStaticPods(response.body, {
      origin: { kind: 'url', url: this.options.url },
      nodeName: this.options.nodeName,
      allowPodList: true,
    });
    const digest = createHash('sha256').update(response.body).digest('hex');
    if (!decoded.ok) {
      this.publisher.reportError(this.options.url, decoded.reason, digest);
      throw new ReportedError(`${this.options.url}: ${decoded.reason}`);
    }
    const pods = decoded.pods;
    const names = new Set<string>();
    for (const pod of pods) {
      const key = `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
      if (names.has(key)) {
        const reason = `duplicate static pod ${key} in the pod list`;
        this.publisher.reportError(this.options.url, reason, digest);
        throw new ReportedError(`${this.options.url}: ${reason}`);
      }
      names.add(key);
    }
    this.publisher.clearError(this.options.url, true);
    this.publisher.publish(pods.map(keyPod));
  }

  /** GET with the configured headers, a fresh connection, the timeout and the 10 MiB limit. */
  private get(): Promise<Response> {
    return new Promise<Response>((resolve, reject) => {
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(this.options.headers ?? {})) {
        headers[name] = typeof value === 'string' ? value : [...value];
      }
      const send = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
      const finish = (): void => {
        // Called from I/O callbacks only, after `timer` below is set.
        timer.cancel();
        this.inFlight = undefined;
      };
      const req = send(
        this.url,
        { method: 'GET', headers, agent: false },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_CONFIG_LENGTH) {
              req.destroy(
                new FetchError(`response is larger than the limit of ${MAX_CONFIG_LENGTH} bytes`),
              );
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => {
            finish();
            resolve({
              status: res.statusCode ?? 0,
              statusText: res.statusMessage ?? '',
              body: Buffer.concat(chunks),
            });
          });
          res.on('error', (err) => {
            finish();
            reject(err);
          });
          res.on('close', () => {
            if (res.complete) return;
            finish();
            reject(new FetchError('connection closed before the response was complete'));
          });
        },
      );
      req.on('error', (err) => {
        finish();
        reject(err);
      });
      this.inFlight = req;
      const timer = this.options.clock.setTimeout(() => {
        req.destroy(new FetchError(`request timed out after ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      req.end();
    });
  }
}

/** Creates the manifest URL source (see {@link StaticPodUrlSource}). */
export function createHttpSource(options: HttpSourceOptions): StaticPodUrlSource {
  return new StaticPodUrlSource(options);
}
