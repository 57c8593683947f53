/**
 * The CRI container log format (`<RFC3339Nano> <stream> <P|F> <text>` per line), as
 * the kubelet's `parseCRILog` reads it: shared by every reader of container logs (the
 * node API's containerLogs, termination messages from logs).
 */
/** One parsed line of a CRI log file: `<RFC3339Nano> <stream> <P|F> <text>`. */
export interface CriLogLine {
  /** The timestamp as written by the runtime. */
  timestamp: string;
  /** The timestamp in epoch milliseconds. */
  timeMs: number;
  stream: 'stdout' | 'stderr';
  /** `P`: a partial line (the runtime split a long line); `F`: the line ends here. */
  partial: boolean;
  /** The text, without the newline the runtime stripped. */
  content: Buffer;
}

const space = 0x20;

/**
 * Parses one CRI log line (without its `\n`) as the kubelet's `parseCRILog` does;
 * undefined when it is malformed (the kubelet skips such lines).
 */
export function parseCriLogLine(line: Buffer): CriLogLine | undefined {
  const i1 = line.indexOf(space);
  if (i1 <= 0) return undefined;
  const timestamp = line.subarray(0, i1).toString('latin1');
  const timeMs = parseRfc3339(timestamp);
  if (timeMs === undefined) return undefined;
  const i2 = line.indexOf(space, i1 + 1);
  if (i2 < 0) return undefined;
  const stream = line.subarray(i1 + 1, i2).toString('latin1');
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  // the tag may be followed by ":"-separated attributes; only P/F matter
  const i3 = line.indexOf(space, i2 + 1);
  const tagEnd = i3 < 0 ? line.length : i3;
  const tag = line
    .subarray(i2 + 1, tagEnd)
    .toString('latin1')
    .split(':')[0];
  if (tag !== 'P' && tag !== 'F') return undefined;
  const content = i3 < 0 ? Buffer.alloc(0) : line.subarray(i3 + 1);
  return { timestamp, timeMs, stream, partial: tag === 'P', content };
}

const rfc3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

/** Epoch ms of an RFC 3339 (nano) timestamp; undefined when malformed. */
export function parseRfc3339(s: string): number | undefined {
  const m = rfc3339.exec(s);
  if (!m) return undefined;
  const ms = Date.parse(
    `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[8] === 'z' ? 'Z' : m[8]}`,
  );
  if (Number.isNaN(ms)) return undefined;
  return ms + Number(`0.${m[7] ?? '0'}`) * 1000;
}

/** `RFC3339NanoFixed` (nine fraction digits), the kubelet's `timestamps=true` prefix. */
export function formatTimestampFixed(raw: string): string {
  const m = rfc3339.exec(raw);
  if (!m) return raw;
  const frac = (m[7] ?? '').padEnd(9, '0');
  const zone = m[8] === 'z' ? 'Z' : (m[8] ?? 'Z');
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${frac}${zone}`;
}
