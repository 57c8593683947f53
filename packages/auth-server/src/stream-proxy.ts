import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';

/** Headers never forwarded to the runtime's streaming server. */
const droppedHeaders = new Set(['authorization', 'host', 'proxy-authorization', 'cookie']);

const framingHeaders = new Set(['transfer-encoding', 'content-length', 'connection', 'keep-alive']);

function rawHeaderLines(res: IncomingMessage, dropFraming = false): string {
  let out = '';
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
    const name = res.rawHeaders[i] ?? '';
    if (dropFraming && framingHeaders.has(name.toLowerCase())) continue;
    out += `${name}: ${res.rawHeaders[i + 1]}\r\n`;
  }
  return out;
}

/** Options of {@link proxyUpgrade}. */
export interface ProxyUpgradeOptions {
  /** Close both sides after this many ms without traffic (kubelet `streamingConnectionIdleTimeout`). */
  idleTimeoutMs: number;
  /** Called with both sockets once the upgrade succeeded (for stop()). */
  track(socket: Duplex): void;
}

/**
 * Proxies an upgrade request (SPDY/3.1 or WebSocket, as `kubectl exec` sends) to the
 * runtime's streaming server at `target` — the kubelet's `proxyStream` with
 * `UpgradeAwareHandler(upgradeRequired=true)`: the request goes out with the
 * client's headers (minus its credentials) to the target's path; a `101` answer is
 * relayed and both connections are spliced; any other answer is relayed as is.
 * Resolves once the exchange is set up or answered.
 */
export function proxyUpgrade(
  req: IncomingMessage,
  clientSocket: Duplex,
  head: Buffer,
  target: URL,
  options: ProxyUpgradeOptions,
): Promise<void> {
  return new Promise((resolve) => {
    const headers: IncomingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (!droppedHeaders.has(k) && v !== undefined) headers[k] = v;
    }
    headers.host = target.host;
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const out = send({
      hostname: target.hostname,
      port: target.port,
      path: `${target.pathname}${target.search}`,
      method: req.method ?? 'GET',
      headers,
      // a runtime streaming server with TLS uses a self-signed certificate (containerd)
      ...(target.protocol === 'https:' ? { rejectUnauthorized: false } : {}),
    });
    const fail = (): void => {
      if (clientSocket.writable) {
        const body = 'error dialing backend\n';
        clientSocket.end(
          `HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      } else {
        clientSocket.destroy();
      }
      resolve();
    };
    out.on('error', fail);
    clientSocket.on('error', () => out.destroy());
    out.on('upgrade', (res, backend, backendHead) => {
      out.removeListener('error', fail);
      clientSocket.write(
        `HTTP/1.1 ${res.statusCode ?? 101} ${res.statusMessage ?? 'Switching Protocols'}\r\n${rawHeaderLines(res)}\r\n`,
      );
      if (backendHead.length > 0) clientSocket.write(backendHead);
      if (head.length > 0) backend.write(head);
      const closeBoth = (): void => {
        backend.destroy();
        clientSocket.destroy();
      };
      for (const s of [backend, clientSocket]) {
        s.on('error', closeBoth);
        s.on('close', closeBoth);
        const withTimeout = s as Duplex & { setTimeout?: (ms: number, cb: () => void) => void };
        if (options.idleTimeoutMs > 0) withTimeout.setTimeout?.(options.idleTimeoutMs, closeBoth);
        options.track(s);
      }
      backend.pipe(clientSocket);
      clientSocket.pipe(backend);
      resolve();
    });
    out.on('response', (res) => {
      out.removeListener('error', fail);
      clientSocket.write(
        // the body is relayed decoded and delimited by closing the connection
        `HTTP/1.1 ${res.statusCode ?? 502} ${res.statusMessage ?? ''}\r\n${rawHeaderLines(res, true)}Connection: close\r\n\r\n`,
      );
      res.pipe(clientSocket);
      res.on('end', () => {
        clientSocket.end();
        resolve();
      });
      res.on('error', () => {
        clientSocket.destroy();
        resolve();
      });
    });
    out.end();
  });
}
