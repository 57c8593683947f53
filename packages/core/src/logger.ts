import { createToken, type InjectionToken } from './token.js';

/** Structured fields attached to a log line. */
export type LogFields = Readonly<Record<string, unknown>>;

/**
 * Structured logging. Messages are constant strings; the varying parts go into
 * `fields` (the kubelet's structured-logging style: `"Probe failed" probeType=Liveness`).
 */
export interface Logger {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (for instance `{ component: 'pleg' }`). */
  child(fields: LogFields): Logger;
}
export const Logger: InjectionToken<Logger> = createToken<Logger>('Logger');

/** A Logger that drops everything; the default wherever no logger is given. */
export const noopLogger: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  child() {
    return noopLogger;
  },
};
