/**
 * Keys, PKCS#10 certificate signing requests (RFC 2986) and key/certificate pairs
 * with node:crypto alone, as the kubelet's certificate manager makes them
 * (client-go `util/certificate/csr`, `util/keyutil`): an ECDSA P-256 key, a CSR
 * signed with ECDSA-SHA256 whose subject is `O=system:nodes, CN=system:node:<node>`
 * and, for serving certificates, a subjectAltName extension request.
 */
import {
  X509Certificate,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
} from 'node:crypto';
import { isIP } from 'node:net';
import { InvalidArgumentError } from '@nodeagent/core';

/** What a certificate should say: the kubelet's `x509.CertificateRequest` template. */
export interface CertificateTemplate {
  /** Subject CN; for a kubelet `system:node:<nodeName>`. */
  commonName: string;
  /** Subject O entries; for a kubelet `['system:nodes']`. */
  organizations: readonly string[];
  /** DNS subjectAltNames (serving certificates: the node's host names). */
  dnsNames?: readonly string[];
  /** IP subjectAltNames (serving certificates: the node's addresses). */
  ipAddresses?: readonly string[];
}

// --- A small DER writer ------------------------------------------------------

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

const sequence = (...parts: Buffer[]): Buffer => tlv(0x30, ...parts);
const setOf = (...parts: Buffer[]): Buffer => tlv(0x31, ...parts);

function objectIdentifier(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const [a = 0, b = 0, ...rest] = arcs;
  const bytes: number[] = [a * 40 + b];
  for (const arc of rest) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128))
      chunk.unshift(0x80 | (v & 0x7f));
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

const utf8String = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'));

function ipAddressBytes(ip: string): Buffer {
  const family = isIP(ip);
  if (family === 4) return Buffer.from(ip.split('.').map(Number));
  if (family !== 6) throw new InvalidArgumentError(`invalid IP address ${JSON.stringify(ip)}`);
  let text = ip;
  // An IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1] !== undefined) {
    const [p, q, r, s] = v4[1].split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((p << 8) | q).toString(16)}:${((r << 8) | s).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = 8 - headGroups.length - tailGroups.length;
  const groups = [
    ...headGroups,
    ...Array<string>(tail === undefined ? 0 : zeros).fill('0'),
    ...tailGroups,
  ];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

const oids = {
  organization: '2.5.4.10',
  commonName: '2.5.4.3',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
} as const;

/** The subject Name in Go's attribute order (O before CN), one attribute per RDN. */
function subjectName(template: CertificateTemplate): Buffer {
  const rdn = (oid: string, value: string): Buffer =>
    setOf(sequence(objectIdentifier(oid), utf8String(value)));
  return sequence(
    ...template.organizations.map((o) => rdn(oids.organization, o)),
    ...(template.commonName === '' ? [] : [rdn(oids.commonName, template.commonName)]),
  );
}

function subjectAltNames(template: CertificateTemplate): Buffer[] {
  return [
    ...(template.dnsNames ?? []).map((d) => tlv(0x82, Buffer.from(d, 'ascii'))),
    ...(template.ipAddresses ?? []).map((ip) => tlv(0x87, ipAddressBytes(ip))),
  ];
}

/** A new ECDSA P-256 private key as SEC1 PEM (`EC PRIVATE KEY`), what the kubelet generates. */
export function generateNodePrivateKey(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return privateKey.export({ type: 'sec1', format: 'pem' }) as string;
}

/**
 * A PEM PKCS#10 CSR (`CERTIFICATE REQUEST`) for `template`, signed with `keyPem`
 * (an ECDSA key; signature ECDSA-SHA256), as client-go's `cert.MakeCSR` builds it.
 * Put `Buffer.from(pem).toString('base64')` into a CSR object's `spec.request`.
 */
export function makeCertificateSigningRequest(
  template: CertificateTemplate,
  keyPem: string,
): string {
  const key = createPrivateKey(keyPem);
  if (key.asymmetricKeyType !== 'ec')
    throw new InvalidArgumentError('only ECDSA keys are supported for kubelet CSRs');
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const sans = subjectAltNames(template);
  const attributes =
    sans.length === 0
      ? tlv(0xa0)
      : tlv(
          0xa0,
          sequence(
            objectIdentifier(oids.extensionRequest),
            setOf(
              sequence(
                sequence(objectIdentifier(oids.subjectAltName), tlv(0x04, sequence(...sans))),
              ),
            ),
          ),
        );
  const info = sequence(tlv(0x02, Buffer.from([0])), subjectName(template), spki, attributes);
  const signature = sign('sha256', info, key);
  const der = sequence(
    info,
    sequence(objectIdentifier(oids.ecdsaWithSha256)),
    tlv(0x03, Buffer.from([0]), signature),
  );
  return toPem('CERTIFICATE REQUEST', der);
}

function toPem(label: string, der: Buffer): string {
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** The PEM blocks in `text`, each with its label (`CERTIFICATE`, `EC PRIVATE KEY`…) and whole text. */
export function pemBlocks(text: string): { label: string; pem: string }[] {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?-----END \1-----\r?\n?/g)].map(
    (m) => ({ label: m[1] ?? '', pem: m[0].endsWith('\n') ? m[0] : `${m[0]}\n` }),
  );
}

