import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Clock, k8s } from '@nodeagent/core';
import { resolveContainerPort } from '../probe-spec.js';
import { abortiveClose, dialErrorText } from './tcp.js';
import { joinHostPort, maxProbeOutputBytes, type ProbeOutcome } from './types.js';

/** Default Kubernetes version in the probe User-Agent (`kube-probe/1.36`). */
export const defaultProbeUserAgentVersion = '1.36';

/** Redirects followed at most (Go's http.Client policy, which the kubelet keeps). */
export const maxHttpRedirects = 10;

/** An HTTP probe request: URL and headers after the kubelet's defaulting. */
export interface HttpProbeRequest {
  url: URL;
  /** Header name (canonical form) → values, in order; no Host. */
  headers: Map<string, string[]>;
  /** The Host to send, when a `Host` header overrides the URL's. */
  host: string | undefined;
}

/** `user-agent` → `User-Agent` (Go's `CanonicalMIMEHeaderKey`). */
export function canonicalHeaderName(name: string): string {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) return name;
  return name
    .toLowerCase()
    .replace(/(^|-)([a-z])/g, (_m, dash: string, ch: string) => dash + ch.toUpperCase());
}

/**
 * Builds the request of an httpGet probe (kubelet `NewRequestForHTTPGetAction`):
 * scheme lower-cased (default http), host the action's or the pod IP, port resolved
 * against the container's named ports, the path as given; headers as given plus
 * `User-Agent: kube-probe/<version>` and `Accept: *\/*` unless set (an empty Accept
 * removes it), a `Host` header becomes the request's host. Throws an Error whose
 * message is the kubelet's when the port cannot be resolved.
 */
export function buildHttpProbeRequest(
  action: k8s.HTTPGetAction,
  container: k8s.Container,
  podIp: string,
  userAgentVersion: string = defaultProbeUserAgentVersion,
): HttpProbeRequest {
  const scheme = (action.scheme ?? 'HTTP').toLowerCase() || 'http';
  const host = action.host || podIp;
  const port = resolveContainerPort(action.port, container);
  if ('error' in port) throw new Error(port.error);
  const path = action.path ?? '';
  const base = `${scheme}://${joinHostPort(host, port.port)}`;
  let url: URL;
  try {
    url = new URL(path.startsWith('/') ? base + path : `${base}/${path}`);
  } catch {
    throw new Error(`parse "${base}${path}": invalid URL`);
  }
  const headers = new Map<string, string[]>();
  for (const h of action.httpHeaders ?? []) {
    const name = canonicalHeaderName(h.name);
    const values = headers.get(name) ?? [];
    values.push(h.value);
    headers.set(name, values);
  }
  if (!headers.has('User-Agent')) headers.set('User-Agent', [`kube-probe/${userAgentVersion}`]);
  const accept = headers.get('Accept');
  if (accept === undefined) headers.set('Accept', ['*/*']);
  else if (accept[0] === '') headers.delete('Accept');
  const hostHeader = headers.get('Host')?.[0];
  headers.delete('Host');
  // Go sends one User-Agent (the first) and none when it is empty.
  const ua = headers.get('User-Agent')?.[0];
  if (ua === undefined || ua === '') headers.delete('User-Agent');
  else headers.set('User-Agent', [ua]);
  return { url, headers, host: hostHeader || undefined };
}

interface HttpResponse {
  statusCode: number;
  location: string | undefined;
  body: string;
}

class ProbeTimeoutError extends Error {}

/**
 * HTTP probes (kubelet `probe/http`): one GET per attempt (plus redirects), success on
 * 200–399; a redirect (301, 302, 303, 307, 308) is followed to the same host name up to
 * {@link maxHttpRedirects} times; a redirect to another host is not followed and is a
 * success with a warning (`Probe terminated redirects, Response body: …`); any other
 * status is a failure `HTTP probe failed with statuscode: <code>`; connection errors and
 * the timeout (which covers redirects and reading the body) are failures. At most
 * 10 KiB of body is read. HTTPS does not verify certificates.
 *
 * Sockets: no agent, no keep-alive (`Connection: close`); when the answer is in, the
 * socket is closed with a TCP reset (SO_LINGER 0) rather than a FIN, and the socket is
 * opened half-open-capable so the server's FIN does not make us answer with ours.
 * Neither end then keeps the connection in TIME_WAIT, so a node probing hundreds of
 * containers every second holds no lingering sockets and file descriptors.
 */
export class HttpProber {
  constructor(private readonly clock: Pick<Clock, 'setTimeout'>) {}

