import {
  ApiException,
  Observable,
  ResponseContext,
  type ConfigurationOptions,
  type ObservableMiddleware,
  type RequestContext,
} from '@kubernetes/client-node';
import { NotFoundError, UnavailableError, isNodeAgentError } from '@nodeagent/core';

/**
 * What an API request's failure means to a retrying caller: the HTTP status (none
 * for network errors), the server's Status message, and `Retry-After` in seconds.
 */
export interface ApiFailure {
  /** HTTP status code; undefined when no response arrived (connection refused, reset, aborted). */
  readonly code: number | undefined;
  /** The Status `reason` (`Expired`, `TooManyRequests`, …) when the server sent one. */
  readonly reason: string | undefined;
  /** A message for logs and health reports. */
  readonly message: string;
  /** `Retry-After` header in seconds (the API server sends it with 429). */
  readonly retryAfterSeconds: number | undefined;
}

/** A failed API call, carrying the parsed {@link ApiFailure}. */
export class KubeApiCallError extends Error {
  constructor(
    readonly failure: ApiFailure,
    options?: { cause?: unknown },
  ) {
    super(failure.message, options);
    this.name = 'KubeApiCallError';
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseStatus(text: string | undefined): { message?: string; reason?: string } {
  if (text === undefined || text === '') return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (!isRecord(parsed)) return {};
    return {
      ...(typeof parsed.message === 'string' ? { message: parsed.message } : {}),
      ...(typeof parsed.reason === 'string' ? { reason: parsed.reason } : {}),
    };
  } catch {
    return {};
  }
}

/**
 * Classifies any error thrown by an API call or passed to a watch's `done` callback:
 * client-node's `ApiException`, the watch's `Error` with `statusCode`, an ERROR watch
 * event's Status object, or a network error.
 */
export function apiFailureOf(err: unknown): ApiFailure {
  if (err instanceof KubeApiCallError) return err.failure;
  if (err instanceof ApiException) {
    const code = typeof err.code === 'number' ? err.code : undefined;
    const status = parseStatus(typeof err.body === 'string' ? err.body : undefined);
    const headers: Record<string, unknown> = isRecord(err.headers) ? err.headers : {};
    const retry = Number(headers['retry-after']);
    return {
      code,
      reason: status.reason,
      message: `HTTP ${code ?? '?'}: ${status.message ?? 'request failed'}`,
      retryAfterSeconds: Number.isFinite(retry) && retry > 0 ? retry : undefined,
    };
  }
  if (isRecord(err) && err.kind === 'Status') {
    // The object of a watch ERROR event.
    const code = typeof err.code === 'number' ? err.code : undefined;
    return {
      code,
      reason: typeof err.reason === 'string' ? err.reason : undefined,
      message: `watch ERROR event ${code ?? '?'}: ${typeof err.message === 'string' ? err.message : ''}`,
      retryAfterSeconds: undefined,
    };
  }
  if (err instanceof Error) {
    const statusCode = (err as { statusCode?: unknown }).statusCode;
    const code = typeof statusCode === 'number' ? statusCode : undefined;
    return {
      code,
      reason: undefined,
      message: code === undefined ? err.message : `HTTP ${code}: ${err.message}`,
      retryAfterSeconds: undefined,
    };
  }
  return { code: undefined, reason: undefined, message: String(err), retryAfterSeconds: undefined };
}

/** Whether the failure is `410 Gone` / `Expired` (a too old resourceVersion or continue token). */
export function isResourceExpired(f: ApiFailure): boolean {
  return f.code === 410 || f.reason === 'Expired' || f.reason === 'Gone';
}

/**
 * The body the typed client-node call gets instead of a successful response's JSON
 * once {@link rawCaptureOptions} has kept the text: `null` deserializes to nothing
 * at once, so the typed model (whose result nobody reads) is not built.
 */
const skippedTypedBody = 'null';

/**
 * Per-call client-node options that attach `signal` to the request and keep the
 * response body's raw text: the API server's JSON as sent (RFC 3339 strings for
 * times, unknown fields kept), which is the shape of core's `k8s` types. (The typed
 * clients turn timestamps into `Date` objects; the watch delivers raw JSON; using
 * the raw list keeps both paths identical.)
 *
 * A successful (2xx) non-empty body is handed on to the typed call as `null`, so
 * client-node's ObjectSerializer does not parse and walk it a second time into a
 * model that is thrown away; failures and empty bodies go on unchanged, so the
 * typed call fails exactly as before.
 */
function rawCaptureOptions(
  signal: AbortSignal | undefined,
  sink: { text: string | undefined },
): ConfigurationOptions {
  const capture: ObservableMiddleware = {
    pre: (ctx: RequestContext) => {
      if (signal) ctx.setSignal(signal);
      return new Observable(Promise.resolve(ctx));
    },
    post: (rsp: ResponseContext) =>
      new Observable(
        rsp.body.text().then((text) => {
          sink.text = text;
          const typedText =
            rsp.httpStatusCode >= 200 && rsp.httpStatusCode <= 299 && text !== ''
              ? skippedTypedBody
              : text;
          return new ResponseContext(rsp.httpStatusCode, rsp.headers, {
            text: () => Promise.resolve(typedText),
            binary: () => Promise.resolve(Buffer.from(typedText)),
          });
        }),
      ),
  };
  return { middleware: [capture], middlewareMergeStrategy: 'append' };
}

/**
 * Runs one typed client-node call (which goes through the KubeApi rate limiter,
 * authentication, user agent, kept-alive connections and REST client metrics like
 * any other) and resolves with the response's raw JSON, without building the typed
 * model. Rejects with {@link KubeApiCallError}. `call` must pass the options it is
 * given on to the client-node method (through client-node's
 * `setHeaderOptions(name, value, options)` when it sets a header of its own).
 */
export async function rawApiCall(
  call: (options: ConfigurationOptions) => Promise<unknown>,
  signal?: AbortSignal,
): Promise<unknown> {
  const sink: { text: string | undefined } = { text: undefined };
  try {
    await call(rawCaptureOptions(signal, sink));
  } catch (err) {
    const failure = apiFailureOf(err);
    const status = parseStatus(sink.text);
    throw new KubeApiCallError(
      {
        ...failure,
        reason: failure.reason ?? status.reason,
        message:
          status.message !== undefined
            ? `HTTP ${failure.code ?? '?'}: ${status.message}`
            : failure.message,
      },
      { cause: err },
    );
  }
  if (sink.text === undefined) {
    throw new KubeApiCallError({
      code: undefined,
      reason: undefined,
      message: 'API response had no body',
      retryAfterSeconds: undefined,
    });
  }
  return JSON.parse(sink.text) as unknown;
}

/**
 * Maps an API failure of a read to core's errors: 404 → NotFoundError, anything
 * else → UnavailableError (the caller may retry later).
 */
export function toReadError(err: unknown, what: string): Error {
  if (isNodeAgentError(err)) return err;
  const f = apiFailureOf(err);
  if (f.code === 404)
    return new NotFoundError(`${what} not found`, { cause: err, detail: f.message });
  return new UnavailableError(`cannot read ${what}: ${f.message}`, {
    cause: err,
    detail: f.message,
  });
}
