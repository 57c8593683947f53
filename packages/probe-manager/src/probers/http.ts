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
 * Cancels the attempts of one probe: set by the probe's timeout or the caller's
 * abort signal. A plain object instead of a fresh AbortController per probe, which
 * at hundreds of probes a second costs measurable CPU (EventTarget machinery).
 */
interface Cancellation {
  /** Why the probe was cancelled, once it was. */
  reason: unknown;
  cancelled: boolean;
  /** The in-flight request's hook, called once on cancellation. */
  onCancel: ((reason: unknown) => void) | undefined;
}

/** The most response-header bytes read (status line + headers), like Go's 1 MiB cap. */
const maxResponseHeaderBytes = 1 << 20;

/** Statuses that never carry a body (RFC 9110 §6.4.1). */
function bodyless(status: number): boolean {
  return status === 204 || status === 304 || (status >= 100 && status < 200);
}

/** A header value the request line may not carry (CR, LF, NUL: request smuggling). */
const invalidHeaderChar = /[\r\n\0]/;

/**
 * The text of a `GET` request: request line, `Host`, the probe headers in order, and
 * `Connection: close`. Throws on a header name or value that would break the framing.
 */
function serializeRequest(
  url: URL,
  headers: Map<string, string[]>,
  hostOverride: string | undefined,
): string {
  let text = `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${hostOverride ?? url.host}\r\n`;
  for (const [name, values] of headers) {
    if (invalidHeaderChar.test(name) || name.includes(':'))
      throw new TypeError(`Header name must be a valid HTTP token ["${name}"]`);
    for (const value of values) {
      if (invalidHeaderChar.test(value))
        throw new TypeError(`Invalid character in header content ["${name}"]`);
      text += `${name}: ${value}\r\n`;
    }
  }
  return `${text}Connection: close\r\n\r\n`;
}

/**
 * Reads one HTTP/1.1 response off a byte stream, incrementally: the status line and
 * headers, then the body framed by `Transfer-Encoding: chunked`, by `Content-Length`,
 * or by the end of the connection; interim 1xx responses (except 101) are skipped.
 * Only the first {@link maxProbeOutputBytes} bytes of body are kept, and the parser
 * reports completion as soon as it has them (the rest is never read).
 */
class ResponseReader {
  statusCode = 0;
  location: string | undefined;
  /** True once the status line and headers are in. */
  headersDone = false;
  /** True once the body is complete or the cap is reached. */
  done = false;
  private head: Buffer | undefined;
  private readonly body: Buffer[] = [];
  private bodySize = 0;
  /** Body framing once the headers are in. */
  private framing: 'length' | 'chunked' | 'close' = 'close';
  /** `length`: body bytes still expected; `chunked`: bytes left in the current chunk. */
  private remaining = 0;
  /** `chunked` state: reading a size line, chunk data, or the CRLF after the data. */
  private chunkState: 'size' | 'data' | 'crlf' = 'size';
  /** Unconsumed bytes of a chunk-size line or trailing CRLF split across reads. */
  private pending: Buffer | undefined;

