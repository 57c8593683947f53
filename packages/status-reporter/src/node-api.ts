import {
  ApiException,
  PatchStrategy,
  V1MicroTime,
  setHeaderOptions,
  type ConfigurationOptions,
} from '@kubernetes/client-node';

/*
 * Small helpers at the @kubernetes/client-node boundary shared by the node status
 * manager and the node lease controller.
 */

/** An RFC 3339 timestamp with second precision (metav1.Time), e.g. `2026-01-01T00:00:00Z`. */
export function formatTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * An RFC 3339 timestamp with six fractional digits (metav1.MicroTime, the Lease's
 * `renewTime`), e.g. `2026-01-01T00:00:10.123000Z`. The clock has millisecond
 * resolution, so the last three digits are zero.
 */
export function formatMicroTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * Converts an object returned by @kubernetes/client-node (its generated models carry
 * `Date`s for timestamps) to the JSON shape the API server sends: `Date`s become
 * RFC 3339 strings (`V1MicroTime` with microseconds, others with seconds), undefined
 * fields disappear. The models' property names equal the JSON names for Node and Lease.
 */
export function toApiJson<T>(value: unknown): T {
  return convert(value) as T;
}

function convert(value: unknown): unknown {
  if (value instanceof V1MicroTime) return formatMicroTime(value.getTime());
  if (value instanceof Date) return formatTime(value.getTime());
  if (Array.isArray(value)) return value.map(convert);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v !== undefined) out[k] = convert(v);
    }
    return out;
  }
  return value;
}

/** The HTTP status of a failed API call; undefined for network errors (no response). */
export function apiErrorCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return typeof err.code === 'number' ? err.code : undefined;
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = err.code;
    if (typeof code === 'number' && code >= 100 && code < 600) return code;
  }
  return undefined;
}

/** A one-line description of a failed API call for logs. */
export function apiErrorMessage(err: unknown): string {
  if (err instanceof ApiException) {
    let message = '';
    try {
      const body: unknown = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
      if (typeof body === 'object' && body !== null && 'message' in body)
        message = String(body.message);
    } catch {
      // not a Status body
    }
    return `HTTP ${String(err.code)}${message ? `: ${message}` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** True for 404 Not Found. */
export function isNotFound(err: unknown): boolean {
  return apiErrorCode(err) === 404;
}

/** True for 409 Conflict (AlreadyExists on create, a stale resourceVersion on update). */
export function isConflict(err: unknown): boolean {
  return apiErrorCode(err) === 409;
}

/**
 * Per-call options that send a patch as a strategic merge patch
 * (`application/strategic-merge-patch+json`), the kubelet's patch type for node
 * status. The header middleware is appended, so the client's own middleware (rate
 * limiting, user agent) still runs.
 */
export const strategicMergePatchOptions: ConfigurationOptions = setHeaderOptions(
  'Content-Type',
  PatchStrategy.StrategicMergePatch,
);
