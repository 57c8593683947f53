/**
 * The API server's ways to the kubelet besides `pods/log`, as kube-apiserver has them:
 *
 * - `pods/exec`, `pods/attach` and `pods/portforward` (pkg/registry/core/pod/rest
 *   `ExecREST`/`AttachREST`/`PortForwardREST`, `pod.ExecLocation` …): the container is
 *   checked, the options become the kubelet's stream parameters (`input`, `output`,
 *   `error`, `tty`, `command`, `port`), and the upgrade (SPDY or WebSocket) is passed
 *   through to `https://<node>:<port>/exec/<ns>/<pod>/<container>?…` as it is, the
 *   kubelet's answer included (`UpgradeAwareHandler`).
 * - `nodes/<name>[:<port>]/proxy/<path>` (`node.ResourceLocation`): any request to the
 *   kubelet's own API (`/stats/summary`, `/metrics`, `/configz`, `/pods`, `/logs/` …),
 *   answered with the kubelet's status, headers and body unchanged.
 *
 * The API server authenticates to the kubelet with its kubelet client certificate.
 * Safety: like `pods/log`, it only ever connects to 127.0.0.1 or ::1.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { connect as netConnect } from 'node:net';
import { ApiStatusError, badRequest } from './api-status.js';
import { isObject, type Json, type JsonObject } from './patch.js';
import { kubeletEndpoint, podLogContainer, type KubeletClientTls } from './pod-log.js';

function obj(v: Json | undefined): JsonObject {
  return isObject(v) ? v : {};
}

function str(v: Json | undefined): string {
  return typeof v === 'string' ? v : '';
}

/** Where the API server sends a proxied or streaming request. */
export interface KubeletTarget {
  scheme: 'https' | 'http';
  host: string;
  port: number;
  /** Path and query on the kubelet (or the node port). */
  path: string;
}

/** The pod subresources that stream through the kubelet. */
export type PodStreamKind = 'exec' | 'attach' | 'portforward';

function flag(q: URLSearchParams, key: string): boolean {
  const v = q.get(key);
  if (v === null || v === '') return false;
  if (['true', '1', 't', 'True', 'TRUE'].includes(v)) return true;
  if (['false', '0', 'f', 'False', 'FALSE'].includes(v)) return false;
  throw badRequest(`strconv.ParseBool: parsing "${v}": invalid syntax`);
}

/**
 * The kubelet URL of an exec, attach or port-forward request (`ExecLocation`,
 * `AttachLocation`, `PortForwardLocation` + `streamParams`): 400 for a pod without a
 * node or a container it does not have; the kubelet gets `input`/`output`/`error`/
 * `tty` = 1 and every `command`, or every `port`.
 */
export function podStreamTarget(
  kind: PodStreamKind,
  pod: JsonObject,
  node: JsonObject | undefined,
  q: URLSearchParams,
  defaultKubeletPort: number | undefined,
): KubeletTarget {
  const meta = obj(pod.metadata);
  const podName = str(meta.name);
  const namespace = str(meta.namespace);
  const nodeName = str(obj(pod.spec).nodeName);
  if (nodeName === '') throw badRequest(`pod ${podName} does not have a host assigned`);
  const params = new URLSearchParams();
  let path: string;
  if (kind === 'portforward') {
    for (const p of q.getAll('ports').flatMap((v) => v.split(','))) {
      const n = Number(p);
      if (!/^\d+$/.test(p) || n < 1 || n > 65535)
        throw badRequest(`invalid port ${JSON.stringify(p)}: must be between 1 and 65535`);
      params.append('port', p);
    }
    path = `/portForward/${encodeURIComponent(namespace)}/${encodeURIComponent(podName)}`;
  } else {
    const container = podLogContainer(pod, q.get('container') ?? '');
    if (flag(q, 'stdin')) params.append('input', '1');
    if (flag(q, 'stdout')) params.append('output', '1');
    if (flag(q, 'stderr')) params.append('error', '1');
    if (flag(q, 'tty')) params.append('tty', '1');
    if (kind === 'exec') for (const c of q.getAll('command')) params.append('command', c);
    path = `/${kind}/${encodeURIComponent(namespace)}/${encodeURIComponent(podName)}/${encodeURIComponent(container)}`;
  }
  const { host, port } = kubeletEndpoint(node, nodeName, podName, defaultKubeletPort);
  const query = params.toString();
  return { scheme: 'https', host, port, path: query === '' ? path : `${path}?${query}` };
}

