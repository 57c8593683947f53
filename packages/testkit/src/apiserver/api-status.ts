/**
 * `metav1.Status` failures as kube-apiserver writes them (k8s.io/apimachinery
 * pkg/api/errors): `kind: Status`, `status: Failure`, a `reason`, the HTTP `code`
 * and a human `message`.
 */

/** The JSON shape of a `meta.k8s.io/v1` Status object. */
export interface ApiStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  details?: { name?: string; group?: string; kind?: string; causes?: unknown[] };
  code: number;
}

/** Thrown inside the API server to answer a request with a Status (apimachinery `StatusError`). */
export class ApiStatusError extends Error {
  readonly status: ApiStatus;

  constructor(
    code: number,
    reason: string,
    message: string,
    details?: { name?: string; group?: string; kind?: string },
  ) {
    super(message);
    this.name = 'ApiStatusError';
    this.status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      ...(details === undefined ? {} : { details }),
      code,
    };
  }
}

/** A resource named by its group and plural, as errors name it (`pods`, `leases.coordination.k8s.io`). */
export interface QualifiedResource {
  group: string;
  plural: string;
}

function qualified(r: QualifiedResource): string {
  return r.group === '' ? r.plural : `${r.plural}.${r.group}`;
}

function details(
  r: QualifiedResource,
  name: string,
): { name: string; group?: string; kind: string } {
  return r.group === '' ? { name, kind: r.plural } : { name, group: r.group, kind: r.plural };
}

/** 404 NotFound: `pods "x" not found`. */
export function notFound(r: QualifiedResource, name: string): ApiStatusError {
  return new ApiStatusError(
    404,
    'NotFound',
    `${qualified(r)} "${name}" not found`,
    details(r, name),
  );
}

/** 409 AlreadyExists: `pods "x" already exists`. */
export function alreadyExists(r: QualifiedResource, name: string): ApiStatusError {
  return new ApiStatusError(
    409,
    'AlreadyExists',
    `${qualified(r)} "${name}" already exists`,
    details(r, name),
  );
}

/** 409 Conflict for a stale resourceVersion (optimistic concurrency). */
export function conflict(r: QualifiedResource, name: string, why: string): ApiStatusError {
  return new ApiStatusError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(r)} "${name}": ${why}`,
    details(r, name),
  );
}

/** The message the real server gives for a stale resourceVersion. */
export const optimisticLockMessage =
  'the object has been modified; please apply your changes to the latest version and try again';

/** 400 BadRequest. */
export function badRequest(message: string): ApiStatusError {
  return new ApiStatusError(400, 'BadRequest', message);
}

/** 422 Invalid: `Pod "x" is invalid: spec.containers: Required value`. */
export function invalid(
  kind: string,
  name: string,
  group: string,
  causes: string[],
): ApiStatusError {
  const err = new ApiStatusError(
    422,
    'Invalid',
    `${kind} "${name}" is invalid: ${causes.join(', ')}`,
    {
      name,
      group,
      kind,
    },
  );
  return err;
}

/** 410 Expired, for a resourceVersion older than the kept history. */
export function expired(message: string): ApiStatusError {
  return new ApiStatusError(410, 'Expired', message);
}

/** 405 MethodNotAllowed. */
export function methodNotAllowed(message: string): ApiStatusError {
  return new ApiStatusError(405, 'MethodNotAllowed', message);
}

/** 415 UnsupportedMediaType for a patch or body in a content type the server does not take. */
export function unsupportedMediaType(
  contentType: string,
  accepted: readonly string[],
): ApiStatusError {
  return new ApiStatusError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}` +
      (contentType === '' ? '' : ` (got ${contentType})`),
  );
}

/** 404 for a path that names no resource (the real server's `NotFound` with an empty message body). */
export function pathNotFound(path: string): ApiStatusError {
  return new ApiStatusError(
    404,
    'NotFound',
    `the server could not find the requested resource (${path})`,
  );
}
