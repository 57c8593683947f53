import type { Clock, ContainerRuntime, k8s } from '@nodeagent/core';
import { resolveContainerPort, type ResolvedProbe } from '../probe-spec.js';
import { ExecProber, expandCommand } from './exec.js';
import { GrpcProber } from './grpc.js';
import {
  buildHttpProbeRequest,
  defaultProbeUserAgentVersion,
  HttpProber,
  type HttpProbeRequest,
} from './http.js';
import { TcpProber } from './tcp.js';
import type { ProbeOutcome, ProbeRunner, ProbeTarget } from './types.js';

/** Options of the {@link DefaultProbeRunner}. */
export interface DefaultProbeRunnerOptions {
  /** Runs exec probes (CRI `ExecSync`). */
  runtime: Pick<ContainerRuntime, 'execSync'>;
  /** Times the HTTP, TCP and gRPC timeouts. */
  clock: Pick<Clock, 'setTimeout'>;
  /** `<major>.<minor>` in `User-Agent: kube-probe/<version>`; default `1.36`. */
  userAgentVersion?: string;
  /** See {@link ExecProberOptions.execGraceMs}. */
  execGraceMs?: number;
}

/**
 * Runs one attempt of any probe kind the way the kubelet's `prober.runProbe` does:
 * exec in the container (command `$(VAR)`-expanded with the container's static env),
 * httpGet and tcpSocket against the action's host or else the pod IP, grpc against the
 * pod IP. A port that cannot be resolved is an error, and so is an `invalid` handler
 * (rejected with its reason, like the kubelet's `missing probe handler …`).
 */
export class DefaultProbeRunner implements ProbeRunner {
  readonly exec: ExecProber;
  readonly http: HttpProber;
  readonly tcp: TcpProber;
  readonly grpc: GrpcProber;
  private readonly userAgentVersion: string;
  /** Built httpGet requests by action object; entries go with their probe specs. */
  private readonly httpRequests = new WeakMap<
    k8s.HTTPGetAction,
    { container: k8s.Container; podIp: string; request: HttpProbeRequest }
  >();

  constructor(options: DefaultProbeRunnerOptions) {
    this.userAgentVersion = options.userAgentVersion ?? defaultProbeUserAgentVersion;
    this.exec = new ExecProber({
      runtime: options.runtime,
      ...(options.execGraceMs !== undefined ? { execGraceMs: options.execGraceMs } : {}),
    });
    this.http = new HttpProber(options.clock);
    this.tcp = new TcpProber(options.clock);
    this.grpc = new GrpcProber(options.clock, this.userAgentVersion);
  }

  run(probe: ResolvedProbe, target: ProbeTarget): Promise<ProbeOutcome> {
    const { handler, timeoutSeconds } = probe;
    const podIp = target.status.podIP ?? '';
    switch (handler.kind) {
      case 'exec': {
        const command = expandCommand(handler.exec.command ?? [], target.container.env);
        return this.exec.probe(target.containerId, command, timeoutSeconds, target.signal);
      }
      case 'httpGet': {
        // The request depends only on the action, the container (named ports) and the
        // pod IP: build it once per probe spec and reuse it while those stay the same,
        // instead of parsing a URL and headers on every attempt.
        let cached = this.httpRequests.get(handler.httpGet);
        if (cached?.container !== target.container || cached.podIp !== podIp) {
          cached = {
            container: target.container,
            podIp,
            request: buildHttpProbeRequest(
              handler.httpGet,
              target.container,
              podIp,
              this.userAgentVersion,
            ),
          };
          this.httpRequests.set(handler.httpGet, cached);
        }
        return this.http.probe(cached.request, timeoutSeconds, target.signal);
      }
      case 'tcpSocket': {
        const port = resolveContainerPort(handler.tcpSocket.port, target.container);
        if ('error' in port) return Promise.reject(new Error(port.error));
        return this.tcp.probe(
          handler.tcpSocket.host || podIp,
          port.port,
          timeoutSeconds,
          target.signal,
        );
      }
      case 'grpc':
        return this.grpc.probe(
          podIp,
          handler.grpc.service ?? '',
          handler.grpc.port,
          timeoutSeconds,
          target.signal,
        );
      case 'invalid':
        // The prober never gets here (it errors an invalid probe itself); a direct
        // caller gets the error the kubelet's runProbe returns.
        return Promise.reject(new Error(handler.reason));
    }
  }
}
