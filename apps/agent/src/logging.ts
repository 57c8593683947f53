/**
 * Logging for the agent: core's `Logger` on top of winston, in the kubelet's two
 * formats — `text` (klog-like lines for people, colorized on a terminal) and `json`
 * (one object per line, for journald and log shippers) — with the kubelet's
 * verbosity (`--v`).
 */
import type { Writable } from 'node:stream';
import { RealClock, type Clock, type LogFields, type Logger } from '@nodeagent/core';
import winston from 'winston';

/** Log levels, most severe first (winston's numbering: lower is more severe). */
export const logLevels = { error: 0, warn: 1, info: 2, debug: 3 } as const;
/** One of {@link logLevels}. */
export type LogLevel = keyof typeof logLevels;

/**
 * The klog verbosity at which debug lines appear: the kubelet logs its chatty,
 * per-operation messages at `V(4)`, so `--v=4` and above shows `debug`.
 */
export const debugVerbosity = 4;

/** The winston level that `--v=<verbosity>` enables. */
export function levelForVerbosity(verbosity: number): LogLevel {
  return verbosity >= debugVerbosity ? 'debug' : 'info';
}

/** Options of {@link createAgentLogger}. */
export interface AgentLoggerOptions {
  /** `text` (default) or `json`. */
  format?: 'text' | 'json';
  /** klog verbosity; 0 (default) logs info and above, {@link debugVerbosity}+ adds debug. */
  verbosity?: number;
  /** Where lines go. Default `process.stderr`, as the kubelet (klog) writes. */
  stream?: Writable;
  /** Colorize text lines. Default: when `stream` is a terminal and `NO_COLOR` is unset. */
  color?: boolean;
  /** Source of timestamps. Default the real clock. */
  clock?: Clock;
}

/** The agent's logger: core's `Logger` plus the winston logger behind it. */
export interface AgentLogger extends Logger {
  /** The underlying winston logger (for extra transports). */
  readonly winston: winston.Logger;
  /** Flushes and closes the logger; later lines are dropped. */
  close(): Promise<void>;
}

const FIELDS = Symbol('nodeagent.logFields');
const TS = Symbol('nodeagent.logTs');
const MESSAGE = Symbol.for('message'); // triple-beam's MESSAGE: the final line winston writes

interface LogInfo {
  level: string;
  message: string;
  [FIELDS]: LogFields;
  [TS]: number;
  [MESSAGE]?: string;
}

const levelLetter: Record<LogLevel, string> = { error: 'E', warn: 'W', info: 'I', debug: 'D' };
const levelColor: Record<LogLevel, string> = {
  error: '\u001b[31m',
  warn: '\u001b[33m',
  info: '\u001b[32m',
  debug: '\u001b[90m',
};
const dim = '\u001b[2m';
const reset = '\u001b[0m';

