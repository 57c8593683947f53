/**
 * A small X.509 certificate authority for the test API server, built on node:crypto
 * alone: ECDSA P-256 keys, certificates DER-encoded by hand (RFC 5280) and signed
 * with SHA-256. Enough for a serving certificate (SAN 127.0.0.1, ::1, localhost)
 * and client certificates whose CN/O become the user and groups, as kube-apiserver
 * maps them.
 */
import {
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto';

/** A PEM certificate and its PEM (PKCS#8) private key. */
export interface CertificateAndKey {
  certPem: string;
  keyPem: string;
}

/** Subject and extensions of a certificate to issue. */
export interface CertificateRequest {
  commonName: string;
  /** `O=` entries; the API server reads them as groups. */
  organizations?: readonly string[];
  /** DNS subjectAltNames. */
  dnsNames?: readonly string[];
  /** IP subjectAltNames (IPv4 or IPv6). */
  ipAddresses?: readonly string[];
  /** Extended key usages; default clientAuth (an empty list leaves the extension out). */
  usages?: readonly ('serverAuth' | 'clientAuth')[];
  /** Validity start/end in epoch ms; default from an hour ago for a year. */
  notBefore?: number;
  notAfter?: number;
}

/** What to put into a certificate for an existing public key (a CSR's). */
export interface PublicKeyCertificateRequest extends CertificateRequest {
  /** The subject's public key, DER `SubjectPublicKeyInfo`. */
  subjectPublicKeyInfo: Buffer;
}

// --- DER encoding (shared with certificate-request.ts) ------------------------

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** A DER tag-length-value. */
export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}

/** A DER SEQUENCE. */
export const seq = (...c: Buffer[]): Buffer => tlv(0x30, ...c);
/** A DER SET. */
export const set = (...c: Buffer[]): Buffer => tlv(0x31, ...c);

/** A DER INTEGER from big-endian bytes (minimal, non-negative). */
export function integer(bytes: Buffer): Buffer {
  let b = bytes;
  while (b.length > 1 && b[0] === 0 && ((b[1] ?? 0) & 0x80) === 0) b = b.subarray(1);
  if (((b[0] ?? 0) & 0x80) !== 0) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

/** A DER OBJECT IDENTIFIER from dotted text. */
export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [40 * (parts[0] ?? 0) + (parts[1] ?? 0)];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128))
      chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
const bool = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const octets = (b: Buffer): Buffer => tlv(0x04, b);
/** A DER BIT STRING with no unused bits. */
export const bitString = (b: Buffer): Buffer => tlv(0x03, Buffer.from([0]), b);

function time(ms: number): Buffer {
  const d = new Date(ms);
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'; // YYYYMMDDHHMMSSZ
  return d.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(iso.slice(2), 'ascii'))
    : tlv(0x18, Buffer.from(iso, 'ascii'));
}

/** An X.501 Name: O entries, then CN. */
export function name(commonName: string, organizations: readonly string[] = []): Buffer {
  return seq(
    ...organizations.map((o) => set(seq(oid('2.5.4.10'), utf8(o)))),
    set(seq(oid('2.5.4.3'), utf8(commonName))),
  );
}

/** The 4 or 16 bytes of an IPv4/IPv6 address. */
export function ipBytes(ip: string): Buffer {
  if (ip.includes(':')) {
    const [head = '', tail = ''] = ip.split('::');
    const h = head === '' ? [] : head.split(':');
    const t = tail === '' ? [] : tail.split(':');
    const groups = ip.includes('::')
      ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
      : h;
    const b = Buffer.alloc(16);
    groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
    return b;
  }
  return Buffer.from(ip.split('.').map(Number));
}

/** AlgorithmIdentifier ecdsa-with-SHA256. */
export const ecdsaWithSha256 = seq(oid('1.2.840.10045.4.3.2'));

/** An X.509 Extension. */
export function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
}

