import { ErrorCode, isNodeAgentError, type ContainerRuntime, type k8s } from '@nodeagent/core';
import { maxProbeOutputBytes, runtimeContainerId, type ProbeOutcome } from './types.js';

/**
 * Expands `$(VAR)` references in a probe command with the container's `env` values
 * (kubelet `ExpandContainerCommandOnlyStatic`): only static `value`s (a `valueFrom`
 * variable expands to the empty string), `$$` escapes a dollar, and unknown or
 * unterminated references stay as written.
 */
export function expandCommand(
  command: readonly string[],
  env: readonly k8s.EnvVar[] = [],
): string[] {
  const vars = new Map<string, string>();
  for (const e of env) vars.set(e.name, e.value ?? '');
  return command.map((arg) => {
    let out = '';
    for (let i = 0; i < arg.length; i++) {
      const ch = arg[i];
      if (ch !== '$' || i + 1 >= arg.length) {
        out += ch;
        continue;
      }
      const next = arg[i + 1];
      if (next === '$') {
        out += '$';
        i++;
      } else if (next === '(') {
        const close = arg.indexOf(')', i + 2);
        if (close === -1) {
          out += '$(';
          i++;
          continue;
        }
        const name = arg.slice(i + 2, close);
        const value = vars.get(name);
        out += value ?? `$(${name})`;
        i = close;
      } else {
        out += ch;
      }
    }
    return out;
  });
}

/** Options of the {@link ExecProber}. */
export interface ExecProberOptions {
  runtime: Pick<ContainerRuntime, 'execSync'>;
  /**
   * Extra milliseconds the CRI call may take beyond the probe's timeout before the
   * client gives up on the runtime (the runtime itself kills the command at the
   * timeout). Default 120 000, the kubelet's runtime request timeout.
   */
  execGraceMs?: number;
}

/**
 * Exec probes through CRI `ExecSync` (kubelet `probe/exec` + `RunInContainer`): exit
 * status 0 is success, any other a failure with the combined stdout+stderr (at most
 * 10 KiB) as output; a timeout is a failure `command "<cmd>" timed out`; other
 * runtime errors are errors (retried, never a failure).
 */
export class ExecProber {
  private readonly runtime: Pick<ContainerRuntime, 'execSync'>;
  private readonly graceMs: number;

  constructor(options: ExecProberOptions) {
    this.runtime = options.runtime;
    this.graceMs = options.execGraceMs ?? 120_000;
  }

  async probe(
    containerId: string,
    command: string[],
    timeoutSeconds: number,
    signal?: AbortSignal,
  ): Promise<ProbeOutcome> {
    let response;
    try {
      response = await this.runtime.execSync(
        { containerId: runtimeContainerId(containerId), cmd: command, timeout: timeoutSeconds },
        { timeoutMs: timeoutSeconds * 1000 + this.graceMs, ...(signal ? { signal } : {}) },
      );
    } catch (err) {
      // The kubelet turns a DeadlineExceeded from ExecSync into a timeout error, which
      // the exec prober reports as a failure (feature ExecProbeTimeout, GA).
      if (isNodeAgentError(err, ErrorCode.DeadlineExceeded)) {
        return {
          result: 'Failure',
          output: `command ${JSON.stringify(command.join(' '))} timed out`,
        };
      }
      throw err;
    }
    const combined = Buffer.concat([Buffer.from(response.stdout), Buffer.from(response.stderr)]);
    const output = combined.subarray(0, maxProbeOutputBytes).toString('utf8');
    return { result: response.exitCode === 0 ? 'Success' : 'Failure', output };
  }
}
