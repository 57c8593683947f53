/**
 * ServiceAccounts as kube-apiserver and kube-controller-manager provide them: the
 * `serviceaccounts/token` subresource (TokenRequest, pkg/registry/core/serviceaccount/
 * storage/token.go) issuing signed, optionally pod-bound JWTs; their validation for
 * TokenReview and bearer authentication (pkg/serviceaccount/jwt.go + claims.go); the
 * `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap of every namespace
 * (serviceaccounts-controller and root-ca-cert-publisher); and the ServiceAccount
 * admission plugin's pod mutation (plugin/pkg/admission/serviceaccount/admission.go).
 */
import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import type { Random } from '@nodeagent/core';
import { ApiStatusError, badRequest, conflict, invalid, notFound } from './api-status.js';
import { isObject, type Json, type JsonObject } from './patch.js';

/** Default issuer (`--service-account-issuer`) and API audience (`--api-audiences` defaults to the issuer). */
export const defaultServiceAccountIssuer = 'https://kubernetes.default.svc.cluster.local';
/** TokenRequest `spec.expirationSeconds` default (1 hour). */
export const defaultTokenExpirationSeconds = 3600;
/** The shortest TokenRequest the server accepts (10 minutes). */
export const minTokenExpirationSeconds = 600;
/** The longest TokenRequest the server accepts (2^32 s). */
export const maxTokenExpirationSeconds = 2 ** 32;
/**
 * The expiration the admission plugin asks for (`token.WarnOnlyBoundTokenExpirationSeconds`):
 * with `--service-account-extend-token-expiration` (default true) such tokens are
 * valid for a year but carry a `warnafter` claim at the requested time.
 */
export const warnOnlyBoundTokenExpirationSeconds = 3607;
/** The extended lifetime of a 3607 s pod-bound token (`token.ExpirationExtensionSeconds`, one year). */
export const expirationExtensionSeconds = 24 * 365 * 60 * 60;
/** The ServiceAccount created in every namespace and set on pods without one. */
export const defaultServiceAccountName = 'default';
/** The ConfigMap the root-ca-cert-publisher keeps in every namespace. */
export const rootCaConfigMapName = 'kube-root-ca.crt';
/** The volume name prefix of the injected token volume (`ServiceAccountVolumeName`). */
export const serviceAccountVolumeName = 'kube-api-access';
/** Where the token volume is mounted in every container (`DefaultAPITokenMountPath`). */
export const defaultApiTokenMountPath = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Extra user info of a pod-bound token (`authentication.kubernetes.io/...`). */
export const podNameExtraKey = 'authentication.kubernetes.io/pod-name';
export const podUidExtraKey = 'authentication.kubernetes.io/pod-uid';
export const credentialIdExtraKey = 'authentication.kubernetes.io/credential-id';

/** `apimachinery` SimpleNameGenerator's alphabet (no vowels, no ambiguous characters). */
const nameAlphabet = 'bcdfghjklmnpqrstvwxz2456789';

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** The claims of a service-account JWT (pkg/serviceaccount/claims.go `privateClaims` + registered ones). */
export interface ServiceAccountClaims {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  jti: string;
  'kubernetes.io': {
    namespace: string;
    serviceaccount: { name: string; uid: string };
    pod?: { name: string; uid: string };
    warnafter?: number;
  };
}

/** What a verified token says: the user and the audiences it was checked against. */
export interface ServiceAccountTokenUser {
  username: string;
  uid: string;
  groups: string[];
  extra: Record<string, string[]>;
  /** The audiences of the token that the review accepted. */
  audiences: string[];
}

/** How the store's current objects are read when validating a token. */
export interface ServiceAccountLookup {
  serviceAccount(namespace: string, name: string): JsonObject | undefined;
  pod(namespace: string, name: string): JsonObject | undefined;
}

