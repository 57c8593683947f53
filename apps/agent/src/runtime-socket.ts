import { stat } from 'node:fs/promises';
import { UnavailableError, isNodeAgentError } from '@nodeagent/core';
import { parseCriEndpoint } from '@nodeagent/cri-client';

/**
 * Fails early, with advice, when a unix-socket runtime endpoint does not exist
 * (otherwise the first call would only say "unavailable").
 */
export async function checkRuntimeSocket(endpoint: string): Promise<void> {
  const { socketPath } = parseCriEndpoint(endpoint);
  try {
    const info = await stat(socketPath);
    if (!info.isSocket()) {
      throw new UnavailableError(
        `container runtime endpoint ${endpoint}: ${socketPath} is not a socket`,
      );
    }
  } catch (err) {
    if (isNodeAgentError(err)) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UnavailableError(
      code === 'ENOENT'
        ? `container runtime socket ${socketPath} does not exist: is the container runtime (containerd) running? ` +
            'Set containerRuntimeEndpoint in the config file or --container-runtime-endpoint.'
        : `container runtime endpoint ${endpoint}: cannot stat ${socketPath}: ${String(err)}`,
      { cause: err },
    );
  }
}
