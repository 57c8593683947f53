import { InvalidConfigError } from '@nodeagent/core';

/** A parsed runtime endpoint. */
export interface CriEndpoint {
  /** The address in the form gRPC understands (`unix:///abs/path`). */
  readonly address: string;
  /** The socket path. */
  readonly socketPath: string;
}

/**
 * Parses a CRI endpoint the way the kubelet's `--container-runtime-endpoint` does:
 * `unix:///run/containerd/containerd.sock`; a bare absolute path is taken as a unix
 * socket too. Anything else (tcp, relative paths) is rejected.
 */
export function parseCriEndpoint(endpoint: string): CriEndpoint {
  const trimmed = endpoint.trim();
  let path: string;
  if (trimmed.startsWith('unix://')) {
    path = trimmed.slice('unix://'.length);
  } else if (trimmed.startsWith('unix:')) {
    path = trimmed.slice('unix:'.length);
  } else if (trimmed.startsWith('/')) {
    path = trimmed;
  } else {
    throw new InvalidConfigError(
      `unsupported CRI endpoint "${endpoint}": expected unix:///path/to/runtime.sock`,
    );
  }
  if (!path.startsWith('/')) {
    throw new InvalidConfigError(`CRI endpoint "${endpoint}" must name an absolute socket path`);
  }
  return { address: `unix://${path}`, socketPath: path };
}
