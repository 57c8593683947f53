import type { PlegHealth } from '@nodeagent/core';

/** One named health check (`healthz.HealthChecker`); rejects (or throws) when unhealthy. */
export interface HealthCheck {
  /** Name under `/healthz/<name>`. */
  readonly name: string;
  check(): Promise<void> | void;
}

/** The `ping` check: always healthy (`healthz.PingHealthz`). */
export const pingHealthCheck: HealthCheck = { name: 'ping', check: () => undefined };

/**
 * The `log` check (`healthz.LogHealthz`): healthy while logging is not blocked.
 * nodeagent's loggers never block the event loop, so it passes whenever the server
 * answers; give `probe` to check a logging backend of your own.
 */
export function logHealthCheck(probe?: () => Promise<void> | void): HealthCheck {
  return { name: 'log', check: () => probe?.() };
}

/**
 * The `syncloop` check: unhealthy with the PLEG's own message (`pleg was last seen
 * active 3m5s ago; threshold is 3m0s`) while the PLEG is unhealthy, as the kubelet's
 * `syncLoopHealthCheck` / PLEG `Healthy()` report.
 */
export function syncLoopHealthCheck(pleg: { healthy(): PlegHealth }): HealthCheck {
  return {
    name: 'syncloop',
    check() {
      const h = pleg.healthy();
      if (!h.ok) throw new Error(h.message === '' ? 'pleg is not healthy' : h.message);
    },
  };
}

/** Result of {@link runHealthz}. */
export interface HealthzResult {
  status: number;
  body: string;
}

/**
 * The apiserver's healthz handlers, which the kubelet uses: `/healthz` runs every
 * check not named in `exclude` and answers `ok` (200) or the per-check listing
 * (`[+]ping ok`, `[-]syncloop failed: reason withheld`) plus `healthz check failed`
 * (500); `?verbose` lists the checks on success too. `/healthz/<name>` runs one check:
 * `ok` or 500 `internal server error: <why>`; an unknown name is 404.
 */
export async function runHealthz(
  checks: readonly HealthCheck[],
  subPath: string,
  query: URLSearchParams,
): Promise<HealthzResult> {
  if (subPath !== '') {
    const c = checks.find((x) => x.name === subPath);
    if (!c) return { status: 404, body: '404 page not found\n' };
    try {
      await c.check();
      return { status: 200, body: 'ok' };
    } catch (err) {
      return {
        status: 500,
        body: `internal server error: ${err instanceof Error ? err.message : String(err)}\n`,
      };
    }
  }
  const excluded = query.has('exclude')
    ? new Set(
        query
          .getAll('exclude')
          .flatMap((e) => e.split(','))
          .filter((e) => e !== ''),
      )
    : undefined;
  let out = '';
  let failed = false;
  for (const c of checks) {
    if (excluded?.delete(c.name) === true) {
      out += `[+]${c.name} excluded: ok\n`;
      continue;
    }
    try {
      // Every check runs on every request, as the kubelet's; a synchronous one
      // (ping, syncloop) is not awaited.
      const pending = c.check();
      if (pending !== undefined) await pending;
      out += `[+]${c.name} ok\n`;
    } catch {
      failed = true;
      out += `[-]${c.name} failed: reason withheld\n`;
    }
  }
  if (excluded !== undefined && excluded.size > 0) {
    out += `warn: some health checks cannot be excluded: no matches for ${[...excluded].map((e) => `"${e}"`).join(',')}\n`;
  }
  if (failed) return { status: 500, body: `${out}healthz check failed\n` };
  if (!query.has('verbose')) return { status: 200, body: 'ok' };
  return { status: 200, body: `${out}healthz check passed\n` };
}