  /** Feeds bytes; throws an Error on a malformed response. */
  push(data: Buffer): void {
    if (this.done) return;
    if (!this.headersDone) {
      const buf: Buffer = this.head ? Buffer.concat([this.head, data]) : data;
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) {
        if (buf.length > maxResponseHeaderBytes)
          throw new Error('net/http: server response headers exceeded 1048576 bytes');
        this.head = buf;
        return;
      }
      this.head = undefined;
      this.parseHead(buf.toString('latin1', 0, end));
      const rest = buf.subarray(end + 4);
      if (!this.headersDone) {
        // An interim 1xx response: the real one follows.
        if (rest.length > 0) this.push(rest);
        return;
      }
      if (rest.length > 0) this.pushBody(rest);
      return;
    }
    this.pushBody(data);
  }

  /** The body read so far (at most 10 KiB), as UTF-8. */
  text(): string {
    return Buffer.concat(this.body).toString('utf8');
  }

  private parseHead(head: string): void {
    const lines = head.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
    if (!m) throw new Error(`net/http: malformed HTTP response ${JSON.stringify(lines[0])}`);
    const status = Number(m[1]);
    if (status >= 100 && status < 200 && status !== 101) return; // interim: keep reading
    let length: number | undefined;
    let chunked = false;
    let location: string | undefined;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`net/http: malformed MIME header line: ${line}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'location') location ??= value;
      else if (name === 'content-length') {
        if (!/^\d+$/.test(value)) throw new Error(`net/http: bad Content-Length "${value}"`);
        length = Number(value);
      } else if (name === 'transfer-encoding') {
        chunked = value.toLowerCase().split(',').pop()?.trim() === 'chunked';
      }
    }
    this.statusCode = status;
    this.location = location;
    this.headersDone = true;
    if (bodyless(status) || (!chunked && length === 0)) this.done = true;
    else if (chunked) this.framing = 'chunked';
    else if (length !== undefined) {
      this.framing = 'length';
      this.remaining = length;
    }
  }

  /** Keeps up to the cap of body bytes; marks the body done when the cap is reached. */
  private keep(data: Buffer): void {
    const room = maxProbeOutputBytes - this.bodySize;
    const part = data.length > room ? data.subarray(0, room) : data;
    this.body.push(part);
    this.bodySize += part.length;
    if (this.bodySize >= maxProbeOutputBytes) this.done = true;
  }

  private pushBody(data: Buffer): void {
    if (this.framing === 'close') {
      this.keep(data);
    } else if (this.framing === 'length') {
      const part = data.length > this.remaining ? data.subarray(0, this.remaining) : data;
      this.remaining -= part.length;
      this.keep(part);
      if (this.remaining === 0) this.done = true;
    } else {
      this.pushChunked(data);
    }
  }

  private pushChunked(input: Buffer): void {
    let data = this.pending ? Buffer.concat([this.pending, input]) : input;
    this.pending = undefined;
    while (data.length > 0 && !this.done) {
      if (this.chunkState === 'size') {
        const eol = data.indexOf('\r\n');
        if (eol === -1) {
          if (data.length > 4096) throw new Error('net/http: chunk size line too long');
          this.pending = data;
          return;
        }
        const sizeText = data.toString('latin1', 0, eol).split(';')[0]!.trim();
        if (!/^[0-9a-fA-F]+$/.test(sizeText))
          throw new Error(`net/http: invalid byte in chunk length`);
        const size = parseInt(sizeText, 16);
        data = data.subarray(eol + 2);
        if (size === 0) {
          // Last chunk; trailers are not read.
          this.done = true;
          return;
        }
        this.remaining = size;
        this.chunkState = 'data';
      } else if (this.chunkState === 'data') {
        const n = Math.min(this.remaining, data.length);
        this.keep(data.subarray(0, n));
        this.remaining -= n;
        data = data.subarray(n);
        if (this.remaining === 0) this.chunkState = 'crlf';
      } else {
        if (data.length < 2) {
          this.pending = data;
          return;
        }
        if (data[0] !== 0x0d || data[1] !== 0x0a)
          throw new Error('net/http: malformed chunked encoding');
        data = data.subarray(2);
        this.chunkState = 'size';
      }
    }
  }
}

/**
 * HTTP probes (kubelet `probe/http`): one GET per attempt (plus redirects), success on
 * 200–399; a redirect (301, 302, 303, 307, 308) is followed to the same host name up to
 * {@link maxHttpRedirects} times; a redirect to another host is not followed and is a
 * success with a warning (`Probe terminated redirects, Response body: …`); any other
 * status is a failure `HTTP probe failed with statuscode: <code>`; connection errors and
 * the timeout (which covers redirects and reading the body) are failures. At most
 * 10 KiB of body is read. HTTPS does not verify certificates.
 *
 * The client is a small HTTP/1.1 GET written over node:net / node:tls rather than
 * node:http: at hundreds of probes a second node:http's per-request machinery
 * (ClientRequest, IncomingMessage, parser pool, streams) was the largest part of the
 * agent's CPU. It sends one request, reads one response (see `ResponseReader`), and
 * never reuses the connection.
 *
 * Sockets: no keep-alive (`Connection: close`); when the answer is in, the socket is
 * closed with a TCP reset (SO_LINGER 0) rather than a FIN, and the socket is opened
 * half-open-capable so the server's FIN does not make us answer with ours. Neither end
 * then keeps the connection in TIME_WAIT, so a node probing hundreds of containers
 * every second holds no lingering sockets and file descriptors.
 */
export class HttpProber {
  constructor(private readonly clock: Pick<Clock, 'setTimeout'>) {}

  async probe(
    request: HttpProbeRequest,
    timeoutSeconds: number,
    signal?: AbortSignal,
  ): Promise<ProbeOutcome> {
    if (signal?.aborted) throw signal.reason;
    const cancel: Cancellation = { reason: undefined, cancelled: false, onCancel: undefined };
    const doCancel = (reason: unknown): void => {
      if (cancel.cancelled) return;
      cancel.cancelled = true;
      cancel.reason = reason;
      cancel.onCancel?.(reason);
    };
    const timer = this.clock.setTimeout(
      () => doCancel(new ProbeTimeoutError('timeout')),
      timeoutSeconds * 1000,
    );
    const onAbort = (): void => doCancel(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const first = request.url;
    let url = first;
    let host = request.host;
    let phase: 'headers' | 'body' = 'headers';
    try {
      for (let redirects = 0; ; redirects++) {
        const res = await this.once(url, request.headers, host, cancel, () => {
          phase = 'body';
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

  /** One request/response on a fresh connection; rejects on errors and cancellation. */
  private once(
    url: URL,
    headers: Map<string, string[]>,
    hostOverride: string | undefined,
    cancel: Cancellation,
    onHeaders: () => void,
  ): Promise<HttpResponse> {
    return new Promise<HttpResponse>((resolve, reject) => {
      if (cancel.cancelled) {
        const { reason } = cancel;
        reject(reason instanceof Error ? reason : new Error(String(reason)));
        return;
      }
      let text: string;
      try {
        text = serializeRequest(url, headers, hostOverride);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      const isHttps = url.protocol === 'https:';
      const hostname = url.hostname.replace(/^\[|\]$/g, '');
      const port = portOf(url);
      const reader = new ResponseReader();
      let settled = false;

      const raw = net.connect({ host: hostname, port, allowHalfOpen: true });
      raw.setNoDelay(true);
      const secure = isHttps
        ? tls.connect({
            socket: raw,
            rejectUnauthorized: false,
            ...(net.isIP(hostname) === 0 ? { servername: hostname } : {}),
          })
        : undefined;
      const cleanup = (): void => {
        cancel.onCancel = undefined;
        abortiveClose(raw);
        secure?.destroy();
      };
      const finish = (): void => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve({
          statusCode: reader.statusCode,
          location: reader.location,
          body: reader.text(),
        });
      };
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        cleanup();
        reject(err instanceof Error ? err : new Error(String(err)));
      };
      cancel.onCancel = fail;

      const onData = (chunk: Buffer): void => {
        if (settled) return;
        const before = reader.headersDone;
        try {
          reader.push(chunk);
        } catch (err) {
          fail(err);
          return;
        }
        if (!before && reader.headersDone) onHeaders();
        if (reader.done) finish();
      };
      // The server's FIN: the body ends here (read-until-close framing, or a response
      // cut short, which node:http's client also took as the end); before the headers
      // it is the "socket hang up" of node:http.
      const onEnd = (): void => {
        if (reader.headersDone) finish();
        else fail(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
      };
      raw.on('error', fail);
      if (!secure) {
        raw.once('connect', () => raw.write(text));
        raw.on('data', onData);
        raw.on('end', onEnd);
        return;
      }
      secure.on('error', fail);
      secure.once('secureConnect', () => secure.write(text));
      secure.on('data', onData);
      secure.on('end', onEnd);
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
