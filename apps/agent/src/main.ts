/**
 * The `nodeagent` command, as a function of its arguments and streams (the `cli.ts`
 * entry calls it with the process's own), so that it can be tested in-process.
 * Requires `reflect-metadata` to be loaded first.
 */
import { readFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { RealClock, isNodeAgentError } from '@nodeagent/core';
import { createAgent } from './agent.js';
import { loadAgentConfig } from './config/agent-config.js';
import { runConfigAuditCommand } from './config-audit.js';
import {
  configAuditUsage,
  parseCommandLine,
  podsUsage,
  usage,
  type PodsFlags,
} from './config/flags.js';
import { defaultKubeletConfiguration, parseKubeletConfiguration } from './config/kubelet-config.js';
import { createAgentLogger } from './logging.js';
import { PodStateView } from './pod-state-view.js';
import { runPodsCommand } from './pods-command.js';
import { handleShutdownSignals, type SignalSource } from './signals.js';
import { agentVersion } from './version.js';

/** The process parts the command uses. */
export interface CommandIo {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  signals?: SignalSource;
}

function describeError(err: unknown): string {
  if (isNodeAgentError(err)) return err.message;
  return err instanceof Error ? err.message : String(err);
}

async function podsEndpoint(flags: PodsFlags): Promise<string> {
  if (flags.runtimeEndpoint !== undefined) return flags.runtimeEndpoint;
  if (flags.config !== undefined) {
    const text = await readFile(flags.config, 'utf8');
    return parseKubeletConfiguration(text, flags.config).config.containerRuntimeEndpoint;
  }
  return defaultKubeletConfiguration().containerRuntimeEndpoint;
}

/**
 * Runs `nodeagent …` and resolves with the exit code: for the agent itself, once it
 * was stopped by SIGTERM/SIGINT (0), or when it could not start (1). Usage and
 * configuration errors print one clear message and resolve 1 (2 for a bad command line).
 */
export async function runCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  let command;
  try {
    command = parseCommandLine(argv);
  } catch (err) {
    io.stderr.write(`nodeagent: ${describeError(err)}\n`);
    return 2;
  }
  switch (command.kind) {
    case 'help':
      io.stdout.write(
        command.topic === 'pods'
          ? podsUsage
          : command.topic === 'config-audit'
            ? configAuditUsage
            : usage,
      );
      return 0;
    case 'version':
      io.stdout.write(`nodeagent v${agentVersion()} (node ${process.version})\n`);
      return 0;
    case 'pods':
      try {
        await runPodsCommand({
          endpoint: await podsEndpoint(command.flags),
          output: command.flags.output,
          out: io.stdout,
        });
        return 0;
      } catch (err) {
        io.stderr.write(`nodeagent pods: ${describeError(err)}\n`);
        return 1;
      }
    case 'config-audit':
      return runConfigAuditCommand(command.flags, io);
    case 'run':
      return runAgent(command.flags, io);
  }
}

async function runAgent(
  flags: Parameters<typeof loadAgentConfig>[0],
  io: CommandIo,
): Promise<number> {
  let config;
  try {
    config = await loadAgentConfig(flags);
  } catch (err) {
    io.stderr.write(`nodeagent: ${describeError(err)}\n`);
    return 1;
  }
  const clock = new RealClock();
  const { format, verbosity } = config.kubelet.logging;
  const logger = createAgentLogger({ format, verbosity, stream: io.stderr, clock });
  // The terminal view is for people: shown with text logs, on stdout.
  const view =
    format === 'text'
      ? new PodStateView({
          out: io.stdout,
          clock,
          color: io.stdout.isTTY === true && !process.env.NO_COLOR,
        })
      : undefined;
  const agent = createAgent(config, {
    logger,
    clock,
    ...(view
      ? { onPodStateChange: (change) => void view.show(change) }
      : {
          onPodStateChange: (change) =>
            logger.info('Pod state changed', {
              component: 'pods',
              pod: `${change.pod.namespace}/${change.pod.name}`,
              ...(change.container !== undefined ? { container: change.container } : {}),
              from: change.from ?? '',
              to: change.to,
              ...(change.reason ? { reason: change.reason } : {}),
            }),
        }),
  });
  return new Promise<number>((resolve) => {
    let done = false;
    const finish = (code: number): void => {
      if (done) return;
      done = true;
      removeHandlers();
      void logger.close().then(() => resolve(code));
    };
    const removeHandlers = handleShutdownSignals({
      stop: () => agent.stop(),
      exit: (code) => {
        // A forced exit (second signal) must not wait for anything.
        if (code !== 0 && !done) {
          done = true;
          resolve(code);
          return;
        }
        finish(code);
      },
      logger,
      ...(io.signals ? { signals: io.signals } : {}),
    });
    agent.start().catch((err: unknown) => {
      logger.error('nodeagent failed to start', { component: 'agent', err: describeError(err) });
      finish(1);
    });
  });
}