/** A field value as JSON can carry it: errors become their message (and code). */
function jsonValue(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return code === undefined ? value.message : { message: value.message, code };
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** A field value in a text line: bare when safe, quoted otherwise (klog style). */
function textValue(value: unknown): string {
  const v = jsonValue(value);
  if (typeof v === 'string') return /^[\w./:@+-]+$/.test(v) ? v : JSON.stringify(v);
  if (v === undefined) return '<nil>';
  try {
    // JSON.stringify gives undefined for functions and symbols.
    return JSON.stringify(v) ?? typeof v;
  } catch {
    return `<${typeof v}: not serializable>`;
  }
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/**
 * `I1128 02:30:01.123`: klog's header (level letter, month, day, local time), to the
 * millisecond — the precision of the Clock.
 */
function klogHeader(level: LogLevel, ts: number): string {
  const d = new Date(ts);
  return (
    `${levelLetter[level]}${pad(d.getMonth() + 1)}${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
  );
}

/**
 * One text line: `I1128 02:30:01.123 [pleg] Relist done pods=3 took=12ms`. The
 * `component` field becomes the bracketed prefix; the rest are `key=value` pairs.
 */
export function formatTextLine(
  level: LogLevel,
  ts: number,
  message: string,
  fields: LogFields,
  color = false,
): string {
  const { component, ...rest } = fields;
  const header = klogHeader(level, ts);
  const prefix = component === undefined ? '' : ` [${textValue(component)}]`;
  const pairs = Object.entries(rest)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${textValue(v)}`)
    .join(' ');
  if (!color) return `${header}${prefix} ${message}${pairs ? ` ${pairs}` : ''}`;
  return (
    `${levelColor[level]}${header}${reset}${prefix} ` +
    `${level === 'debug' ? dim : ''}${message}${level === 'debug' ? reset : ''}` +
    `${pairs ? ` ${dim}${pairs}${reset}` : ''}`
  );
}

/**
 * One JSON line, shaped like the kubelet's JSON logs: `ts` (seconds since the epoch,
 * fractional), `level`, `v` (the klog verbosity of the line: 4 for debug, else 0),
 * `msg`, then the fields. Fields never overwrite these keys.
 */
export function formatJsonLine(
  level: LogLevel,
  ts: number,
  message: string,
  fields: LogFields,
): string {
  const entry: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) entry[k] = jsonValue(v);
  return JSON.stringify({
    ...entry,
    ts: ts / 1000,
    level,
    v: level === 'debug' ? debugVerbosity : 0,
    msg: message,
  });
}

class WinstonLogger implements Logger {
  constructor(
    private readonly target: winston.Logger,
    private readonly clock: Clock,
    private readonly fields: LogFields,
  ) {}

  private write(level: LogLevel, message: string, fields?: LogFields): void {
    if (!this.target.isLevelEnabled(level) || !this.target.writable) return;
    const info: LogInfo = {
      level,
      message,
      [FIELDS]: fields ? { ...this.fields, ...fields } : this.fields,
      [TS]: this.clock.now(),
    };
    this.target.log(info as unknown as winston.LogEntry);
  }

  error(message: string, fields?: LogFields): void {
    this.write('error', message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.write('warn', message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.write('info', message, fields);
  }
  debug(message: string, fields?: LogFields): void {
    this.write('debug', message, fields);
  }
  child(fields: LogFields): Logger {
    return new WinstonLogger(this.target, this.clock, { ...this.fields, ...fields });
  }
}

/**
 * Creates the agent's logger. Lines are written synchronously to `stream` as they
 * come (winston's Stream transport), so nothing is lost when the process exits.
 */
export function createAgentLogger(options: AgentLoggerOptions = {}): AgentLogger {
  const stream = options.stream ?? process.stderr;
  const format = options.format ?? 'text';
  const color =
    options.color ??
    (format === 'text' && (stream as { isTTY?: boolean }).isTTY === true && !process.env.NO_COLOR);
  const render = winston.format((info) => {
    const i = info as unknown as LogInfo;
    const level = i.level as LogLevel;
    i[MESSAGE] =
      format === 'json'
        ? formatJsonLine(level, i[TS], i.message, i[FIELDS])
        : formatTextLine(level, i[TS], i.message, i[FIELDS], color);
    return info;
  });
  const target = winston.createLogger({
    levels: logLevels,
    level: levelForVerbosity(options.verbosity ?? 0),
    format: render(),
    transports: [new winston.transports.Stream({ stream })],
    exitOnError: false,
  });
  return new RootLogger(target, options.clock ?? new RealClock());
}

class RootLogger extends WinstonLogger implements AgentLogger {
  constructor(
    readonly winston: winston.Logger,
    clock: Clock,
  ) {
    super(winston, clock, {});
  }

  close(): Promise<void> {
    const target = this.winston;
    return new Promise<void>((resolve) => {
      if (!target.writable) {
        resolve();
        return;
      }
      target.once('finish', () => resolve());
      target.end();
    });
  }
}