/**
 * Splits a `nodes/<id>/proxy` name the way `SplitSchemeNamePort` does: `name`,
 * `name:port` or `scheme:name:port`. Undefined when it is none of these.
 */
export function splitSchemeNamePort(
  id: string,
): { scheme: '' | 'http' | 'https'; name: string; port: string } | undefined {
  const parts = id.split(':');
  let scheme = '';
  let name: string;
  let port = '';
  if (parts.length === 1) name = parts[0] ?? '';
  else if (parts.length === 2) [name, port] = [parts[0] ?? '', parts[1] ?? ''];
  else if (parts.length === 3)
    [scheme, name, port] = [parts[0] ?? '', parts[1] ?? '', parts[2] ?? ''];
  else return undefined;
  if (name === '' || (scheme !== '' && scheme !== 'http' && scheme !== 'https')) return undefined;
  if (port !== '' && !/^\d+$/.test(port)) return undefined;
  return { scheme, name, port };
}

/**
 * The target of `nodes/<id>/proxy/<path>` (`node.ResourceLocation`): the kubelet (HTTPS,
 * client certificate) when no port or the kubelet's port is named; another port of
 * the node otherwise, plain HTTP unless the id says `https:`.
 */
export function nodeProxyTarget(
  node: JsonObject | undefined,
  id: { scheme: '' | 'http' | 'https'; name: string; port: string },
  proxyPath: string,
  search: string,
  defaultKubeletPort: number | undefined,
): KubeletTarget {
  const kubelet = kubeletEndpoint(node, id.name, undefined, defaultKubeletPort);
  const path = `/${proxyPath}${search}`;
  if (id.port === '' || Number(id.port) === kubelet.port)
    return { scheme: id.scheme === 'http' ? 'http' : 'https', ...kubelet, path };
  return {
    scheme: id.scheme === 'https' ? 'https' : 'http',
    host: kubelet.host,
    port: Number(id.port),
    path,
  };
}

/** Hop-by-hop headers a proxy never forwards (RFC 7230 §6.1), and the client's credentials. */
const dropped = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'authorization',
  'host',
  'content-length',
]);

function forwardedHeaders(req: IncomingMessage): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers))
    if (
      v !== undefined &&
      !dropped.has(k.toLowerCase()) &&
      !k.toLowerCase().startsWith('impersonate-')
    )
      out[k] = v;
  return out;
}

function hostHeader(t: KubeletTarget): string {
  return `${isIP(t.host) === 6 ? `[${t.host}]` : t.host}:${t.port}`;
}

/**
 * Proxies a plain (not upgraded) request: the kubelet's status, headers and body go
 * back unchanged and streamed; a kubelet that cannot be reached is a 503 Status
 * (`error trying to reach service`). Resolves with the status answered.
 */
