import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Clock, ContainerRuntime, k8s } from '@nodeagent/core';

/** Resolves an `IntOrString` port against the container's named ports. */
export function resolvePort(
  port: k8s.IntOrString | undefined,
  container: k8s.Container | undefined,
): number {
  if (typeof port === 'number') return port;
  if (port === undefined) throw new Error('no port given');
  if (/^\d+$/.test(port)) return Number(port);
  const named = container?.ports?.find((p) => p.name === port);
  if (!named) throw new Error(`couldn't find port: ${port} in container ${container?.name ?? ''}`);
  return named.containerPort;
}

export interface HookContext {
  runtime: Pick<ContainerRuntime, 'execSync'>;
  clock: Clock;
  containerId: string;
  container: k8s.Container | undefined;
  /** Default host for httpGet: the pod IP (127.0.0.1 for host-network pods). */
  podIp: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Runs a lifecycle handler (preStop / postStart): exec through the runtime, httpGet,
 * or sleep (kubelet `handlerRunner.Run`). Rejects with the handler's failure.
 */
export async function runLifecycleHandler(
  handler: k8s.LifecycleHandler,
  ctx: HookContext,
): Promise<void> {
  if (handler.exec) {
    const res = await ctx.runtime.execSync(
      {
        containerId: ctx.containerId,
        cmd: handler.exec.command ?? [],
        timeout: Math.max(1, Math.ceil(ctx.timeoutMs / 1000)),
      },
      { timeoutMs: ctx.timeoutMs + 2_000, ...(ctx.signal ? { signal: ctx.signal } : {}) },
    );
    if (res.exitCode !== 0) {
      const out = Buffer.from(res.stdout).toString() + Buffer.from(res.stderr).toString();
      throw new Error(
        `command '${(handler.exec.command ?? []).join(' ')}' exited with ${res.exitCode}: ${out}`,
      );
    }
    return;
  }
  if (handler.httpGet) {
    const get = handler.httpGet;
    const port = resolvePort(get.port, ctx.container);
    const host = get.host || ctx.podIp || '127.0.0.1';
    const headers: Record<string, string> = {};
    for (const h of get.httpHeaders ?? []) headers[h.name] = h.value;
    await new Promise<void>((resolve, reject) => {
      const request = get.scheme === 'HTTPS' ? httpsRequest : httpRequest;
      const req = request(
        {
          host,
          port,
          path: get.path || '/',
          method: 'GET',
          headers,
          agent: false,
          timeout: ctx.timeoutMs,
          rejectUnauthorized: false,
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            const code = res.statusCode ?? 0;
            if (code >= 200 && code < 400) resolve();
            else
              reject(
                new Error(
                  `HTTP lifecycle hook (${get.path ?? '/'}) for Container "${ctx.container?.name ?? ''}" failed with statuscode ${code}`,
                ),
              );
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('lifecycle hook timed out')));
      req.on('error', reject);
      req.end();
    });
    return;
  }
  if (handler.sleep) {
    await ctx.clock.sleep(Math.min(handler.sleep.seconds * 1000, ctx.timeoutMs), ctx.signal);
    return;
  }
  throw new Error('lifecycle handler has no action');
}
