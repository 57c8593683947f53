/**
 * Just enough of Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`:
 * the `k8s\0` magic and a `runtime.Unknown` envelope around the object) to read a
 * certificates.k8s.io/v1 CertificateSigningRequest, which kubectl sends as protobuf
 * for `kubectl certificate approve|deny`. Field numbers follow
 * k8s.io/api/certificates/v1/generated.proto and apimachinery's meta/v1.
 */
import { badRequest } from './api-status.js';
import type { Json, JsonObject } from './patch.js';

/** The content type of Kubernetes' protobuf encoding. */
export const protobufContentType = 'application/vnd.kubernetes.protobuf';

type Field = { no: number; wire: number; value: bigint | Buffer };

function varint(buf: Buffer, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    const b = buf[pos++];
    if (b === undefined) throw badRequest('protobuf: truncated varint');
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
}

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [key, p1] = varint(buf, pos);
    const no = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      const [v, p2] = varint(buf, p1);
      out.push({ no, wire, value: v });
      pos = p2;
    } else if (wire === 2) {
      const [len, p2] = varint(buf, p1);
      const end = p2 + Number(len);
      if (end > buf.length) throw badRequest('protobuf: truncated field');
      out.push({ no, wire, value: buf.subarray(p2, end) });
      pos = end;
    } else if (wire === 1) {
      out.push({ no, wire, value: buf.subarray(p1, p1 + 8) });
      pos = p1 + 8;
    } else if (wire === 5) {
      out.push({ no, wire, value: buf.subarray(p1, p1 + 4) });
      pos = p1 + 4;
    } else throw badRequest(`protobuf: unsupported wire type ${wire}`);
  }
  return out;
}

const bytesOf = (f: Field): Buffer => (Buffer.isBuffer(f.value) ? f.value : Buffer.alloc(0));
const text = (f: Field): string => bytesOf(f).toString('utf8');
const num = (f: Field): number =>
  typeof f.value === 'bigint' ? Number(BigInt.asIntN(64, f.value)) : 0;

function time(buf: Buffer): string {
  let seconds = 0;
  for (const f of fields(buf)) if (f.no === 1) seconds = num(f);
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

function stringMap(entries: Field[]): JsonObject {
  const out: JsonObject = {};
  for (const e of entries) {
    let k = '';
    let v = '';
    for (const f of fields(bytesOf(e))) {
      if (f.no === 1) k = text(f);
      if (f.no === 2) v = text(f);
    }
    out[k] = v;
  }
  return out;
}

function objectMeta(buf: Buffer): JsonObject {
  const m: JsonObject = {};
  const labels: Field[] = [];
  const annotations: Field[] = [];
  const finalizers: Json[] = [];
  for (const f of fields(buf)) {
    if (f.no === 1) m.name = text(f);
    else if (f.no === 2) m.generateName = text(f);
    else if (f.no === 3) m.namespace = text(f);
    else if (f.no === 5) m.uid = text(f);
    else if (f.no === 6) m.resourceVersion = text(f);
    else if (f.no === 7) m.generation = num(f);
    else if (f.no === 8) m.creationTimestamp = time(bytesOf(f));
    else if (f.no === 11) labels.push(f);
    else if (f.no === 12) annotations.push(f);
    else if (f.no === 14) finalizers.push(text(f));
  }
  if (labels.length > 0) m.labels = stringMap(labels);
  if (annotations.length > 0) m.annotations = stringMap(annotations);
  if (finalizers.length > 0) m.finalizers = finalizers;
  return m;
}

function csrSpec(buf: Buffer): JsonObject {
  const s: JsonObject = {};
  const usages: Json[] = [];
  const groups: Json[] = [];
  for (const f of fields(buf)) {
    if (f.no === 1) s.request = bytesOf(f).toString('base64');
    else if (f.no === 2) s.username = text(f);
    else if (f.no === 3) s.uid = text(f);
    else if (f.no === 4) groups.push(text(f));
    else if (f.no === 5) usages.push(text(f));
    else if (f.no === 7) s.signerName = text(f);
    else if (f.no === 8) s.expirationSeconds = num(f);
  }
  if (usages.length > 0) s.usages = usages;
  if (groups.length > 0) s.groups = groups;
  return s;
}

function csrCondition(buf: Buffer): JsonObject {
  const c: JsonObject = {};
  for (const f of fields(buf)) {
    if (f.no === 1) c.type = text(f);
    else if (f.no === 2) c.reason = text(f);
    else if (f.no === 3) c.message = text(f);
    else if (f.no === 4) c.lastUpdateTime = time(bytesOf(f));
    else if (f.no === 5) c.lastTransitionTime = time(bytesOf(f));
    else if (f.no === 6) c.status = text(f);
  }
  return c;
}

function csrStatus(buf: Buffer): JsonObject {
  const s: JsonObject = {};
  const conditions: Json[] = [];
  for (const f of fields(buf)) {
    if (f.no === 1) conditions.push(csrCondition(bytesOf(f)));
    else if (f.no === 2) s.certificate = bytesOf(f).toString('base64');
  }
  if (conditions.length > 0) s.conditions = conditions;
  return s;
}

/**
 * Decodes a protobuf-encoded CertificateSigningRequest body to its JSON form.
 * Throws a 400 for anything else (another kind, a bad envelope).
 */
export function decodeProtobufCsr(body: Buffer): JsonObject {
  if (body.length < 4 || body.subarray(0, 4).toString('latin1') !== 'k8s\0')
    throw badRequest('protobuf: missing the k8s envelope prefix');
  let apiVersion = '';
  let kind = '';
  let raw: Buffer = Buffer.alloc(0);
  for (const f of fields(body.subarray(4))) {
    if (f.no === 1) {
      for (const t of fields(bytesOf(f))) {
        if (t.no === 1) apiVersion = text(t);
        if (t.no === 2) kind = text(t);
      }
    } else if (f.no === 2) raw = bytesOf(f);
  }
  if (apiVersion !== 'certificates.k8s.io/v1' || kind !== 'CertificateSigningRequest')
    throw badRequest(
      `protobuf bodies are only understood for CertificateSigningRequests, not ${apiVersion} ${kind}`,
    );
  const out: JsonObject = { apiVersion, kind };
  for (const f of fields(raw)) {
    if (f.no === 1) out.metadata = objectMeta(bytesOf(f));
    else if (f.no === 2) out.spec = csrSpec(bytesOf(f));
    else if (f.no === 3) out.status = csrStatus(bytesOf(f));
  }
  return out;
}
