import {
  X509Certificate,
  generateKeyPairSync,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto';
import { isIP } from 'node:net';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidConfigError } from '@nodeagent/core';

/** A serving certificate chain (PEM, leaf first) and its private key (PEM). */
export interface ServingCertificate {
  certPem: string;
  keyPem: string;
}

/** The kubelet's file names for a generated serving certificate, under the cert dir. */
export const selfSignedCertFileName = 'kubelet.crt';
/** See {@link selfSignedCertFileName}. */
export const selfSignedKeyFileName = 'kubelet.key';
/** Validity of a generated certificate: one year, like `certutil.GenerateSelfSignedCertKey`. */
export const selfSignedValidityMs = 365 * 24 * 3600 * 1000;

// --- minimal DER (RFC 5280) ---------------------------------------------------
function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const b: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) b.unshift(v & 0xff);
  return Buffer.from([0x80 | b.length, ...b]);
}
function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}
const seq = (...c: Buffer[]): Buffer => tlv(0x30, ...c);
const set = (...c: Buffer[]): Buffer => tlv(0x31, ...c);
function oid(dotted: string): Buffer {
  const p = dotted.split('.').map(Number);
  const out: number[] = [40 * (p[0] ?? 0) + (p[1] ?? 0)];
  for (const n of p.slice(2)) {
    const chunk = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128))
      chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}
function integer(b: Buffer): Buffer {
  let x = b;
  while (x.length > 1 && x[0] === 0 && ((x[1] ?? 0) & 0x80) === 0) x = x.subarray(1);
  if (((x[0] ?? 0) & 0x80) !== 0) x = Buffer.concat([Buffer.from([0]), x]);
  return tlv(0x02, x);
}
const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
const bool = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const bitString = (b: Buffer): Buffer => tlv(0x03, Buffer.from([0]), b);
function time(ms: number): Buffer {
  const d = new Date(ms);
  const s = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(s.slice(2))) : tlv(0x18, Buffer.from(s));
}
const dn = (cn: string): Buffer => seq(set(seq(oid('2.5.4.3'), utf8(cn))));
const ext = (id: string, critical: boolean, value: Buffer): Buffer =>
  seq(oid(id), ...(critical ? [bool(true)] : []), tlv(0x04, value));
const ecdsaWithSha256 = seq(oid('1.2.840.10045.4.3.2'));
function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
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
function pem(label: string, der: Buffer): string {
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function certificate(
  subject: string,
  issuer: string,
  spki: Buffer,
  signer: KeyObject,
  extensions: Buffer[],
  notBefore: number,
  notAfter: number,
): string {
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f;
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))),
    integer(serial),
    ecdsaWithSha256,
    dn(issuer),
    seq(time(notBefore), time(notAfter)),
    dn(subject),
    spki,
    tlv(0xa3, seq(...extensions)),
  );
  return pem('CERTIFICATE', seq(tbs, ecdsaWithSha256, bitString(sign('sha256', tbs, signer))));
}

/**
 * Generates a serving certificate the way the kubelet does when no `tlsCertFile` is
 * given (`certutil.GenerateSelfSignedCertKey(hostname, …)`): a CA `<host>-ca@<unix>`
 * that signs a serverAuth certificate `<host>@<unix>` whose SAN is the host (IP or
 * DNS name) plus `alternateIps`/`alternateDnsNames`; valid one year from an hour
 * ago. The chain (leaf, then CA) goes into `certPem`. Keys are ECDSA P-256 (the
 * kubelet uses RSA 2048; P-256 is as strong and much faster to generate).
 */