  async probe(
    request: HttpProbeRequest,
    timeoutSeconds: number,
    signal?: AbortSignal,
  ): Promise<ProbeOutcome> {
    const controller = new AbortController();
    const timer = this.clock.setTimeout(
      () => controller.abort(new ProbeTimeoutError('timeout')),
      timeoutSeconds * 1000,
    );
    const onAbort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const first = request.url;
    let url = first;
    let host = request.host;
    let phase: 'headers' | 'body' = 'headers';
    try {
      for (let redirects = 0; ; redirects++) {
        const res = await this.once(url, request.headers, host, controller.signal, (p) => {
          phase = p;
        });
        const redirectable = [301, 302, 303, 307, 308].includes(res.statusCode);
        if (redirectable && res.location !== undefined) {
          let next: URL;
          try {
            next = new URL(res.location, url);
          } catch {
            return {
              result: 'Failure',
              output: `Get ${JSON.stringify(res.location)}: invalid redirect location`,
            };
          }
          if (next.hostname === first.hostname) {
            if (redirects + 1 >= maxHttpRedirects) {
              return {
                result: 'Failure',
                output: `Get ${JSON.stringify(res.location)}: stopped after ${maxHttpRedirects} redirects`,
              };
            }
            // Go keeps a custom Host only through redirects to a relative location.
            if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(res.location)) host = undefined;
            url = next;
            continue;
          }
        }
        return evaluate(res);
      }
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (err instanceof ProbeTimeoutError) {
        const why =
          phase === 'headers'
            ? 'context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
            : 'context deadline exceeded (Client.Timeout or context cancellation while reading body)';
        return { result: 'Failure', output: `Get ${JSON.stringify(url.href)}: ${why}` };
      }
      const detail =
        phase === 'headers' && isDialError(err)
          ? `dial tcp ${joinHostPort(url.hostname.replace(/^\[|\]$/g, ''), portOf(url))}: ${dialErrorText(err)}`
          : dialErrorText(err);
      return { result: 'Failure', output: `Get ${JSON.stringify(url.href)}: ${detail}` };
    } finally {
      timer.cancel();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private once(
    url: URL,
    headers: Map<string, string[]>,
    hostOverride: string | undefined,
    signal: AbortSignal,
    setPhase: (phase: 'headers' | 'body') => void,
  ): Promise<HttpResponse> {
    return new Promise<HttpResponse>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const isHttps = url.protocol === 'https:';
      const hostname = url.hostname.replace(/^\[|\]$/g, '');
      const port = portOf(url);
      let raw: net.Socket | undefined;
      let secure: tls.TLSSocket | undefined;
      let settled = false;
      const chunks: Buffer[] = [];
      let size = 0;
      let statusCode = 0;
      let location: string | undefined;

      const cleanup = (): void => {
        signal.removeEventListener('abort', onAbort);
        if (raw) abortiveClose(raw);
        secure?.destroy();
        req.destroy();
      };
      const finish = (): void => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve({ statusCode, location, body: Buffer.concat(chunks).toString('utf8') });
      };
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        cleanup();
        reject(err instanceof Error ? err : new Error(String(err)));
      };
      const onAbort = (): void => fail(signal.reason);

      const outgoing: http.OutgoingHttpHeaders = { Connection: 'close' };
      for (const [name, values] of headers)
        outgoing[name] = values.length === 1 ? values[0] : values;
      if (hostOverride !== undefined) outgoing.Host = hostOverride;

      const options: http.RequestOptions = {
        method: 'GET',
        host: hostname,
        port,
        path: `${url.pathname}${url.search}`,
        headers: outgoing,
        setHost: hostOverride === undefined,
        // No agent: a fresh connection per request that we own and close ourselves.
        createConnection: () => {
          raw = net.connect({ host: hostname, port, allowHalfOpen: true });
          raw.on('error', () => {});
          raw.setNoDelay(true);
          // The server's FIN means the response is complete (or cut short): take what
          // we have before Node's HTTP client answers with a FIN of its own.
          raw.prependListener('end', () => {
            if (statusCode !== 0) finish();
          });
          if (!isHttps) return raw;
          secure = tls.connect({
            socket: raw,
            rejectUnauthorized: false,
            ...(net.isIP(hostname) === 0 ? { servername: hostname } : {}),
          });
          secure.on('error', () => {});
          return secure;
        },
      };
      const req = (isHttps ? https : http).request(options);
      req.on('error', fail);
      req.on('response', (res) => {
        statusCode = res.statusCode ?? 0;
        const loc = res.headers.location;
        location = typeof loc === 'string' ? loc : undefined;
        setPhase('body');
        res.on('error', fail);
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          const room = maxProbeOutputBytes - size;
          chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
          size += Math.min(room, chunk.length);
          if (size >= maxProbeOutputBytes) finish();
        });
        // Before the HTTP client's own end handler, which would close with a FIN.
        res.prependListener('end', finish);
      });
      signal.addEventListener('abort', onAbort, { once: true });
      req.end();
    });
  }
}

function portOf(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

function isDialError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (
    code === 'ECONNREFUSED' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENETUNREACH' ||
    code === 'ETIMEDOUT'
  );
}

function evaluate(res: HttpResponse): ProbeOutcome {
  if (res.statusCode >= 200 && res.statusCode < 400) {
    if (res.statusCode >= 300) {
      return {
        result: 'Warning',
        output: `Probe terminated redirects, Response body: ${res.body}`,
      };
    }
    return { result: 'Success', output: res.body };
  }
  return { result: 'Failure', output: `HTTP probe failed with statuscode: ${res.statusCode}` };
}