function newKey(): { privateKey: KeyObject; spki: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, spki: publicKey.export({ type: 'spki', format: 'der' }) };
}

/** PEM armour around DER bytes. */
export function pem(label: string, der: Buffer): string {
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function build(
  subject: Buffer,
  issuer: Buffer,
  spki: Buffer,
  signer: KeyObject,
  extensions: Buffer[],
  notBefore: number,
  notAfter: number,
): Buffer {
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f;
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))),
    integer(serial),
    ecdsaWithSha256,
    issuer,
    seq(time(notBefore), time(notAfter)),
    subject,
    spki,
    tlv(0xa3, seq(...extensions)),
  );
  const signature = sign('sha256', tbs, signer);
  return seq(tbs, ecdsaWithSha256, bitString(signature));
}

/** A certificate authority that issues serving and client certificates. */
export class CertificateAuthority {
  /** The CA certificate, PEM. */
  readonly certPem: string;
  /** End of the CA certificate's validity, epoch ms (certificates it signs never outlive it). */
  readonly notAfter: number;
  private readonly key: KeyObject;
  private readonly subject: Buffer;

  /** Creates a self-signed CA named `commonName` valid from an hour before `nowMs` for ten years. */
  constructor(commonName = 'nodeagent-testkit-ca', nowMs: number = Date.now()) {
    const { privateKey, spki } = newKey();
    this.key = privateKey;
    this.subject = name(commonName);
    this.notAfter = Math.floor((nowMs + 10 * 365 * 86_400_000) / 1000) * 1000;
    const der = build(
      this.subject,
      this.subject,
      spki,
      privateKey,
      [
        extension('2.5.29.19', true, seq(bool(true))),
        extension('2.5.29.15', true, bitString(Buffer.from([0x06]))), // keyCertSign | cRLSign
      ],
      nowMs - 3_600_000,
      this.notAfter,
    );
    this.certPem = pem('CERTIFICATE', der);
  }

  /** Issues a certificate for a new key pair. */
  issue(req: CertificateRequest): CertificateAndKey {
    const { privateKey, spki } = newKey();
    return {
      certPem: this.sign({ ...req, subjectPublicKeyInfo: spki }),
      keyPem: createPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' })).export({
        type: 'pkcs8',
        format: 'pem',
      }) as string,
    };
  }

  /**
   * Signs a certificate (PEM) for someone else's public key, as a CSR signer does;
   * `notAfter` is capped at the CA's own expiry.
   */
  sign(req: PublicKeyCertificateRequest): string {
    const spki = req.subjectPublicKeyInfo;
    const now = Date.now();
    const usages = req.usages ?? ['clientAuth'];
    const sans = [
      ...(req.dnsNames ?? []).map((d) => tlv(0x82, Buffer.from(d, 'ascii'))),
      ...(req.ipAddresses ?? []).map((ip) => tlv(0x87, ipBytes(ip))),
    ];
    const extensions = [
      extension('2.5.29.19', true, seq()),
      // digitalSignature (bit 0), keyEncipherment (bit 2)
      extension('2.5.29.15', true, tlv(0x03, Buffer.from([5]), Buffer.from([0xa0]))),
      ...(usages.length === 0
        ? []
        : [
            extension(
              '2.5.29.37',
              false,
              seq(
                ...usages.map((u) =>
                  oid(u === 'serverAuth' ? '1.3.6.1.5.5.7.3.1' : '1.3.6.1.5.5.7.3.2'),
                ),
              ),
            ),
          ]),
      ...(sans.length > 0 ? [extension('2.5.29.17', false, seq(...sans))] : []),
    ];
    const der = build(
      name(req.commonName, req.organizations),
      this.subject,
      spki,
      this.key,
      extensions,
      req.notBefore ?? now - 3_600_000,
      Math.min(req.notAfter ?? now + 365 * 86_400_000, this.notAfter),
    );
    return pem('CERTIFICATE', der);
  }
}
