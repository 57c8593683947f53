/**
 * certificates.k8s.io/v1 CertificateSigningRequests as kube-apiserver stores them
 * (pkg/registry/certificates/certificates/strategy.go, pkg/apis/certificates/validation)
 * and as kube-controller-manager's CSR approver and signers act on them
 * (pkg/controller/certificates/{approver,signer}).
 */
import { X509Certificate } from 'node:crypto';
import { ApiStatusError } from './api-status.js';
import type { CertificateAuthority } from './certificates.js';
import { parseCertificateRequest, type ParsedCertificateRequest } from './certificate-request.js';
import { cloneJson, isObject, type Json, type JsonObject } from './patch.js';

/** How the server's built-in CSR controller treats new requests. */
export type CsrSigningMode = 'manual' | 'auto';

/** Signer of kubelet client certificates (CN `system:node:<name>`, O `system:nodes`). */
export const kubeletClientSignerName = 'kubernetes.io/kube-apiserver-client-kubelet';
/** Signer of kubelet serving certificates (the :10250 server). */
export const kubeletServingSignerName = 'kubernetes.io/kubelet-serving';
/** Signer of generic API-server client certificates. */
export const apiServerClientSignerName = 'kubernetes.io/kube-apiserver-client';

/** The signers the built-in signing controller issues for, as kube-controller-manager's csrsigning does. */
export const builtInSignerNames: readonly string[] = [
  kubeletClientSignerName,
  kubeletServingSignerName,
  apiServerClientSignerName,
];

/** `certificates.KeyUsage` values the API accepts. */
const validUsages = [
  'signing',
  'digital signature',
  'content commitment',
  'key encipherment',
  'key agreement',
  'data encipherment',
  'cert sign',
  'crl sign',
  'encipher only',
  'decipher only',
  'any',
  'server auth',
  'client auth',
  'code signing',
  'email protection',
  's/mime',
  'ipsec end system',
  'ipsec tunnel',
  'ipsec user',
  'timestamping',
  'ocsp signing',
  'microsoft sgc',
  'netscape sgc',
];

/** The smallest `spec.expirationSeconds` the API accepts (10 minutes). */
export const minCsrExpirationSeconds = 600;
/** The signer's default and maximum certificate lifetime (`--cluster-signing-duration`, 1 year), in seconds. */
export const defaultCsrSigningDurationSeconds = 365 * 24 * 3600;
/** How far the signer backdates `notBefore` against clock skew (5 minutes), in ms. */
const signingBackdateMs = 5 * 60_000;

/** The user a request is made as (`user.Info`). */
export interface CsrRequester {
  name: string;
  groups: readonly string[];
}

type Condition = JsonObject & { type?: Json; status?: Json };

function obj(v: Json | undefined): JsonObject {
  return isObject(v) ? v : {};
}

function str(v: Json | undefined): string {
  return typeof v === 'string' ? v : '';
}

function csrName(csr: JsonObject): string {
  return str(obj(csr.metadata).name);
}

/** The CSR's `status.conditions`. */
export function csrConditions(csr: JsonObject): Condition[] {
  const c = obj(csr.status).conditions;
  return Array.isArray(c) ? c.filter(isObject) : [];
}

function hasCondition(csr: JsonObject, type: string): boolean {
  return csrConditions(csr).some((c) => c.type === type && c.status === 'True');
}

/** Whether the CSR carries `Approved=True`. */
export const isCsrApproved = (csr: JsonObject): boolean => hasCondition(csr, 'Approved');
/** Whether the CSR carries `Denied=True`. */
export const isCsrDenied = (csr: JsonObject): boolean => hasCondition(csr, 'Denied');
/** Whether the CSR carries `Failed=True`. */
export const isCsrFailed = (csr: JsonObject): boolean => hasCondition(csr, 'Failed');

function invalidCsr(name: string, causes: string[]): ApiStatusError {
  return new ApiStatusError(
    422,
    'Invalid',
    `CertificateSigningRequest.certificates.k8s.io "${name}" is invalid: ${causes.join(', ')}`,
    { name, group: 'certificates.k8s.io', kind: 'CertificateSigningRequest' },
  );
}

/** The PEM text of `spec.request` (base64 of the PEM bytes on the wire). */
export function csrRequestPem(csr: JsonObject): string {
  return Buffer.from(str(obj(csr.spec).request), 'base64').toString('utf8');
}

/** `spec.usages` as strings. */
export function csrUsages(csr: JsonObject): string[] {
  const u = obj(csr.spec).usages;
  return Array.isArray(u) ? u.filter((x): x is string => typeof x === 'string') : [];
}

/**
 * Prepares a CSR for create (`PrepareForCreate` + `Validate`): clears status, sets
 * `spec.username`, `spec.uid`, `spec.groups` (and drops `spec.extra`) from the
 * requesting user, validates request, signerName, usages and expirationSeconds.
 * Throws 422 Invalid like the real server.
 */