/** The username of a ServiceAccount (`serviceaccount.MakeUsername`). */
export function serviceAccountUsername(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

function metaOf(obj: JsonObject): JsonObject {
  return isObject(obj.metadata) ? obj.metadata : {};
}
function strOf(v: Json | undefined): string {
  return typeof v === 'string' ? v : '';
}

/**
 * Signs and verifies service-account tokens (ES256 JWTs) with a key made when the
 * server starts (kube-apiserver's `--service-account-signing-key-file`).
 */
export class ServiceAccountTokenSigner {
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  /** The key id in the JWT header (sha256 of the public key, as the real signer's `kid`). */
  readonly keyId: string;

  constructor(
    readonly issuer: string = defaultServiceAccountIssuer,
    /** Audiences a token is checked against by default (`--api-audiences`). */
    readonly apiAudiences: readonly string[] = [issuer],
  ) {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = pair.privateKey;
    this.publicKey = createPublicKey(pair.privateKey);
    this.keyId = b64url(
      createHash('sha256')
        .update(this.publicKey.export({ format: 'der', type: 'spki' }))
        .digest(),
    );
  }

  /** A signed JWT carrying `claims`. */
  sign(claims: ServiceAccountClaims): string {
    const header = b64url(JSON.stringify({ alg: 'ES256', kid: this.keyId }));
    const payload = b64url(JSON.stringify(claims));
    const signature = sign('sha256', Buffer.from(`${header}.${payload}`), {
      key: this.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    return `${header}.${payload}.${b64url(signature)}`;
  }

  /** The claims of a token this signer made, or undefined when it is not one (bad format or signature). */
  decode(token: string): ServiceAccountClaims | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const [header = '', payload = '', signature = ''] = parts;
    let ok = false;
    try {
      ok = verify(
        'sha256',
        Buffer.from(`${header}.${payload}`),
        { key: this.publicKey, dsaEncoding: 'ieee-p1363' },
        Buffer.from(signature, 'base64url'),
      );
    } catch {
      return undefined;
    }
    if (!ok) return undefined;
    try {
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
      if (!isObject(claims as Json)) return undefined;
      return claims as ServiceAccountClaims;
    } catch {
      return undefined;
    }
  }

  /**
   * Validates a token as kube-apiserver's service-account authenticator does: this
   * signer's signature and issuer, not expired (`exp`, `nbf`), an audience in
   * `audiences` (default the API audiences), the ServiceAccount still there with the
   * same uid, and — for a pod-bound token — the pod still there with the same uid and
   * not being deleted. Returns the user or an error message.
   */
  validate(
    token: string,
    nowMs: number,
    lookup: ServiceAccountLookup,
    audiences?: readonly string[],
  ): ServiceAccountTokenUser | { error: string } {
    const claims = this.decode(token);
    if (claims === undefined || claims.iss !== this.issuer)
      return { error: 'invalid bearer token' };
    const now = Math.floor(nowMs / 1000);
    // The real validator allows 60 s of clock skew around exp/nbf.
    if (now > claims.exp + 60) return { error: 'service account token has expired' };
    if (now < claims.nbf - 60) return { error: 'service account token is not valid yet' };
    const wanted = audiences !== undefined && audiences.length > 0 ? audiences : this.apiAudiences;
    const accepted = claims.aud.filter((a) => wanted.includes(a));
    if (accepted.length === 0) return { error: 'token audiences is invalid' };
    const k8s = claims['kubernetes.io'];
    const sa = lookup.serviceAccount(k8s.namespace, k8s.serviceaccount.name);
    if (sa === undefined || strOf(metaOf(sa).uid) !== k8s.serviceaccount.uid) {
      return {
        error: `service account ${k8s.namespace}/${k8s.serviceaccount.name} has been deleted`,
      };
    }
    const extra: Record<string, string[]> = { [credentialIdExtraKey]: [`JTI=${claims.jti}`] };
    if (k8s.pod !== undefined) {
      const pod = lookup.pod(k8s.namespace, k8s.pod.name);
      const meta = pod === undefined ? {} : metaOf(pod);
      if (pod === undefined || strOf(meta.uid) !== k8s.pod.uid) {
        return {
          error: `pod ${k8s.namespace}/${k8s.pod.name} (uid ${k8s.pod.uid}) is not found or has been deleted`,
        };
      }
      if (typeof meta.deletionTimestamp === 'string') {
        return { error: `pod ${k8s.namespace}/${k8s.pod.name} is being deleted` };
      }
      extra[podNameExtraKey] = [k8s.pod.name];
      extra[podUidExtraKey] = [k8s.pod.uid];
    }
    return {
      username: serviceAccountUsername(k8s.namespace, k8s.serviceaccount.name),
      uid: k8s.serviceaccount.uid,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${k8s.namespace}`],
      extra,
      audiences: accepted,
    };
  }
}

/**
 * Answers a TokenRequest for ServiceAccount `namespace/name` (the `serviceaccounts/token`
 * subresource, `TokenREST.Create`): defaults `spec.audiences` to the API audiences and
 * `spec.expirationSeconds` to 3600; rejects less than 600 s or more than 2^32 s (422);
 * 404 for a missing ServiceAccount or bound pod; 400 for a bound pod of another
 * ServiceAccount or an unsupported bound kind; 409 for a bound uid that differs from
 * the pod's. A 3607 s pod-bound token for the API audiences is valid for a year with
 * `warnafter` at the requested time (`--service-account-extend-token-expiration`).
 * Returns the TokenRequest with `status.token` and `status.expirationTimestamp`.
 */
export function createTokenRequest(
  signer: ServiceAccountTokenSigner,
  nowMs: number,
  namespace: string,
  name: string,
  input: JsonObject,
  lookup: ServiceAccountLookup,
): JsonObject {
  const sa = lookup.serviceAccount(namespace, name);
  if (sa === undefined) throw notFound({ group: '', plural: 'serviceaccounts' }, name);
  const spec: JsonObject = isObject(input.spec) ? { ...input.spec } : {};
  const audiences = Array.isArray(spec.audiences)
    ? spec.audiences.filter((a): a is string => typeof a === 'string')
    : [];
  spec.audiences = audiences.length > 0 ? audiences : [...signer.apiAudiences];
  const expirationSeconds =
    typeof spec.expirationSeconds === 'number'
      ? spec.expirationSeconds
      : defaultTokenExpirationSeconds;
  spec.expirationSeconds = expirationSeconds;
  if (!Number.isInteger(expirationSeconds) || expirationSeconds < minTokenExpirationSeconds) {
    throw invalid('TokenRequest', name, 'authentication.k8s.io', [
      `spec.expirationSeconds: Invalid value: ${String(expirationSeconds)}: may not specify a duration less than 10 minutes`,
    ]);
  }
  if (expirationSeconds > maxTokenExpirationSeconds) {
    throw invalid('TokenRequest', name, 'authentication.k8s.io', [
      `spec.expirationSeconds: Invalid value: ${String(expirationSeconds)}: may not specify a duration larger than 2^32 seconds`,
    ]);
  }
  let pod: { name: string; uid: string } | undefined;
  if (isObject(spec.boundObjectRef)) {
    const ref = spec.boundObjectRef;
    const kind = strOf(ref.kind);
    const refName = strOf(ref.name);
    const apiVersion = strOf(ref.apiVersion) || 'v1';
    if (kind !== 'Pod' || apiVersion !== 'v1') {
      throw badRequest(
        `cannot bind token to object of type ${kind === '' ? '<empty>' : `${apiVersion}, Kind=${kind}`}`,
      );
    }
    const bound = lookup.pod(namespace, refName);
    if (bound === undefined) throw notFound({ group: '', plural: 'pods' }, refName);
    const boundSpec = isObject(bound.spec) ? bound.spec : {};
    if (strOf(boundSpec.serviceAccountName) !== name) {
      throw badRequest(
        `cannot bind token for serviceaccount "${name}" to pod running with different serviceaccount name.`,
      );
    }
    const uid = strOf(metaOf(bound).uid);
    const refUid = strOf(ref.uid);
    if (refUid !== '' && refUid !== uid) {
      throw conflict(
        { group: '', plural: 'Pod' },
        refName,
        `the UID in the bound object reference (${refUid}) does not match the UID in record. The object might have been deleted and then recreated`,
      );
    }
    pod = { name: refName, uid };
    spec.boundObjectRef = { kind: 'Pod', apiVersion: 'v1', name: refName, uid };
  }
  const iat = Math.floor(nowMs / 1000);
  let exp = expirationSeconds;
  let warnafter: number | undefined;
  if (
    pod !== undefined &&
    expirationSeconds === warnOnlyBoundTokenExpirationSeconds &&
    spec.audiences.every((a) => typeof a === 'string' && signer.apiAudiences.includes(a))
  ) {
    warnafter = iat + expirationSeconds;
    exp = expirationExtensionSeconds;
  }
  const claims: ServiceAccountClaims = {
    iss: signer.issuer,
    sub: serviceAccountUsername(namespace, name),
    aud: spec.audiences.filter((a): a is string => typeof a === 'string'),
    iat,
    nbf: iat,
    exp: iat + exp,
    jti: randomUUID(),
    'kubernetes.io': {
      namespace,
      serviceaccount: { name, uid: strOf(metaOf(sa).uid) },
      ...(pod === undefined ? {} : { pod }),
      ...(warnafter === undefined ? {} : { warnafter }),
    },
  };
  return {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { name, namespace, creationTimestamp: null },
    spec,
    status: {
      token: signer.sign(claims),
      expirationTimestamp: new Date((iat + expirationSeconds) * 1000)
        .toISOString()
        .replace(/\.\d{3}Z$/, 'Z'),
    },
  };
}

/** The projected volume the admission plugin injects (`TokenVolumeSource`). */
export function serviceAccountTokenVolumeSource(): JsonObject {
  return {
    sources: [
      {
        serviceAccountToken: {
          expirationSeconds: warnOnlyBoundTokenExpirationSeconds,
          path: 'token',
        },
      },
      {
        configMap: { name: rootCaConfigMapName, items: [{ key: 'ca.crt', path: 'ca.crt' }] },
      },
      {
        downwardAPI: {
          items: [
            { path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
          ],
        },
      },
    ],
    defaultMode: 0o644,
  };
}

/**
 * The ServiceAccount admission plugin's mutation of a pod being created (`Admit`):
 * mirror pods are left alone; an empty `serviceAccountName` becomes `default`; the
 * ServiceAccount must exist (403 `error looking up service account ns/x: ...`
 * otherwise); unless automount is off (the pod's `automountServiceAccountToken`, else
 * the ServiceAccount's, else on) every init and regular container without a mount at
 * /var/run/secrets/kubernetes.io/serviceaccount gets a read-only mount of the
 * `kube-api-access-<5 random>` projected volume, which is added when a container needs
 * it and the pod has no `kube-api-access-*` volume yet; the ServiceAccount's
 * `imagePullSecrets` are copied to a pod that has none. Mutates and returns `pod`.
 */
export function admitPodServiceAccount(
  pod: JsonObject,
  namespace: string,
  lookup: ServiceAccountLookup,
  random: Random,
): JsonObject {
  const meta = metaOf(pod);
  const annotations = isObject(meta.annotations) ? meta.annotations : {};
  if (typeof annotations['kubernetes.io/config.mirror'] === 'string') return pod;
  const spec = isObject(pod.spec) ? pod.spec : {};
  pod.spec = spec;
  if (strOf(spec.serviceAccountName) === '') spec.serviceAccountName = defaultServiceAccountName;
  const saName = strOf(spec.serviceAccountName);
  const sa = lookup.serviceAccount(namespace, saName);
  if (sa === undefined) {
    throw new ApiStatusError(
      403,
      'Forbidden',
      `pods "${strOf(meta.name) || strOf(meta.generateName)}" is forbidden: error looking up service account ${namespace}/${saName}: serviceaccount "${saName}" not found`,
      { name: strOf(meta.name), kind: 'pods' },
    );
  }
  const automount =
    typeof spec.automountServiceAccountToken === 'boolean'
      ? spec.automountServiceAccountToken
      : typeof sa.automountServiceAccountToken === 'boolean'
        ? sa.automountServiceAccountToken
        : true;
  if (automount) {
    const volumes = Array.isArray(spec.volumes) ? spec.volumes : [];
    let volumeName = '';
    for (const v of volumes) {
      const n = isObject(v) ? strOf(v.name) : '';
      if (n.startsWith(`${serviceAccountVolumeName}-`)) {
        volumeName = n;
        break;
      }
    }
    const hasVolume = volumeName !== '';
    if (!hasVolume) {
      let suffix = '';
      for (let i = 0; i < 5; i++)
        suffix += nameAlphabet[Math.floor(random.float() * nameAlphabet.length)] ?? 'x';
      volumeName = `${serviceAccountVolumeName}-${suffix}`;
    }
    let needsVolume = false;
    for (const list of [spec.initContainers, spec.containers]) {
      if (!Array.isArray(list)) continue;
      for (const c of list) {
        if (!isObject(c)) continue;
        const mounts = Array.isArray(c.volumeMounts) ? c.volumeMounts : [];
        if (mounts.some((m) => isObject(m) && m.mountPath === defaultApiTokenMountPath)) continue;
        c.volumeMounts = [
          ...mounts,
          { name: volumeName, readOnly: true, mountPath: defaultApiTokenMountPath },
        ];
        needsVolume = true;
      }
    }
    if (!hasVolume && needsVolume) {
      spec.volumes = [
        ...volumes,
        { name: volumeName, projected: serviceAccountTokenVolumeSource() },
      ];
    }
  }
  const pullSecrets = Array.isArray(spec.imagePullSecrets) ? spec.imagePullSecrets : [];
  if (
    pullSecrets.length === 0 &&
    Array.isArray(sa.imagePullSecrets) &&
    sa.imagePullSecrets.length > 0
  ) {
    spec.imagePullSecrets = sa.imagePullSecrets
      .filter(isObject)
      .map((s) => ({ name: s.name ?? '' }));
  }
  return pod;
}
