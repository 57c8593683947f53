/**
 * The `pods/log` subresource as kube-apiserver serves it (pkg/registry/core/pod/rest/log.go,
 * `pod.LogLocation`): validate the PodLogOptions, pick the container, find the
 * pod's node and its kubelet endpoint, and stream
 * `https://<node>:<port>/containerLogs/<ns>/<pod>/<container>?…` back to the client,
 * authenticating to the kubelet with a client certificate.
 *
 * Safety: the test server only proxies to loopback addresses (127.0.0.1, ::1).
 */
import type { ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { ApiStatusError, badRequest } from './api-status.js';
import type { CertificateAndKey } from './certificates.js';
import { isObject, type Json, type JsonObject } from './patch.js';

/** Parsed `PodLogOptions` query parameters. */
export interface PodLogOptions {
  container: string;
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  sinceSeconds?: number;
  /** RFC 3339, as given. */
  sinceTime?: string;
  tailLines?: number;
  limitBytes?: number;
  insecureSkipTLSVerifyBackend: boolean;
}

/** Where and how to reach the kubelet for a log request. */
export interface PodLogLocation {
  host: string;
  port: number;
  /** Path and query, `/containerLogs/<ns>/<pod>/<container>?follow=true`. */
  path: string;
  insecureSkipTLSVerify: boolean;
}

function obj(v: Json | undefined): JsonObject {
  return isObject(v) ? v : {};
}

function str(v: Json | undefined): string {
  return typeof v === 'string' ? v : '';
}

function boolParam(q: URLSearchParams, key: string): boolean {
  const v = q.get(key);
  if (v === null || v === '') return false;
  if (v === 'true' || v === '1' || v === 'True' || v === 'TRUE' || v === 't') return true;
  if (v === 'false' || v === '0' || v === 'False' || v === 'FALSE' || v === 'f') return false;
  throw badRequest(`strconv.ParseBool: parsing "${v}": invalid syntax`);
}

function intParam(q: URLSearchParams, key: string): number | undefined {
  const v = q.get(key);
  if (v === null || v === '') return undefined;
  if (!/^[+-]?\d+$/.test(v)) throw badRequest(`strconv.ParseInt: parsing "${v}": invalid syntax`);
  return Number(v);
}

/**
 * Parses and validates the query of a log request like kube-apiserver: values that
 * are not integers/booleans/times are 400 BadRequest (parameter conversion);
 * `tailLines < 0`, `limitBytes < 1`, `sinceSeconds < 1`, or both `sinceSeconds` and
 * `sinceTime` are 422 Invalid (`ValidatePodLogOptions`), with the real messages.
 */
export function parsePodLogOptions(q: URLSearchParams, podName: string): PodLogOptions {
  const opts: PodLogOptions = {
    container: q.get('container') ?? '',
    follow: boolParam(q, 'follow'),
    previous: boolParam(q, 'previous'),
    timestamps: boolParam(q, 'timestamps'),
    insecureSkipTLSVerifyBackend: boolParam(q, 'insecureSkipTLSVerifyBackend'),
  };
  const sinceSeconds = intParam(q, 'sinceSeconds');
  const tailLines = intParam(q, 'tailLines');
  const limitBytes = intParam(q, 'limitBytes');
  const sinceTime = q.get('sinceTime') ?? '';
  if (sinceSeconds !== undefined) opts.sinceSeconds = sinceSeconds;
  if (tailLines !== undefined) opts.tailLines = tailLines;
  if (limitBytes !== undefined) opts.limitBytes = limitBytes;
  if (sinceTime !== '') {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(sinceTime)) {
      throw badRequest(
        `parsing time "${sinceTime}" as "2006-01-02T15:04:05Z07:00": cannot parse "${sinceTime}" as "2006"`,
      );
    }
    opts.sinceTime = new Date(sinceTime).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
  const causes: string[] = [];
  if (tailLines !== undefined && tailLines < 0)
    causes.push(`tailLines: Invalid value: ${tailLines}: must be greater than or equal to 0`);
  if (limitBytes !== undefined && limitBytes < 1)
    causes.push(`limitBytes: Invalid value: ${limitBytes}: must be greater than 0`);
  if (sinceSeconds !== undefined && opts.sinceTime !== undefined)
    causes.push('Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified');
  else if (sinceSeconds !== undefined && sinceSeconds < 1)
    causes.push(`sinceSeconds: Invalid value: ${sinceSeconds}: must be greater than 0`);
  if (causes.length > 0) {
    throw new ApiStatusError(
      422,
      'Invalid',
      `PodLogOptions "${podName}" is invalid: ${causes.join(', ')}`,
      { name: podName, kind: 'PodLogOptions' },
    );
  }
  return opts;
}

function containerNames(pod: JsonObject): string[] {
  const spec = obj(pod.spec);
  return [spec.initContainers, spec.containers, spec.ephemeralContainers].flatMap((list) =>
    Array.isArray(list) ? list.map((c) => str(obj(c).name)) : [],
  );
}

/**
 * Picks the container like `validateContainer`: the only container when none is
 * named; 400 with the list of names when the pod has several; 400 for a name the
 * pod does not have (init and ephemeral containers count).
 */
export function podLogContainer(pod: JsonObject, requested: string): string {
  const podName = str(obj(pod.metadata).name);
  const containers = Array.isArray(obj(pod.spec).containers)
    ? (obj(pod.spec).containers as Json[])
    : [];
  if (requested === '') {
    if (containers.length === 1) return str(obj(containers[0]).name);
    if (containers.length === 0)
      throw badRequest(`a container name must be specified for pod ${podName}`);
    throw badRequest(
      `a container name must be specified for pod ${podName}, choose one of: [${containerNames(pod).join(' ')}]`,
    );
  }
  if (!containerNames(pod).includes(requested))
    throw badRequest(`container ${requested} is not valid for pod ${podName}`);
  return requested;
}

/**
 * `--kubelet-preferred-address-types` as clusters set it (kubeadm: InternalIP first);
 * kube-apiserver's built-in default puts Hostname first, which needs node names that
 * resolve — test nodes' names do not.
 */
const preferredAddressTypes = [
  'InternalIP',
  'InternalDNS',
  'Hostname',
  'ExternalDNS',
  'ExternalIP',
];

function serviceUnavailable(message: string): ApiStatusError {
  return new ApiStatusError(503, 'ServiceUnavailable', message);
}

/**
 * Where a node's kubelet listens (`GetConnectionInfo`): the node's address by
 * preference (InternalIP, InternalDNS, Hostname, ExternalDNS, ExternalIP) and
 * `status.daemonEndpoints.kubeletEndpoint.Port`. `podName` names the pod in errors.
 *
 * Differences from the real server, on purpose: a node without a usable address,
 * without a kubelet port (the real server falls back to 10250 unless
 * `defaultKubeletPort` is set), or with an address other than 127.0.0.1/::1/localhost
 * is a 503 — the test server never contacts anything off this host.
 */
export function kubeletEndpoint(
  node: JsonObject | undefined,
  nodeName: string,
  podName: string | undefined,
  defaultKubeletPort: number | undefined,
): { host: string; port: number } {
  if (node === undefined)
    throw serviceUnavailable(
      podName === undefined
        ? `node "${nodeName}" not found`
        : `node "${nodeName}" of pod ${podName} not found`,
    );
  const status = obj(node.status);
  const addresses = (Array.isArray(status.addresses) ? status.addresses : []).map(obj);
  let address = '';
  for (const type of preferredAddressTypes) {
    const a = addresses.find((x) => x.type === type && str(x.address) !== '');
    if (a !== undefined) {
      address = str(a.address);
      break;
    }
  }
  if (address === '')
    throw serviceUnavailable(
      `no preferred addresses found for node "${nodeName}"; known addresses: [${addresses.map((a) => `${str(a.type)}=${str(a.address)}`).join(' ')}]`,
    );
  const host = address === 'localhost' ? '127.0.0.1' : address;
  if (host !== '127.0.0.1' && host !== '::1')
    throw serviceUnavailable(
      `the test API server only proxies to kubelets on 127.0.0.1 or ::1; node "${nodeName}" has address ${address}`,
    );
  const rawPort = obj(obj(status.daemonEndpoints).kubeletEndpoint).Port;
  const port = typeof rawPort === 'number' && rawPort > 0 ? rawPort : defaultKubeletPort;
  if (port === undefined)
    throw serviceUnavailable(
      `node "${nodeName}" reports no kubelet port (status.daemonEndpoints.kubeletEndpoint.Port)`,
    );
  return { host, port };
}

/**
 * The kubelet URL for a log request (`LogLocation`): the container, then the node's
 * kubelet ({@link kubeletEndpoint}). An unscheduled pod is a 400 (the real server
 * answers 200 with an empty body).
 */
export function podLogLocation(
  pod: JsonObject,
  node: JsonObject | undefined,
  opts: PodLogOptions,
  defaultKubeletPort: number | undefined,
): PodLogLocation {
  const meta = obj(pod.metadata);
  const podName = str(meta.name);
  const container = podLogContainer(pod, opts.container);
  const nodeName = str(obj(pod.spec).nodeName);
  if (nodeName === '')
    throw badRequest(
      `pod ${podName} is not scheduled to a node (spec.nodeName is empty); it has no logs yet`,
    );
  const { host, port } = kubeletEndpoint(node, nodeName, podName, defaultKubeletPort);
  const params = new URLSearchParams();
  if (opts.follow) params.append('follow', 'true');
  if (opts.previous) params.append('previous', 'true');
  if (opts.timestamps) params.append('timestamps', 'true');
  if (opts.sinceSeconds !== undefined) params.append('sinceSeconds', String(opts.sinceSeconds));
  if (opts.sinceTime !== undefined) params.append('sinceTime', opts.sinceTime);
  if (opts.tailLines !== undefined) params.append('tailLines', String(opts.tailLines));
  if (opts.limitBytes !== undefined) params.append('limitBytes', String(opts.limitBytes));
  const query = params.toString();
  const path = `/containerLogs/${encodeURIComponent(str(meta.namespace))}/${encodeURIComponent(podName)}/${encodeURIComponent(container)}`;
  return {
    host,
    port,
    path: query === '' ? path : `${path}?${query}`,
    insecureSkipTLSVerify: opts.insecureSkipTLSVerifyBackend,
  };
}

const statusReasons: Readonly<Record<number, string>> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  429: 'TooManyRequests',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** A kubelet error answer as the API server passes it on (`GenericHttpResponseChecker`). */
function backendError(code: number, body: string): ApiStatusError {
  if (code === 500)
    return new ApiStatusError(500, 'InternalError', `Internal error occurred: ${body}`);
  if (code === 400) return badRequest(body);
  return new ApiStatusError(
    code,
    statusReasons[code] ?? 'Unknown',
    body === ''
      ? `the server responded with the status code ${code} but did not return more information`
      : body,
  );
}

/** How the proxy authenticates to the kubelet and checks it. */
export interface KubeletClientTls {
  /** The API server's kubelet client certificate (`--kubelet-client-certificate`). */
  clientCertificate: CertificateAndKey;
  /**
   * CA for the kubelet's serving certificate (`--kubelet-certificate-authority`). Without
   * one the kubelet's certificate is not verified, as kube-apiserver does when that flag
   * is not set (`KubeletClientConfig.transportConfig`: no CA → insecure).
   */
  caPem?: string;
}

/**
 * Streams the kubelet's answer to `res`: status 200 with `text/plain` and the body
 * as it comes (follow keeps streaming); a kubelet error becomes a Status; a
 * client that goes away aborts the backend request. Resolves with the status
 * answered once the response has ended or been torn down.
 */
export function proxyPodLog(
  res: ServerResponse,
  location: PodLogLocation,
  tls: KubeletClientTls,
  sendStatus: (err: ApiStatusError) => void,
): Promise<number> {
  return new Promise((resolve) => {
    const url = `https://${isIP(location.host) === 6 ? `[${location.host}]` : location.host}:${location.port}${location.path}`;
    let settled = false;
    const done = (status: number): void => {
      if (settled) return;
      settled = true;
      resolve(status);
    };
    const backend = httpsRequest(
      {
        host: location.host,
        port: location.port,
        path: location.path,
        method: 'GET',
        cert: tls.clientCertificate.certPem,
        key: tls.clientCertificate.keyPem,
        ...(tls.caPem === undefined ? {} : { ca: tls.caPem }),
        rejectUnauthorized: tls.caPem !== undefined && !location.insecureSkipTLSVerify,
        headers: { 'User-Agent': 'nodeagent-testkit-apiserver' },
        agent: false,
      },
      (backendRes) => {
        const code = backendRes.statusCode ?? 502;
        if (code < 200 || code > 206) {
          let body = '';
          backendRes.setEncoding('utf8');
          backendRes.on('data', (c: string) => {
            if (body.length < 50_000) body += c;
          });
          backendRes.on('end', () => {
            const err = backendError(code, body.trim());
            sendStatus(err);
            done(err.status.code);
          });
          backendRes.on('error', () => undefined);
          return;
        }
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
        res.flushHeaders();
        backendRes.on('data', (chunk: Buffer) => res.write(chunk));
        backendRes.on('end', () => {
          res.end();
          done(200);
        });
        backendRes.on('error', () => {
          res.destroy();
          done(200);
        });
        backendRes.on('aborted', () => {
          res.destroy();
          done(200);
        });
      },
    );
    backend.on('error', (err) => {
      if (res.headersSent) {
        res.destroy();
        done(200);
        return;
      }
      const e = new ApiStatusError(500, 'InternalError', `Get "${url}": ${err.message}`);
      sendStatus(e);
      done(500);
    });
    // The client went away (or the server is going down): abort the kubelet request.
    res.on('close', () => {
      if (!res.writableFinished) backend.destroy();
      if (res.headersSent) done(200);
    });
    backend.end();
  });
}
