/**
 * A tiny grpc.health.v1 server over node:http2 for tests: answers `Check` from a
 * table of service → ServingStatus (NOT_FOUND for unknown services), can hang
 * (`hang` service), and answers Unimplemented for any other method. (grpc-js's own
 * server rejects the zero-length request the kubelet sends for the empty service.)
 */
import * as http2 from 'node:http2';
import type * as net from 'node:net';
import {
  decodeHealthCheckRequest,
  encodeHealthCheckResponse,
  healthCheckPath,
} from '../probers/grpc-health.js';

export interface HealthServer {
  port: number;
  statuses: Record<string, number>;
  userAgents: string[];
  hanging: number;
  close(): Promise<void>;
}

export async function startHealthServer(statuses: Record<string, number>): Promise<HealthServer> {
  const streams = new Set<http2.ServerHttp2Stream>();
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  const state: HealthServer = {
    port: 0,
    statuses,
    userAgents: [],
    hanging: 0,
    close: async () => {
      for (const s of streams) s.close(http2.constants.NGHTTP2_CANCEL);
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('stream', (stream, headers) => {
    streams.add(stream);
    stream.on('close', () => streams.delete(stream));
    stream.on('error', () => {});
    state.userAgents.push(String(headers['user-agent'] ?? ''));
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const finish = (code: number, message: string, body?: Buffer): void => {
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc' },
          { waitForTrailers: true },
        );
        stream.on('wantTrailers', () =>
          stream.sendTrailers({
            'grpc-status': String(code),
            'grpc-message': encodeURIComponent(message),
          }),
        );
        if (body) {
          const frame = Buffer.alloc(5 + body.length);
          frame.writeUInt32BE(body.length, 1);
          body.copy(frame, 5);
          stream.end(frame);
        } else {
          stream.end();
        }
      };
      if (headers[':path'] !== healthCheckPath) {
        finish(12, `unknown service ${String(headers[':path'])}`);
        return;
      }
      const payload = Buffer.concat(chunks).subarray(5);
      const service = decodeHealthCheckRequest(payload);
      if (service === 'hang') {
        state.hanging++;
        return;
      }
      const status = state.statuses[service];
      if (status === undefined) finish(5, 'unknown service');
      else finish(0, '', encodeHealthCheckResponse(status));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as net.AddressInfo).port;
  return state;
}
