/**
 * PKCS#10 certificate signing requests (RFC 2986) with node:crypto alone: a small
 * DER reader that parses a CSR and checks its self-signature the way Go's
 * `x509.ParseCertificateRequest` + `CheckSignature` do for kube-apiserver, and a
 * builder that makes CSRs for tests (what a kubelet's certificate manager sends).
 */
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import {
  bitString,
  ecdsaWithSha256,
  extension,
  integer,
  ipBytes,
  name,
  oid,
  pem,
  seq,
  set,
  tlv,
} from './certificates.js';

/** What a CSR asks for, as kube-apiserver and the CSR signers read it. */
export interface ParsedCertificateRequest {
  /** Subject CN (the user name of a client certificate). */
  commonName: string;
  /** Subject O entries (the groups of a client certificate). */
  organizations: string[];
  /** DNS subjectAltNames from the extensionRequest attribute. */
  dnsNames: string[];
  /** IP subjectAltNames, as text (IPv6 compressed). */
  ipAddresses: string[];
  /** Email subjectAltNames. */
  emailAddresses: string[];
  /** URI subjectAltNames. */
  uris: string[];
  /** The requester's public key, DER `SubjectPublicKeyInfo`. */
  subjectPublicKeyInfo: Buffer;
}

interface DerNode {
  tag: number;
  content: Buffer;
  /** The whole TLV (tag, length and content). */
  raw: Buffer;
}

class DerError extends Error {}

function readNode(buf: Buffer, offset: number): { node: DerNode; next: number } {
  const tag = buf[offset];
  let lenByte = buf[offset + 1];
  if (tag === undefined || lenByte === undefined) throw new DerError('asn1: truncated data');
  let pos = offset + 2;
  let length = lenByte;
  if (lenByte & 0x80) {
    const n = lenByte & 0x7f;
    if (n === 0 || n > 4) throw new DerError('asn1: invalid length');
    length = 0;
    for (let i = 0; i < n; i++) {
      lenByte = buf[pos++];
      if (lenByte === undefined) throw new DerError('asn1: truncated length');
      length = length * 256 + lenByte;
    }
  }
  const end = pos + length;
  if (end > buf.length) throw new DerError('asn1: data truncated');
  return {
    node: { tag, content: buf.subarray(pos, end), raw: buf.subarray(offset, end) },
    next: end,
  };
}

function parseOne(buf: Buffer, expectTag?: number): DerNode {
  const { node, next } = readNode(buf, 0);
  if (next !== buf.length) throw new DerError('asn1: trailing data');
  if (expectTag !== undefined && node.tag !== expectTag)
    throw new DerError('asn1: structure error: tags do not match');
  return node;
}

function childrenOf(node: DerNode): DerNode[] {
  const out: DerNode[] = [];
  for (let pos = 0; pos < node.content.length;) {
    const { node: child, next } = readNode(node.content, pos);
    out.push(child);
    pos = next;
  }
  return out;
}