export function prepareCsrCreate(input: JsonObject, requester: CsrRequester): JsonObject {
  const csr = cloneJson(input);
  const spec = obj(csr.spec);
  csr.spec = spec;
  delete csr.status;
  spec.username = requester.name;
  spec.groups = [...requester.groups];
  delete spec.uid;
  delete spec.extra;
  const causes: string[] = [];
  const request = spec.request;
  if (typeof request !== 'string' || request === '') {
    causes.push('spec.request: Required value');
  } else {
    try {
      parseCertificateRequest(Buffer.from(request, 'base64').toString('utf8'));
    } catch (err) {
      causes.push(`spec.request: Invalid value: "<request>": ${(err as Error).message}`);
    }
  }
  const signer = str(spec.signerName);
  if (signer === '') causes.push('spec.signerName: Required value');
  else if (
    !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(signer)
  )
    causes.push(
      `spec.signerName: Invalid value: "${signer}": must be a fully qualified domain and path of the form 'example.com/signer-name'`,
    );
  const usages = Array.isArray(spec.usages) ? spec.usages : [];
  if (usages.length === 0) causes.push('spec.usages: Required value: usages must be provided');
  const seen = new Set<string>();
  usages.forEach((u, i) => {
    if (typeof u !== 'string' || !validUsages.includes(u)) {
      causes.push(
        `spec.usages[${i}]: Unsupported value: ${JSON.stringify(u)}: supported values: ${validUsages.map((v) => `"${v}"`).join(', ')}`,
      );
    } else if (seen.has(u)) causes.push(`spec.usages[${i}]: Duplicate value: "${u}"`);
    else seen.add(u);
  });
  const exp = spec.expirationSeconds;
  if (exp !== undefined && exp !== null) {
    if (typeof exp !== 'number' || !Number.isInteger(exp))
      causes.push(
        `spec.expirationSeconds: Invalid value: ${JSON.stringify(exp)}: must be an integer`,
      );
    else if (exp < minCsrExpirationSeconds)
      causes.push(
        `spec.expirationSeconds: Invalid value: ${exp}: may not specify a duration less than 600 seconds (10 minutes)`,
      );
  }
  if (causes.length > 0) throw invalidCsr(csrName(csr), causes);
  return csr;
}

/** A main-resource update of a CSR may only change metadata: spec and status are kept (`PrepareForUpdate`). */
export function prepareCsrUpdate(current: JsonObject, input: JsonObject): JsonObject {
  const next = cloneJson(input);
  next.spec = cloneJson(current.spec ?? {});
  return next;
}

function validateConditions(name: string, conditions: Condition[]): void {
  const causes: string[] = [];
  const seen = new Set<string>();
  conditions.forEach((c, i) => {
    const type = str(c.type);
    if (type === '') causes.push(`status.conditions[${i}].type: Required value`);
    if (!['True', 'False', 'Unknown'].includes(str(c.status)))
      causes.push(
        `status.conditions[${i}].status: Unsupported value: "${str(c.status)}": supported values: "False", "True", "Unknown"`,
      );
    else if (['Approved', 'Denied', 'Failed'].includes(type) && c.status !== 'True')
      causes.push(
        `status.conditions[${i}].status: Invalid value: "${str(c.status)}": must be True`,
      );
    if (seen.has(type)) causes.push(`status.conditions[${i}].type: Duplicate value: "${type}"`);
    seen.add(type);
  });
  if (seen.has('Approved') && seen.has('Denied'))
    causes.push(
      'status.conditions: Invalid value: Approved and Denied conditions are mutually exclusive',
    );
  if (causes.length > 0) throw invalidCsr(name, causes);
}

function checkKeptConditions(name: string, old: Condition[], next: Condition[]): void {
  for (const c of old) {
    const type = str(c.type);
    if (!['Approved', 'Denied', 'Failed'].includes(type)) continue;
    if (!next.some((n) => n.type === type))
      throw invalidCsr(name, [
        `status.conditions: Forbidden: updates may not remove a condition of type "${type}"`,
      ]);
  }
}

function stampConditions(old: Condition[], next: Condition[], nowIso: string): Condition[] {
  return next.map((c) => {
    const out = cloneJson(c);
    if (str(out.lastUpdateTime) === '') out.lastUpdateTime = nowIso;
    if (str(out.lastTransitionTime) === '') {
      const prev = old.find((o) => o.type === c.type && o.status === c.status);
      out.lastTransitionTime =
        str(prev?.lastTransitionTime) === '' ? nowIso : str(prev?.lastTransitionTime);
    }
    return out;
  });
}

