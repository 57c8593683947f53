import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { noopLogger, type Clock, type Logger, type Timer } from '@nodeagent/core';
import { pingHealthCheck, runHealthz, type HealthCheck } from './healthz.js';

/** The kubelet's `healthzBindAddress` default. */
export const defaultHealthzBindAddress = '127.0.0.1';
/** The kubelet's `healthzPort` default (`ports.KubeletHealthzPort`). */
export const defaultHealthzPort = 10248;
/** How long the kubelet waits before trying to listen again after a failure. */
export const healthzListenRetryMs = 5_000;

/** Settings and collaborators of {@link HealthzServer}. */
export interface HealthzServerOptions {
  /** Address to listen on; default `127.0.0.1`. */
  address?: string;
  /** Port; default 10248. 0 picks a free port (tests); the agent leaves the server out then. */
  port?: number;
  /** Checks of `/healthz`; default `ping` only, as the kubelet's plain-HTTP healthz. */
  checks?: readonly HealthCheck[];
  clock: Clock;
  logger?: Logger;
}

/**
 * The kubelet's plain-HTTP health endpoint (`healthzBindAddress:healthzPort`, by default
 * `http://127.0.0.1:10248/healthz`), which node tooling and the kubelet e2e suite poll to
 * see that the kubelet is up: `/healthz` and `/healthz/<check>` with the apiserver healthz
 * semantics of {@link runHealthz} (`ok`, `?verbose`, `?exclude=`), no authentication
 * (keep it on loopback), 404 for every other path. Like the kubelet, a failure to listen
 * (the port taken) is logged and retried every 5 s; it never stops the agent.
 */
export class HealthzServer {
  private readonly address: string;
  private readonly requestedPort: number;
  private readonly checks: readonly HealthCheck[];
  private readonly clock: Clock;
  private readonly logger: Logger;
  private server: Server | undefined;
  private retry: Timer | undefined;
  private running = false;

  constructor(options: HealthzServerOptions) {
    this.address = options.address ?? defaultHealthzBindAddress;
    this.requestedPort = options.port ?? defaultHealthzPort;
    this.checks = options.checks ?? [pingHealthCheck];
    this.clock = options.clock;
    this.logger = (options.logger ?? noopLogger).child({ component: 'healthz' });
  }

  /** The port listened on, once listening. */
  get port(): number | undefined {
    const addr = this.server?.address();
    return addr !== null && typeof addr === 'object' ? addr.port : undefined;
  }

  /** Whether the server is listening. */
  get listening(): boolean {
    return this.server?.listening === true;
  }

  /**
   * Starts listening. Resolves after the first attempt whether or not it succeeded
   * (a failure is logged and retried every 5 s).
   */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.listen();
  }

  /** Stops listening and retrying; open connections are closed. */
  async stop(): Promise<void> {
    this.running = false;
    this.retry?.cancel();
    this.retry = undefined;
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async listen(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.requestedPort, this.address, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      server.close();
      this.logger.error('Failed to start healthz server', {
        address: `${this.address}:${this.requestedPort}`,
        err: err instanceof Error ? err.message : String(err),
      });
      if (this.running) {
        this.retry = this.clock.setTimeout(() => {
          this.retry = undefined;
          if (this.running) void this.listen();
        }, healthzListenRetryMs);
      }
      return;
    }
    if (!this.running) {
      server.close();
      return;
    }
    this.server = server;
    this.logger.info('Started healthz server', { address: `${this.address}:${this.port}` });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://healthz');
    let status = 404;
    let body = '404 page not found\n';
    if (url.pathname === '/healthz' || url.pathname.startsWith('/healthz/')) {
      ({ status, body } = await runHealthz(
        this.checks,
        url.pathname.slice('/healthz/'.length),
        url.searchParams,
      ));
    }
    res.writeHead(status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(body);
  }
}

/** Creates a {@link HealthzServer}. */
export function createHealthzServer(options: HealthzServerOptions): HealthzServer {
  return new HealthzServer(options);
}
