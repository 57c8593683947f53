import * as net from 'node:net';
import type { Clock } from '@nodeagent/core';
import { joinHostPort, type ProbeOutcome } from './types.js';

/** Describes a socket error the way Go's dialer does (`connect: connection refused`). */
export function dialErrorText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connect: connection refused';
    case 'ECONNRESET':
      return 'read: connection reset by peer';
    case 'EHOSTUNREACH':
      return 'connect: no route to host';
    case 'ENETUNREACH':
      return 'connect: network is unreachable';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `lookup: no such host`;
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Closes a TCP socket with a reset (SO_LINGER 0) so that neither side keeps the
 * connection in TIME_WAIT; falls back to a plain destroy for non-TCP handles.
 */
export function abortiveClose(socket: net.Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/**
 * TCP probes (kubelet `probe/tcp`): success when a connection to `host:port` opens
 * within the timeout; a refused or timed-out connection is a failure (`dial tcp
 * 127.0.0.1:80: connect: connection refused`). The connection is closed at once with
 * a reset, so probing leaves no TIME_WAIT sockets on either side.
 */
export class TcpProber {
  constructor(private readonly clock: Pick<Clock, 'setTimeout'>) {}

  probe(
    host: string,
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
      let settled = false;
      const socket = net.connect({ host, port });
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        abortiveClose(socket);
        fn();
      };
      const onAbort = (): void => settle(() => reject(signal?.reason as Error));
      const timer = this.clock.setTimeout(
        () => settle(() => resolve({ result: 'Failure', output: `dial tcp ${addr}: i/o timeout` })),
        timeoutSeconds * 1000,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => settle(() => resolve({ result: 'Success', output: '' })));
      socket.on('error', (err) =>
        settle(() =>
          resolve({ result: 'Failure', output: `dial tcp ${addr}: ${dialErrorText(err)}` }),
        ),
      );
    });
  }
}