function oidText(content: Buffer): string {
  const first = content[0] ?? 0;
  const parts = [Math.floor(first / 40), first % 40];
  let v = 0;
  for (const b of content.subarray(1)) {
    v = v * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

function ipText(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  if (b.length !== 16) throw new DerError('x509: cannot parse IP address of length ' + b.length);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  // Compress the longest run (length >= 2) of zero groups, as Go's net.IP.String does.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

const oids = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
} as const;

/** Signature algorithms Go's x509 accepts for CSRs, by OID: the hash for crypto.verify (null for Ed25519). */
const signatureHashes: Readonly<Record<string, string | null>> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.3.101.112': null,
};

function stringValue(node: DerNode): string {
  // UTF8String, PrintableString, IA5String, T61String, BMPString (UCS-2 BE)
  if (node.tag === 0x1e) {
    let out = '';
    for (let i = 0; i + 1 < node.content.length; i += 2)
      out += String.fromCharCode(node.content.readUInt16BE(i));
    return out;
  }
  return node.content.toString(node.tag === 0x0c ? 'utf8' : 'latin1');
}

/**
 * Parses a PEM CSR and checks its signature. Throws an Error with Go's messages
 * (`PEM block type must be CERTIFICATE REQUEST`, `x509: …`) when it is not one.
 */
export function parseCertificateRequest(pemText: string): ParsedCertificateRequest {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(pemText);
  if (m === null) throw new Error('PEM block type must be CERTIFICATE REQUEST');
  if (m[1] !== 'CERTIFICATE REQUEST') throw new Error('PEM block type must be CERTIFICATE REQUEST');
  const der = Buffer.from((m[2] ?? '').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  try {
    const top = childrenOf(parseOne(der, 0x30));
    const [info, algorithm, signature] = top;
    if (info === undefined || algorithm === undefined || signature?.tag !== 0x03)
      throw new DerError('x509: malformed certificate request');
    const infoParts = childrenOf(info);
    const [version, subject, spki, attributes] = infoParts;
    if (version?.tag !== 0x02 || subject?.tag !== 0x30 || spki?.tag !== 0x30)
      throw new DerError('x509: malformed certificate request info');
    const out: ParsedCertificateRequest = {
      commonName: '',
      organizations: [],
      dnsNames: [],
      ipAddresses: [],
      emailAddresses: [],
      uris: [],
      subjectPublicKeyInfo: Buffer.from(spki.raw),
    };
    for (const rdn of childrenOf(subject)) {
      for (const atv of childrenOf(rdn)) {
        const [type, value] = childrenOf(atv);
        if (type === undefined || value === undefined) continue;
        const id = oidText(type.content);
        if (id === oids.commonName) out.commonName = stringValue(value);
        if (id === oids.organization) out.organizations.push(stringValue(value));
      }
    }
    if (attributes !== undefined && attributes.tag === 0xa0) {
      for (const attr of childrenOf(attributes)) {
        const [type, values] = childrenOf(attr);
        if (type === undefined || values === undefined) continue;
        if (oidText(type.content) !== oids.extensionRequest) continue;
        for (const exts of childrenOf(values)) {
          for (const ext of childrenOf(exts)) {
            const parts = childrenOf(ext);
            const id = parts[0];
            const value = parts[parts.length - 1];
            if (id === undefined || value?.tag !== 0x04) continue;
            if (oidText(id.content) !== oids.subjectAltName) continue;
            for (const gn of childrenOf(parseOne(value.content, 0x30))) {
              if (gn.tag === 0x82) out.dnsNames.push(gn.content.toString('ascii'));
              else if (gn.tag === 0x87) out.ipAddresses.push(ipText(gn.content));
              else if (gn.tag === 0x81) out.emailAddresses.push(gn.content.toString('ascii'));
              else if (gn.tag === 0x86) out.uris.push(gn.content.toString('ascii'));
            }
          }
        }
      }
    }
    const algOid = childrenOf(algorithm)[0];
    const alg = algOid === undefined ? '' : oidText(algOid.content);
    const hash = signatureHashes[alg];
    if (hash === undefined)
      throw new DerError(`x509: cannot verify signature: algorithm unimplemented (${alg})`);
    const key = createPublicKey({ key: out.subjectPublicKeyInfo, format: 'der', type: 'spki' });
    const sig = signature.content.subarray(1); // drop the unused-bits byte
    if (!verify(hash, info.raw, key, sig)) throw new DerError('x509: ECDSA verification failure');
    return out;
  } catch (err) {
    if (err instanceof DerError) throw new Error(err.message);
    throw new Error(`x509: malformed certificate request: ${(err as Error).message}`);
  }
}

/** What to request in {@link createCertificateSigningRequest}. */
export interface CertificateSigningRequestInput {
  /** Subject CN; for a kubelet `system:node:<nodeName>`. */
  commonName: string;
  /** Subject O entries; for a kubelet `['system:nodes']`. */
  organizations?: readonly string[];
  /** DNS subjectAltNames (serving certificates). */
  dnsNames?: readonly string[];
  /** IP subjectAltNames (serving certificates). */
  ipAddresses?: readonly string[];
}

/**
 * Makes a new ECDSA P-256 key and a PEM CSR for it (signed with SHA-256), as a
 * kubelet's certificate manager does before it posts a CertificateSigningRequest.
 * Put `Buffer.from(csrPem).toString('base64')` into `spec.request`.
 */
export function createCertificateSigningRequest(input: CertificateSigningRequestInput): {
  csrPem: string;
  keyPem: string;
} {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const sans = [
    ...(input.dnsNames ?? []).map((d) => tlv(0x82, Buffer.from(d, 'ascii'))),
    ...(input.ipAddresses ?? []).map((ip) => tlv(0x87, ipBytes(ip))),
  ];
  const attributes =
    sans.length === 0
      ? tlv(0xa0)
      : tlv(
          0xa0,
          seq(
            oid(oids.extensionRequest),
            set(seq(extension(oids.subjectAltName, false, seq(...sans)))),
          ),
        );
  const info = seq(
    integer(Buffer.from([0])),
    name(input.commonName, input.organizations),
    spki,
    attributes,
  );
  const signature = sign('sha256', info, privateKey);
  return {
    csrPem: pem('CERTIFICATE REQUEST', seq(info, ecdsaWithSha256, bitString(signature))),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}
