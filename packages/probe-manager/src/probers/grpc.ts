import * as grpc from '@grpc/grpc-js';
import type { Clock } from '@nodeagent/core';
import {
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  healthCheckPath,
  servingStatusNames,
} from './grpc-health.js';
import { defaultProbeUserAgentVersion } from './http.js';
import { goDuration, joinHostPort, type ProbeOutcome } from './types.js';

/** `DEADLINE_EXCEEDED` → `DeadlineExceeded` (how Go prints gRPC codes). */
function codeName(code: number): string {
  const name = (grpc.status as unknown as Record<number, string>)[code] ?? `Code(${code})`;
  return name
    .toLowerCase()
    .replace(/(^|_)([a-z])/g, (_m, _u: string, ch: string) => ch.toUpperCase());
}

/**
 * gRPC probes (kubelet `probe/grpc`): calls `grpc.health.v1.Health/Check` with the
 * action's `service` on `podIP:port` over plaintext HTTP/2 with User-Agent
 * `kube-probe/<version>`; success (`service healthy`) only when the answer is `SERVING`.
 * Like the kubelet's blocking dial, the connection is retried (a refused port too)
 * until it is ready or the probe timeout passes (`timeout: failed to connect service
 * "10.0.0.1:2333" within 1s: context deadline exceeded`). Everything else is a failure
 * with the kubelet's message: not serving (`service unhealthy (responded with
 * "NOT_SERVING")`), Unimplemented, the RPC timeout (`timeout: health rpc did not
 * complete within 1s`), or any other RPC error. One channel per attempt, closed after.
 */
export class GrpcProber {
  constructor(
    private readonly clock: Pick<Clock, 'setTimeout'>,
    private readonly userAgentVersion: string = defaultProbeUserAgentVersion,
  ) {}

  probe(
    host: string,
    service: string,
    port: number,
    timeoutSeconds: number,
    signal?: AbortSignal,
  ): Promise<ProbeOutcome> {
    const addr = joinHostPort(host, port);
    return new Promise<ProbeOutcome>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const client = new grpc.Client(addr, grpc.credentials.createInsecure(), {
        'grpc.primary_user_agent': `kube-probe/${this.userAgentVersion}`,
        'grpc.enable_retries': 0,
        'grpc.enable_channelz': 0,
        'grpc.use_local_subchannel_pool': 1,
      });
      let settled = false;
      let timedOut = false;
      let call: grpc.ClientUnaryCall | undefined;
      const channel = client.getChannel();
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        client.close();
        fn();
      };
      const startCall = (): void => {
        call = client.makeUnaryRequest<string, number>(
          healthCheckPath,
          encodeHealthCheckRequest,
          (buf) => decodeHealthCheckResponse(buf),
          service,
          new grpc.Metadata(),
          {},
          (err, status) => {
            if (err) {
              if (timedOut) {
                settle(() =>
                  resolve({
                    result: 'Failure',
                    output: `timeout: health rpc did not complete within ${goDuration(timeoutSeconds)}`,
                  }),
                );
                return;
              }
              if (signal?.aborted) {
                settle(() => reject(signal.reason as Error));
                return;
              }
              const output =
                err.code === grpc.status.UNIMPLEMENTED
                  ? `error: this server does not implement the grpc health protocol (grpc.health.v1.Health): ${err.details}`
                  : err.code === grpc.status.DEADLINE_EXCEEDED
                    ? `timeout: health rpc did not complete within ${goDuration(timeoutSeconds)}`
                    : `error: health rpc probe failed: rpc error: code = ${codeName(err.code)} desc = ${err.details}`;
              settle(() => resolve({ result: 'Failure', output }));
              return;
            }
            const value = status ?? 0;
            if (value !== 1) {
              const name = servingStatusNames[value] ?? String(value);
              settle(() =>
                resolve({
                  result: 'Failure',
                  output: `service unhealthy (responded with ${JSON.stringify(name)})`,
                }),
              );
              return;
            }
            settle(() => resolve({ result: 'Success', output: 'service healthy' }));
          },
        );
      };
      // kubelet: grpc.DialContext(..., WithBlock()) — wait for the connection to be
      // READY (a refused or failing connection is retried) until the probe timeout.
      const awaitReady = (): void => {
        if (settled || call) return;
        const state = channel.getConnectivityState(true);
        if (state === grpc.connectivityState.READY) startCall();
        else if (state !== grpc.connectivityState.SHUTDOWN)
          channel.watchConnectivityState(state, Infinity, awaitReady);
      };
      const timer = this.clock.setTimeout(() => {
        if (!call) {
          settle(() =>
            resolve({
              result: 'Failure',
              output: `timeout: failed to connect service ${JSON.stringify(addr)} within ${goDuration(timeoutSeconds)}: context deadline exceeded`,
            }),
          );
          return;
        }
        timedOut = true;
        call.cancel();
      }, timeoutSeconds * 1000);
      const onAbort = (): void => {
        if (call) call.cancel();
        else settle(() => reject(signal?.reason as Error));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      awaitReady();
    });
  }
}
