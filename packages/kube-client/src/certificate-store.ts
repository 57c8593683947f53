/**
 * Where a certificate manager keeps its key and certificate, the kubelet way
 * (client-go `util/certificate.FileStore`): each new pair is written to
 * `<certDir>/<prefix>-<timestamp>.pem` (certificate blocks, then the key; mode 0600)
 * and the symlink `<prefix>-current.pem` is swapped to it atomically (a new link
 * `<prefix>-updated.pem` renamed over the old one), so a reader always sees a whole pair.
 */
import {
  lstat,
  mkdir,
  readFile,
  readlink,
  rename,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, type Clock } from '@nodeagent/core';
import { parseCertificatePair, type CertificatePair } from './certificate-request.js';

/** The kubelet's client certificate pair prefix: `kubelet-client-current.pem`. */
export const kubeletClientPairPrefix = 'kubelet-client';
/** The kubelet's serving certificate pair prefix: `kubelet-server-current.pem`. */
export const kubeletServerPairPrefix = 'kubelet-server';

export interface CertificateFileStoreOptions {
  /** Directory of the pair files (kubelet `--cert-dir`, default `/var/lib/kubelet/pki`). */
  certDir: string;
  /** File name prefix: {@link kubeletClientPairPrefix} or {@link kubeletServerPairPrefix}. */
  pairNamePrefix: string;
  /**
   * A certificate and key given by hand (`tlsCertFile`/`tlsPrivateKeyFile`), used
   * when there is no current pair yet, as `FileStore.Current` falls back to them.
   */
  certFile?: string;
  keyFile?: string;
  /** Names the timestamped files. */
  clock: Clock;
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** `2006-01-02-15-04-05` in UTC, the kubelet's pair file timestamp layout. */
function pairTimestamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}-${p(d.getUTCHours())}-${p(d.getUTCMinutes())}-${p(d.getUTCSeconds())}`;
}

/** The kubelet's certificate `FileStore`: loads the current pair and installs new ones. */
export class CertificateFileStore {
  readonly certDir: string;
  readonly pairNamePrefix: string;
  private readonly certFile: string | undefined;
  private readonly keyFile: string | undefined;
  private readonly clock: Clock;

  constructor(options: CertificateFileStoreOptions) {
    this.certDir = options.certDir;
    this.pairNamePrefix = options.pairNamePrefix;
    this.certFile = options.certFile;
    this.keyFile = options.keyFile;
    this.clock = options.clock;
  }

  /** `<certDir>/<prefix>-current.pem`: what a kubeconfig or server points at. */
  currentPath(): string {
    return join(this.certDir, `${this.pairNamePrefix}-current.pem`);
  }

  /**
   * The current pair: `<prefix>-current.pem`, else the hand-given cert/key files;
   * undefined when there is none. A file that exists but does not hold a matching
   * pair is an error (`InvalidArgumentError`), as in the kubelet.
   */
  async current(): Promise<CertificatePair | undefined> {
    const pairPath = this.currentPath();
    const pair = await readOptional(pairPath);
    if (pair !== undefined) return parseWithSource(pair, pair, pairPath);
    if (this.certFile !== undefined && this.keyFile !== undefined) {
      const cert = await readOptional(this.certFile);
      const key = await readOptional(this.keyFile);
      if (cert !== undefined && key !== undefined)
        return parseWithSource(cert, key, `${this.certFile} + ${this.keyFile}`);
    }
    return undefined;
  }

  /**
   * Writes a new pair to a timestamped file (0600) and points `<prefix>-current.pem`
   * at it atomically. Checks first that key and certificate match. Returns the pair.
   */
  async update(certPem: string, keyPem: string): Promise<CertificatePair> {
    const pair = parseCertificatePair(certPem, keyPem);
    await mkdir(this.certDir, { recursive: true, mode: 0o755 });
    const base = `${this.pairNamePrefix}-${pairTimestamp(this.clock.now())}`;
    let file = join(this.certDir, `${base}.pem`);
    // Two rotations within one second must not overwrite the file `current` points at.
    for (let n = 1; await exists(file); n++) file = join(this.certDir, `${base}-${n}.pem`);
    await writeFile(file, `${pair.certPem}${pair.keyPem}`, { mode: 0o600, flag: 'wx' });
    const updated = join(this.certDir, `${this.pairNamePrefix}-updated.pem`);
    await unlink(updated).catch((err: unknown) => {
      if (errnoCode(err) !== 'ENOENT') throw err;
    });
    await symlink(file, updated);
    await rename(updated, this.currentPath());
    return pair;
  }

  /** The file `<prefix>-current.pem` points at, or undefined when there is no link. */
  async currentTarget(): Promise<string | undefined> {
    try {
      return await readlink(this.currentPath());
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'EINVAL') return undefined;
      throw err;
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

function parseWithSource(cert: string, key: string, source: string): CertificatePair {
  try {
    return parseCertificatePair(cert, key);
  } catch (err) {
    throw new InvalidArgumentError(
      `could not load the certificate pair from ${source}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}
