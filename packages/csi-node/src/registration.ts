import { InvalidArgumentError } from '@nodeagent/core';
import type { PluginInfo } from './generated/pluginregistration-types.js';

/** Kubelet `registerapi.CSIPlugin`: the plugin type of CSI drivers. */
export const csiPluginType = 'CSIPlugin';

/** The CSI major version nodeagent speaks (kubelet accepts any 1.x). */
export const supportedCsiMajorVersion = 1;

/**
 * A CSI driver name as the CSI spec requires of GetPluginInfo.name: at most 63
 * characters, starting and ending with an alphanumeric character, with dashes, dots,
 * underscores and alphanumerics in between.
 */
export const csiDriverNamePattern = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

/** A parsed `major.minor.patch` version. */
export interface CsiVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** As the plugin wrote it. */
  readonly text: string;
}

/**
 * Parses a version the way kubelet's `utilversion.ParseGeneric` accepts them:
 * `1`, `1.2`, `1.2.3`, optionally with a leading `v` and a `-pre`/`+build` suffix.
 */
export function parseCsiVersion(text: string): CsiVersion | undefined {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-+][0-9A-Za-z.+-]*)?$/.exec(text.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2] ?? 0), patch: Number(m[3] ?? 0), text };
}

/** Compares two versions: negative, 0 or positive. */
export function compareCsiVersions(a: CsiVersion, b: CsiVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/**
 * Kubelet `highestSupportedVersion`: the highest 1.x version in the list. Throws
 * InvalidArgumentError when the list is empty or holds no supported version.
 */
export function highestSupportedCsiVersion(versions: readonly string[]): CsiVersion {
  if (versions.length === 0) {
    throw new InvalidArgumentError('CSI driver reported no supported versions');
  }
  let best: CsiVersion | undefined;
  for (const v of versions) {
    const parsed = parseCsiVersion(v);
    if (!parsed || parsed.major !== supportedCsiMajorVersion) continue;
    if (!best || compareCsiVersions(parsed, best) > 0) best = parsed;
  }
  if (!best) {
    throw new InvalidArgumentError(
      `none of the CSI versions reported by this driver are supported: [${versions.join(', ')}] (need 1.x)`,
    );
  }
  return best;
}

/** A GetInfo reply that passed validation. */
export interface ValidatedCsiPlugin {
  readonly name: string;
  readonly endpoint: string;
  readonly version: CsiVersion;
}

/**
 * Validates a registration GetInfo reply for a CSI driver (kubelet
 * `csi.RegistrationHandler.ValidatePlugin`): type `CSIPlugin`, a valid driver name, an
 * endpoint, a supported 1.x version, and — if a driver of that name is registered
 * already — a strictly higher version than the registered one. Throws
 * InvalidArgumentError with the reason otherwise.
 */
export function validateCsiPluginInfo(
  info: Partial<PluginInfo> | null | undefined,
  registeredVersion: (name: string) => CsiVersion | undefined,
): ValidatedCsiPlugin {
  if (!info || typeof info !== 'object') {
    throw new InvalidArgumentError('plugin registration GetInfo returned no PluginInfo');
  }
  const type = typeof info.type === 'string' ? info.type : '';
  if (type !== csiPluginType) {
    throw new InvalidArgumentError(
      `unsupported plugin type "${type}": this agent registers ${csiPluginType} plugins only`,
    );
  }
  const name = typeof info.name === 'string' ? info.name : '';
  if (name === '') throw new InvalidArgumentError('CSI plugin registered with an empty name');
  if (!csiDriverNamePattern.test(name)) {
    throw new InvalidArgumentError(
      `invalid CSI driver name "${name}": at most 63 characters, alphanumeric at both ends, '-', '.', '_' and alphanumerics between`,
    );
  }
  const endpoint = typeof info.endpoint === 'string' ? info.endpoint.trim() : '';
  if (endpoint === '') {
    throw new InvalidArgumentError(`CSI driver "${name}" registered without an endpoint`);
  }
  const versions = Array.isArray(info.supportedVersions)
    ? info.supportedVersions.filter((v): v is string => typeof v === 'string')
    : [];
  let version: CsiVersion;
  try {
    version = highestSupportedCsiVersion(versions);
  } catch (err) {
    throw new InvalidArgumentError(
      `validation failed for CSI driver "${name}" at endpoint ${endpoint}: ${(err as Error).message}`,
    );
  }
  const existing = registeredVersion(name);
  if (existing && compareCsiVersions(existing, version) >= 0) {
    throw new InvalidArgumentError(
      `CSI driver "${name}" is already registered with version ${existing.text}; a new registration must bring a higher version than ${version.text}`,
    );
  }
  return { name, endpoint, version };
}
