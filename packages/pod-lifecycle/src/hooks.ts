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

/**
 * A lifecycle handler that failed: `message` is the cause (kubelet's error, e.g.
 * `command 'sh -c exit 1' exited with 1: …`), `output` what an exec handler printed
 * (stdout then stderr).
 */
export class LifecycleHookError extends Error {
  constructor(
    message: string,
    readonly output = '',
  ) {
    super(message);
    this.name = 'LifecycleHookError';
  }
}

/** The kubelet's `format.Pod`: `name_namespace(uid)`. */
export function formatPod(pod: k8s.Pod): string {
  return `${pod.metadata?.name ?? ''}_${pod.metadata?.namespace ?? ''}(${pod.metadata?.uid ?? ''})`;
}

/**
 * The message of a failed lifecycle handler, as the kubelet's `handlerRunner.Run` words
 * it for the FailedPostStartHook / FailedPreStopHook events and the PostStartHookError
 * waiting state: `Exec lifecycle hook ([sh -c exit 1]) for Container "c" in Pod
 * "p_ns(uid)" failed - error: …, message: "…"`, `HTTP lifecycle hook (/path) for
 * Container … failed - error: …`, `Sleep lifecycle hook (5) for Container … failed -
 * error: …`.
 */
export function lifecycleHookFailureMessage(
  handler: k8s.LifecycleHandler,
  container: string,
  pod: k8s.Pod,
  err: unknown,
): string {
  const cause = err instanceof Error ? err.message : String(err);
  const where = `for Container ${JSON.stringify(container)} in Pod ${JSON.stringify(formatPod(pod))}`;
  if (handler.exec) {
    const output = err instanceof LifecycleHookError ? err.output : '';
    return `Exec lifecycle hook ([${(handler.exec.command ?? []).join(' ')}]) ${where} failed - error: ${cause}, message: ${JSON.stringify(output)}`;
  }
  if (handler.httpGet)
    return `HTTP lifecycle hook (${handler.httpGet.path ?? ''}) ${where} failed - error: ${cause}`;
  if (handler.sleep)
    return `Sleep lifecycle hook (${handler.sleep.seconds}) ${where} failed - error: ${cause}`;
  return `Cannot run handler: ${cause}`;
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
  /**
   * Called when an HTTPS hook got a plain-HTTP answer and the retry over HTTP succeeded
   * (kubelet `LifecycleHTTPFallback` Warning event), with the hook's `host:port`.
   */
  onHttpFallback?: (hostPort: string) => void;
}

/** The `User-Agent` of HTTP lifecycle hooks (kubelet: `kube-lifecycle/<major>.<minor>`). */
export const lifecycleUserAgent = 'kube-lifecycle/1.36';

/**
 * Whether a failed HTTPS request met a server that speaks plain HTTP (Go's "server gave
 * HTTP response to HTTPS client"): OpenSSL sees an HTTP status line where a TLS record
 * should be.
 */
export function isHttpResponseToHttpsError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return (
    code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    code === 'ERR_SSL_HTTP_REQUEST' ||
    /wrong version number|packet length too long|http request/i.test(err.message)
  );
}

/** One GET of an HTTP lifecycle hook; resolves on any answer (the body is discarded). */
function hookGet(
  scheme: 'HTTP' | 'HTTPS',
  host: string,
  port: number,
  path: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const request = scheme === 'HTTPS' ? httpsRequest : httpRequest;
    const req = request(
      {
        host,
        port,
        path,
        method: 'GET',
        headers,
        agent: false,
        timeout: timeoutMs,
        rejectUnauthorized: false,
      },
      (res) => {
        // kubelet runHTTPHandler: any answer is a success (the body is discarded).
        res.resume();
        res.on('end', () => resolve());
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('lifecycle hook timed out')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Runs a lifecycle handler (preStop / postStart): exec through the runtime, httpGet,
 * or sleep (kubelet `handlerRunner.Run`). Rejects with the handler's failure (a
 * {@link LifecycleHookError} for a non-zero exit). As in the kubelet, an httpGet
 * handler fails only when the request fails (connection refused, timeout): the HTTP
 * status code of the answer is not looked at. A sleep is cut short at `timeoutMs`
 * (the grace period) and by `signal`.
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
      const stderr = Buffer.from(res.stderr).toString();
      const out = Buffer.from(res.stdout).toString() + stderr;
      throw new LifecycleHookError(
        `command '${(handler.exec.command ?? []).join(' ')}' exited with ${res.exitCode}: ${stderr}`,
        out,
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
    const has = (name: string): boolean =>
      Object.keys(headers).some((k) => k.toLowerCase() === name);
    if (!has('user-agent')) headers['User-Agent'] = lifecycleUserAgent;
    if (!has('accept')) headers.Accept = '*/*';
    const path = !get.path ? '/' : get.path.startsWith('/') ? get.path : `/${get.path}`;
    const scheme = get.scheme === 'HTTPS' ? 'HTTPS' : 'HTTP';
    try {
      await hookGet(scheme, host, port, path, headers, ctx.timeoutMs);
    } catch (err) {
      if (scheme !== 'HTTPS' || !isHttpResponseToHttpsError(err)) throw err;
      // kubelet runHTTPHandler: an HTTPS hook answered in plain HTTP is tried again
      // over HTTP, without the Authorization header; the first error stands if that fails.
      const plain = Object.fromEntries(
        Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'),
      );
      try {
        await hookGet('HTTP', host, port, path, plain, ctx.timeoutMs);
      } catch {
        throw err;
      }
      ctx.onHttpFallback?.(`${host.includes(':') ? `[${host}]` : host}:${port}`);
    }
    return;
  }
  if (handler.sleep) {
    // A zero-second sleep (allowed since 1.32) returns at once, without a timer.
    const ms = Math.min(handler.sleep.seconds * 1000, ctx.timeoutMs);
    if (ms > 0) await ctx.clock.sleep(ms, ctx.signal);
    return;
  }
  throw new Error(`invalid handler: ${JSON.stringify(handler)}`);
}