/** A key and certificate that belong together, parsed. Times are ms since the epoch. */
export interface CertificatePair {
  /** The certificate chain, PEM (leaf first). */
  certPem: string;
  /** The private key, PEM. */
  keyPem: string;
  /** The parsed leaf certificate. */
  certificate: X509Certificate;
  /** Start of validity, ms since the epoch. */
  notBefore: number;
  /** End of validity, ms since the epoch. */
  notAfter: number;
}

/**
 * Parses a certificate chain and its key (`tls.X509KeyPair`); both may come from one
 * PEM file holding certificate and key blocks (the kubelet's `kubelet-*-current.pem`).
 * @throws InvalidArgumentError when either is missing or the key does not match the certificate.
 */
export function parseCertificatePair(certText: string, keyText: string): CertificatePair {
  const certBlocks = pemBlocks(certText).filter((b) => b.label === 'CERTIFICATE');
  const keyBlock = pemBlocks(keyText).find((b) => b.label.endsWith('PRIVATE KEY'));
  if (certBlocks.length === 0) throw new InvalidArgumentError('no CERTIFICATE PEM block found');
  if (keyBlock === undefined) throw new InvalidArgumentError('no PRIVATE KEY PEM block found');
  const certPem = certBlocks.map((b) => b.pem).join('');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certBlocks[0]?.pem ?? '');
  } catch (err) {
    throw new InvalidArgumentError(`cannot parse the certificate: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let matches: boolean;
  try {
    matches = certificate.checkPrivateKey(createPrivateKey(keyBlock.pem));
  } catch (err) {
    throw new InvalidArgumentError(`cannot parse the private key: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!matches) throw new InvalidArgumentError('tls: private key does not match public key');
  return {
    certPem,
    keyPem: keyBlock.pem,
    certificate,
    notBefore: Date.parse(certificate.validFrom),
    notAfter: Date.parse(certificate.validTo),
  };
}

/** The DNS and IP subjectAltNames of a certificate. */
export function certificateSubjectAltNames(cert: X509Certificate): {
  dnsNames: string[];
  ipAddresses: string[];
} {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const entry of (cert.subjectAltName ?? '').split(', ')) {
    if (entry.startsWith('DNS:')) dnsNames.push(entry.slice(4));
    else if (entry.startsWith('IP Address:')) ipAddresses.push(entry.slice(11));
  }
  return { dnsNames, ipAddresses };
}

/**
 * Whether a certificate says what `template` asks for (client-go
 * `certificate.Manager` rotates at once when it does not): the same CN, O and
 * subjectAltNames (compared as sets; IPs in canonical form).
 */
export function certificateMatchesTemplate(
  cert: X509Certificate,
  template: CertificateTemplate,
): boolean {
  const subject = cert.subject.split('\n');
  const cn = subject.filter((l) => l.startsWith('CN=')).map((l) => l.slice(3));
  const o = subject.filter((l) => l.startsWith('O=')).map((l) => l.slice(2));
  const sans = certificateSubjectAltNames(cert);
  const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
    new Set(a).size === new Set(b).size && a.every((x) => b.includes(x));
  const canonicalIp = (ip: string): string =>
    isIP(ip) === 0 ? ip : ipAddressBytes(ip).toString('hex');
  return (
    sameSet(cn, template.commonName === '' ? [] : [template.commonName]) &&
    sameSet(o, template.organizations) &&
    sameSet(sans.dnsNames, template.dnsNames ?? []) &&
    sameSet(sans.ipAddresses.map(canonicalIp), (template.ipAddresses ?? []).map(canonicalIp))
  );
}