export function generateSelfSignedServingCertificate(
  host: string,
  nowMs: number,
  alternateIps: readonly string[] = [],
  alternateDnsNames: readonly string[] = [],
): ServingCertificate {
  const unix = Math.floor(nowMs / 1000);
  const notBefore = nowMs - 3_600_000;
  const notAfter = nowMs + selfSignedValidityMs;
  const ca = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const caName = `${host}-ca@${unix}`;
  const caPem = certificate(
    caName,
    caName,
    ca.publicKey.export({ type: 'spki', format: 'der' }),
    ca.privateKey,
    [
      ext('2.5.29.19', true, seq(bool(true))),
      ext('2.5.29.15', true, bitString(Buffer.from([0x04]))), // keyCertSign
    ],
    notBefore,
    notAfter,
  );
  const leaf = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ips = [...(isIP(host) !== 0 ? [host] : []), ...alternateIps];
  const dns = [...(isIP(host) === 0 ? [host] : []), ...alternateDnsNames];
  const sans = [
    ...dns.map((d) => tlv(0x82, Buffer.from(d, 'ascii'))),
    ...ips.map((ip) => tlv(0x87, ipBytes(ip))),
  ];
  const leafPem = certificate(
    `${host}@${unix}`,
    caName,
    leaf.publicKey.export({ type: 'spki', format: 'der' }),
    ca.privateKey,
    [
      ext('2.5.29.19', true, seq()),
      // digitalSignature | keyEncipherment
      ext('2.5.29.15', true, tlv(0x03, Buffer.from([5]), Buffer.from([0xa0]))),
      ext('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))),
      ...(sans.length > 0 ? [ext('2.5.29.17', false, seq(...sans))] : []),
    ],
    notBefore,
    notAfter,
  );
  return {
    certPem: leafPem + caPem,
    keyPem: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}

/** Where the serving certificate comes from. */
export interface ServingCertificateSource {
  /** Kubelet `tlsCertFile`. */
  tlsCertFile?: string;
  /** Kubelet `tlsPrivateKeyFile`. */
  tlsPrivateKeyFile?: string;
  /** Kubelet `--cert-dir` (default `<rootDir>/pki`): where a generated pair is kept. */
  certDir: string;
  /** Host name put into a generated certificate (the node's hostname). */
  hostname: string;
  /** Extra IP SANs of a generated certificate. */
  alternateIps?: readonly string[];
  /** Extra DNS SANs of a generated certificate. */
  alternateDnsNames?: readonly string[];
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Loads the serving certificate as the kubelet's `InitializeTLS` does: the given
 * `tlsCertFile`/`tlsPrivateKeyFile` (both or neither), else `<certDir>/kubelet.crt`
 * and `kubelet.key`, generated and written (key mode 0600) on first start and
 * reused afterwards.
 * @throws InvalidConfigError when only one of the files is given or they cannot be read.
 */
export async function loadServingCertificate(
  source: ServingCertificateSource,
  nowMs: number,
): Promise<ServingCertificate & { generated: boolean }> {
  const { tlsCertFile, tlsPrivateKeyFile } = source;
  if ((tlsCertFile === undefined) !== (tlsPrivateKeyFile === undefined)) {
    throw new InvalidConfigError('tlsCertFile and tlsPrivateKeyFile must be given together');
  }
  if (tlsCertFile !== undefined && tlsPrivateKeyFile !== undefined) {
    try {
      return {
        certPem: await readFile(tlsCertFile, 'utf8'),
        keyPem: await readFile(tlsPrivateKeyFile, 'utf8'),
        generated: false,
      };
    } catch (err) {
      throw new InvalidConfigError(
        `cannot read tlsCertFile/tlsPrivateKeyFile: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
        { cause: err },
      );
    }
  }
  const certPath = join(source.certDir, selfSignedCertFileName);
  const keyPath = join(source.certDir, selfSignedKeyFileName);
  const [certPem, keyPem] = await Promise.all([readOptional(certPath), readOptional(keyPath)]);
  if (certPem !== undefined && keyPem !== undefined && usable(certPem)) {
    return { certPem, keyPem, generated: false };
  }
  const fresh = generateSelfSignedServingCertificate(
    source.hostname,
    nowMs,
    source.alternateIps,
    source.alternateDnsNames,
  );
  await mkdir(source.certDir, { recursive: true, mode: 0o700 });
  await writeAtomically(keyPath, fresh.keyPem, 0o600);
  await writeAtomically(certPath, fresh.certPem, 0o644);
  return { ...fresh, generated: true };
}

function usable(certPem: string): boolean {
  try {
    new X509Certificate(certPem);
    return true;
  } catch {
    return false;
  }
}

async function writeAtomically(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}