/**
 * The object to store for a write to `/approval`: only `status.conditions` are
 * taken from the input (spec and certificate are kept), timestamps are filled in;
 * Approved and Denied are mutually exclusive and may not be removed (422).
 */
export function prepareCsrApproval(
  current: JsonObject,
  input: JsonObject,
  nowIso: string,
): JsonObject {
  const name = csrName(current);
  const incoming = csrConditions(input);
  const old = csrConditions(current);
  validateConditions(name, incoming);
  checkKeptConditions(name, old, incoming);
  const status = cloneJson(obj(current.status));
  status.conditions = stampConditions(old, incoming, nowIso);
  return { ...cloneJson(current), metadata: cloneJson(obj(input.metadata)), status };
}

function validateCertificatePem(name: string, certificate: string): void {
  const blocks = [
    ...certificate.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g),
  ];
  let why = '';
  if (blocks.length === 0) why = 'must contain at least one CERTIFICATE PEM block';
  for (const b of blocks) {
    if (b[1] !== 'CERTIFICATE') {
      why = `only CERTIFICATE PEM blocks are allowed, found "${b[1] ?? ''}"`;
      break;
    }
    try {
      new X509Certificate(b[0]);
    } catch (err) {
      why = `x509: malformed certificate: ${(err as Error).message}`;
      break;
    }
  }
  if (why !== '')
    throw invalidCsr(name, [`status.certificate: Invalid value: "<certificate data>": ${why}`]);
}

/**
 * The object to store for a write to `/status` (what a signer sends): the
 * certificate and non-approval conditions come from the input; Approved/Denied
 * conditions are kept as they were; an issued certificate may not be changed.
 */
