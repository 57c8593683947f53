/**
 * Fault injection for the test API server: failing responses, added latency, and
 * which requests they apply to. (Dropping/stalling watches and going down are
 * operations on the server itself; see `TestApiServer.faults`.)
 */
import { ApiStatusError } from './api-status.js';

/** Which requests a fault applies to; every given field must match (none given: all requests). */
export interface FaultMatch {
  /** Kubernetes verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`). */
  verb?: string;
  /** Resource plural (`pods`, `leases`). */
  resource?: string;
  /** `status` for the status subresource, '' for the main resource. */
  subresource?: string;
  namespace?: string;
  name?: string;
  /** HTTP method. */
  method?: string;
  /** Tested against the URL path. */
  path?: RegExp;
}

/** A request as fault rules see it. */
export interface FaultRequest {
  verb: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  method: string;
  path: string;
}

/** An injected error response. */
export interface ErrorFault {
  match?: FaultMatch;
  /** HTTP status to answer: 500, 429, 410, 503, 504, 409, … */
  code: number;
  /** How many matching requests fail before the rule expires; default unlimited. */
  times?: number;
  /** `Retry-After` header in seconds (the real server sends 1 with 429). */
  retryAfterSeconds?: number;
  /** Status message; default a message naming the injected fault. */
  message?: string;
}

/** Added latency before matching requests are handled. */
export interface LatencyFault {
  match?: FaultMatch;
  /** Delay in milliseconds (on the server's clock). */
  delayMs: number;
}

/** Whether `req` matches `m`. */
export function faultMatches(m: FaultMatch | undefined, req: FaultRequest): boolean {
  if (m === undefined) return true;
  return (
    (m.verb === undefined || m.verb === req.verb) &&
    (m.resource === undefined || m.resource === req.resource) &&
    (m.subresource === undefined || m.subresource === req.subresource) &&
    (m.namespace === undefined || m.namespace === req.namespace) &&
    (m.name === undefined || m.name === req.name) &&
    (m.method === undefined || m.method === req.method) &&
    (m.path === undefined || m.path.test(req.path))
  );
}

const reasons: Readonly<Record<number, string>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  410: 'Expired',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** The Status error an {@link ErrorFault} answers with (reason as the real server gives for that code). */
export function faultError(f: ErrorFault): ApiStatusError {
  return new ApiStatusError(
    f.code,
    reasons[f.code] ?? 'Unknown',
    f.message ?? `injected fault: HTTP ${f.code}`,
  );
}
