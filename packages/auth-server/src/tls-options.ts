import { InvalidConfigError } from '@nodeagent/core';
import type { SecureVersion } from 'node:tls';

/**
 * Go (and IANA) cipher suite names accepted by the kubelet's `tlsCipherSuites`, mapped
 * to OpenSSL's names. TLS 1.3 suites keep their IANA names (OpenSSL uses them too).
 */
export const cipherSuiteOpenSslNames: Readonly<Record<string, string>> = {
  // TLS 1.3 (Go enables all of them whatever the list says)
  TLS_AES_128_GCM_SHA256: 'TLS_AES_128_GCM_SHA256',
  TLS_AES_256_GCM_SHA384: 'TLS_AES_256_GCM_SHA384',
  TLS_CHACHA20_POLY1305_SHA256: 'TLS_CHACHA20_POLY1305_SHA256',
  // secure TLS 1.2 suites
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  // insecure suites Go still accepts by name
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDHE-ECDSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 'ECDHE-RSA-AES128-SHA256',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_CBC_SHA256: 'AES128-SHA256',
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: 'DES-CBC3-SHA',
  TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: 'ECDHE-RSA-DES-CBC3-SHA',
};

const tls13Suites = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
];

/**
 * Turns the kubelet's `tlsCipherSuites` (Go/IANA names) into an OpenSSL cipher string.
 * As in Go, the TLS 1.3 suites stay enabled even when the list names none.
 * Undefined or an empty list → undefined (Node's defaults).
 * @throws InvalidConfigError naming every unknown suite.
 */
export function openSslCipherList(names: readonly string[] | undefined): string | undefined {
  if (names === undefined || names.length === 0) return undefined;
  const unknown = names.filter((n) => cipherSuiteOpenSslNames[n] === undefined);
  if (unknown.length > 0) {
    throw new InvalidConfigError(
      `tlsCipherSuites: unsupported cipher suite(s) ${unknown.join(', ')}; allowed: ${Object.keys(cipherSuiteOpenSslNames).join(', ')}`,
    );
  }
  const mapped = names.map((n) => cipherSuiteOpenSslNames[n] ?? n);
  const out = [...tls13Suites.filter((s) => !mapped.includes(s)), ...mapped];
  return [...new Set(out)].join(':');
}

/** The kubelet's `tlsMinVersion` names and Node's equivalents. */
export const tlsVersionNames: Readonly<Record<string, SecureVersion>> = {
  VersionTLS10: 'TLSv1',
  VersionTLS11: 'TLSv1.1',
  VersionTLS12: 'TLSv1.2',
  VersionTLS13: 'TLSv1.3',
};

/**
 * Maps kubelet `tlsMinVersion` (`VersionTLS12`, `VersionTLS13`; the older names are
 * accepted like Go does) to Node's `minVersion`. Default when empty: TLS 1.2 (Go's
 * server default).
 * @throws InvalidConfigError for an unknown name.
 */
export function nodeTlsMinVersion(name: string | undefined): SecureVersion {
  if (name === undefined || name === '') return 'TLSv1.2';
  const v = tlsVersionNames[name];
  if (v === undefined) {
    throw new InvalidConfigError(
      `tlsMinVersion: unknown TLS version ${JSON.stringify(name)}; allowed: ${Object.keys(tlsVersionNames).join(', ')}`,
    );
  }
  return v;
}