export function prepareCsrStatus(
  current: JsonObject,
  input: JsonObject,
  nowIso: string,
): JsonObject {
  const name = csrName(current);
  const old = csrConditions(current);
  const approval = old.filter((c) => c.type === 'Approved' || c.type === 'Denied');
  const others = csrConditions(input).filter((c) => c.type !== 'Approved' && c.type !== 'Denied');
  const conditions = [...approval, ...stampConditions(old, others, nowIso)];
  validateConditions(name, conditions);
  checkKeptConditions(name, old, conditions);
  const oldCert = str(obj(current.status).certificate);
  const newCertB64 = str(obj(input.status).certificate);
  if (oldCert !== '' && newCertB64 !== oldCert)
    throw invalidCsr(name, [
      'status.certificate: Forbidden: updates may not modify existing certificate content',
    ]);
  if (newCertB64 !== '')
    validateCertificatePem(name, Buffer.from(newCertB64, 'base64').toString('utf8'));
  const status: JsonObject = { ...cloneJson(obj(input.status)), conditions };
  if (newCertB64 === '') delete status.certificate;
  if (conditions.length === 0) delete status.conditions;
  return { ...cloneJson(current), metadata: cloneJson(obj(input.metadata)), status };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/**
 * The built-in signers' checks of a request (`ValidateKubeletClientCSR`,
 * `ValidateKubeletServingCSR`, `validAPIServerClientUsages`); returns the failure
 * message, or undefined when the request is fine. Unknown signers pass.
 */
export function checkSignerRules(
  signerName: string,
  req: ParsedCertificateRequest,
  usages: readonly string[],
): string | undefined {
  if (signerName === kubeletClientSignerName) {
    if (!sameSet(req.organizations, ['system:nodes']))
      return 'subject organization is not system:nodes';
    if (req.dnsNames.length > 0) return 'DNS subjectAltNames are not allowed';
    if (req.emailAddresses.length > 0) return 'Email subjectAltNames are not allowed';
    if (req.ipAddresses.length > 0) return 'IP subjectAltNames are not allowed';
    if (req.uris.length > 0) return 'URI subjectAltNames are not allowed';
    if (!req.commonName.startsWith('system:node:'))
      return 'subject common name does not begin with system:node:';
    if (
      !sameSet(usages, ['digital signature', 'key encipherment', 'client auth']) &&
      !sameSet(usages, ['digital signature', 'client auth'])
    )
      return 'usages did not match [client auth digital signature key encipherment]';
    return undefined;
  }
  if (signerName === kubeletServingSignerName) {
    if (!sameSet(req.organizations, ['system:nodes']))
      return 'subject organization is not system:nodes';
    if (req.dnsNames.length === 0 && req.ipAddresses.length === 0)
      return 'DNS or IP subjectAltName is required';
    if (req.emailAddresses.length > 0) return 'Email subjectAltNames are not allowed';
    if (req.uris.length > 0) return 'URI subjectAltNames are not allowed';
    if (
      !sameSet(usages, ['digital signature', 'key encipherment', 'server auth']) &&
      !sameSet(usages, ['digital signature', 'server auth'])
    )
      return 'usages did not match [digital signature key encipherment server auth]';
    if (!req.commonName.startsWith('system:node:'))
      return 'subject common name does not begin with system:node:';
    return undefined;
  }
  if (signerName === apiServerClientSignerName) {
    for (const u of usages) {
      if (u !== 'digital signature' && u !== 'key encipherment' && u !== 'client auth')
        return `invalid usage for client certificate: ${u}`;
    }
    if (!usages.includes('client auth'))
      return 'missing required usage for client certificate: client auth';
  }
  return undefined;
}

/**
 * Whether the `auto` approver approves this CSR: a kubelet client request that
 * passes the signer's checks, made by a bootstrapper (`system:bootstrappers`), by
 * the node itself (renewal, `spec.username` = CN), or by `system:masters` — what
 * kube-controller-manager's approver allows through the `nodeclient` and
 * `selfnodeclient` permissions; or a kubelet serving request that passes the
 * signer's checks made by the node itself (what serving-certificate approvers
 * commonly added to clusters check).
 */
export function autoApprovable(csr: JsonObject): { reason: string; message: string } | undefined {
  const spec = obj(csr.spec);
  const signer = str(spec.signerName);
  if (signer !== kubeletClientSignerName && signer !== kubeletServingSignerName) return undefined;
  let req: ParsedCertificateRequest;
  try {
    req = parseCertificateRequest(csrRequestPem(csr));
  } catch {
    return undefined;
  }
  if (checkSignerRules(signer, req, csrUsages(csr)) !== undefined) return undefined;
  const username = str(spec.username);
  const groups = Array.isArray(spec.groups) ? spec.groups : [];
  const self = username === req.commonName;
  const master = groups.includes('system:masters');
  if (signer === kubeletClientSignerName) {
    if (self)
      return {
        reason: 'AutoApproved',
        message: 'Auto approving self kubelet client certificate after SubjectAccessReview.',
      };
    if (master || groups.includes('system:bootstrappers'))
      return {
        reason: 'AutoApproved',
        message: 'Auto approving kubelet client certificate after SubjectAccessReview.',
      };
    return undefined;
  }
  if (self || master)
    return {
      reason: 'AutoApproved',
      message: 'Auto approving kubelet serving certificate after SubjectAccessReview.',
    };
  return undefined;
}

/** Adds an `Approved=True` condition (keeping the others). */
export function withApprovedCondition(
  csr: JsonObject,
  reason: string,
  message: string,
  nowIso: string,
): JsonObject {
  const next = cloneJson(csr);
  const status = obj(next.status);
  status.conditions = [
    ...csrConditions(next),
    {
      type: 'Approved',
      status: 'True',
      reason,
      message,
      lastUpdateTime: nowIso,
      lastTransitionTime: nowIso,
    },
  ];
  next.status = status;
  return next;
}

/** Adds a `Failed=True` condition with reason `SignerValidationFailure`, as the signer does for a bad request. */
export function withFailedCondition(csr: JsonObject, message: string, nowIso: string): JsonObject {
  const next = cloneJson(csr);
  const status = obj(next.status);
  status.conditions = [
    ...csrConditions(next),
    {
      type: 'Failed',
      status: 'True',
      reason: 'SignerValidationFailure',
      message,
      lastUpdateTime: nowIso,
      lastTransitionTime: nowIso,
    },
  ];
  next.status = status;
  return next;
}

/**
 * Issues the certificate for a CSR with `ca` (subject and SANs from the request,
 * extended key usages from `spec.usages`), valid from 5 minutes ago for
 * `durationSeconds` (default `spec.expirationSeconds`, at least 600 s, at most a
 * year and never past the CA). Validity uses the wall clock, since TLS peers check
 * it against theirs. Returns the PEM.
 */
export function issueCsrCertificate(
  ca: CertificateAuthority,
  csr: JsonObject,
  durationSeconds?: number,
): string {
  const req = parseCertificateRequest(csrRequestPem(csr));
  const requested =
    durationSeconds ??
    (typeof obj(csr.spec).expirationSeconds === 'number'
      ? (obj(csr.spec).expirationSeconds as number)
      : defaultCsrSigningDurationSeconds);
  const seconds = Math.min(
    Math.max(requested, minCsrExpirationSeconds),
    defaultCsrSigningDurationSeconds,
  );
  const usages = csrUsages(csr);
  const now = Date.now();
  return ca.sign({
    subjectPublicKeyInfo: req.subjectPublicKeyInfo,
    commonName: req.commonName,
    organizations: req.organizations,
    dnsNames: req.dnsNames,
    ipAddresses: req.ipAddresses,
    usages: [
      ...(usages.includes('server auth') ? (['serverAuth'] as const) : []),
      ...(usages.includes('client auth') ? (['clientAuth'] as const) : []),
    ],
    notBefore: now - signingBackdateMs,
    notAfter: now + seconds * 1000,
  });
}
