import type { Logger } from '@nodeagent/core';

/** The part of `process` that {@link handleShutdownSignals} uses (tests pass a fake). */
export interface SignalSource {
  on(signal: 'SIGTERM' | 'SIGINT', listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: 'SIGTERM' | 'SIGINT', listener: (signal: NodeJS.Signals) => void): unknown;
}

/** Options of {@link handleShutdownSignals}. */
export interface ShutdownOptions {
  /** Stops the agent (leaving pods running). */
  stop: () => Promise<void>;
  /** Ends the process with this exit code. */
  exit: (code: number) => void;
  logger: Logger;
  /** Default: `process`. */
  signals?: SignalSource;
}

/**
 * SIGTERM or SIGINT stops the agent gracefully and exits 0 (1 when stopping
 * failed); a second signal while stopping forces exit 1 at once. Pods are left
 * running either way. Returns a function that removes the handlers.
 */
export function handleShutdownSignals(options: ShutdownOptions): () => void {
  const source = options.signals ?? process;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      options.logger.warn('Second signal received; exiting now', { component: 'agent', signal });
      options.exit(1);
      return;
    }
    stopping = true;
    options.logger.info('Shutdown signal received; stopping (send it again to force)', {
      component: 'agent',
      signal,
    });
    options.stop().then(
      () => options.exit(0),
      (err: unknown) => {
        options.logger.error('Shutdown failed', { component: 'agent', err });
        options.exit(1);
      },
    );
  };
  source.on('SIGTERM', onSignal);
  source.on('SIGINT', onSignal);
  return () => {
    source.off('SIGTERM', onSignal);
    source.off('SIGINT', onSignal);
  };
}