export function proxyKubeletRequest(
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
  target: KubeletTarget,
  tls: KubeletClientTls,
  sendStatus: (err: ApiStatusError) => void,
): Promise<number> {
  return new Promise((resolve) => {
    const headers = forwardedHeaders(req);
    if (body.length > 0) headers['content-length'] = String(body.length);
    const common = {
      host: target.host,
      port: target.port,
      path: target.path,
      method: req.method ?? 'GET',
      headers: { ...headers, host: hostHeader(target) },
      agent: false as const,
    };
    const onResponse = (backendRes: IncomingMessage): void => {
      const code = backendRes.statusCode ?? 502;
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(backendRes.headers))
        if (v !== undefined && !['connection', 'keep-alive', 'transfer-encoding'].includes(k))
          out[k] = v;
      res.writeHead(code, out);
      res.flushHeaders();
      backendRes.pipe(res);
      backendRes.on('end', () => resolve(code));
      backendRes.on('error', () => {
        res.destroy();
        resolve(code);
      });
    };
    const backend =
      target.scheme === 'https'
        ? httpsRequest(
            {
              ...common,
              cert: tls.clientCertificate.certPem,
              key: tls.clientCertificate.keyPem,
              ...(tls.caPem === undefined ? {} : { ca: tls.caPem }),
              rejectUnauthorized: tls.caPem !== undefined,
            },
            onResponse,
          )
        : httpRequest(common, onResponse);
    backend.on('error', (err) => {
      if (res.headersSent) {
        res.destroy();
        resolve(res.statusCode);
        return;
      }
      const e = new ApiStatusError(
        503,
        'ServiceUnavailable',
        `error trying to reach service: ${err.message}`,
      );
      sendStatus(e);
      resolve(503);
    });
    res.on('close', () => {
      if (!res.writableFinished) backend.destroy();
    });
    backend.end(body);
  });
}

/** A raw HTTP answer on an upgrade socket: a Status in JSON. */
export function rawStatusResponse(err: ApiStatusError): string {
  const text = JSON.stringify(err.status);
  const reason = err.status.reason === '' ? 'Error' : err.status.reason;
  return (
    `HTTP/1.1 ${err.status.code} ${reason}\r\n` +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${Buffer.byteLength(text)}\r\n` +
    'Connection: close\r\n\r\n' +
    text
  );
}

/**
 * Passes an upgrade request (SPDY or WebSocket) through to the kubelet and then
 * copies bytes both ways until either side closes, like `UpgradeAwareHandler`: the
 * request line and headers go to the kubelet with the client's credentials replaced
 * by the API server's client certificate, and whatever the kubelet answers —
 * `101 Switching Protocols` or an error — reaches the client as it is. A kubelet that
 * cannot be reached is a 500 Status (`error dialing backend`). `track` sees both
 * sockets so that the server can cut them when it goes down.
 */
export function proxyKubeletUpgrade(
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  target: KubeletTarget,
  tls: KubeletClientTls,
  track: (s: Duplex) => void,
): void {
  const lines = [`${req.method ?? 'GET'} ${target.path} HTTP/1.1`, `Host: ${hostHeader(target)}`];
  for (const [k, v] of Object.entries(forwardedHeaders(req)))
    for (const value of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${value}`);
  lines.push(`Connection: Upgrade`, `Upgrade: ${req.headers.upgrade ?? ''}`);
  const backend =
    target.scheme === 'https'
      ? tlsConnect({
          host: target.host,
          port: target.port,
          cert: tls.clientCertificate.certPem,
          key: tls.clientCertificate.keyPem,
          ...(tls.caPem === undefined ? {} : { ca: tls.caPem }),
          rejectUnauthorized: tls.caPem !== undefined,
          ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
        })
      : netConnect({ host: target.host, port: target.port });
  track(backend);
  track(client);
  let connected = false;
  backend.once(target.scheme === 'https' ? 'secureConnect' : 'connect', () => {
    connected = true;
    backend.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length > 0) backend.write(head);
    backend.pipe(client);
    client.pipe(backend);
  });
  backend.on('error', (err: Error) => {
    if (!connected && client.writable) {
      client.end(
        rawStatusResponse(
          new ApiStatusError(
            500,
            'InternalError',
            `error dialing backend: dial tcp ${hostHeader(target)}: ${err.message}`,
          ),
        ),
      );
      return;
    }
    client.destroy();
  });
  client.on('error', () => backend.destroy());
  backend.on('close', () => {
    if (connected) client.destroy();
  });
  client.on('close', () => backend.destroy());
}
