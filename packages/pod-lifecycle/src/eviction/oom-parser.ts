/**
 * Parses OOM kills out of kernel log messages, following cadvisor's `oomparser`
 * (which the kubelet's OOM watcher uses): an OOM report starts with
 * `<comm> invoked oom-killer:`; it ends either with the one-line summary of kernels
 * ≥ 5.0 (`oom-kill:constraint=…,oom_memcg=…,task_memcg=…,task=<comm>,pid=<pid>,uid=…`,
 * cgroup v1 and v2 alike) or with `Killed process <pid> (<comm>)` (older kernels,
 * also `Out of memory: Killed process …` / `Memory cgroup out of memory: Killed process …`);
 * before that, older kernels name the cgroups in `Task in <memcg> killed as a result of limit of <memcg>`.
 */

/** One OOM kill (cadvisor `OomInstance`). */
export interface OomInstance {
  /** PID of the killed process (0 when the report did not name it). */
  pid: number;
  /** Command name of the killed process (`''` when not named). */
  processName: string;
  /** When the kill was logged, ms since the epoch (from the kmsg timestamp), when known. */
  timeOfDeathMs?: number;
  /** The cgroup of the killed task (`task_memcg`), `/` for a process outside any. */
  containerName: string;
  /** The cgroup whose limit was hit (`oom_memcg`): `/` for a system-wide OOM. */
  victimContainerName: string;
  /** `CONSTRAINT_NONE`, `CONSTRAINT_CPUSET`, `CONSTRAINT_MEMORY_POLICY` or `CONSTRAINT_MEMCG`, when logged. */
  constraint?: string;
}

/** One kernel log record (from `/dev/kmsg`). */
export interface KmsgRecord {
  /** Syslog priority (0–7) ORed with facility << 3. */
  priority: number;
  /** Kernel sequence number. */
  sequence: number;
  /** Microseconds since boot. */
  timestampUs: number;
  /** The message text, without the continuation key/value lines. */
  message: string;
}

/**
 * Parses one `/dev/kmsg` record: `<prio>,<seq>,<usec>,<flags>[,…];<message>` followed
 * by optional continuation lines (` KEY=value`). Returns undefined for anything else.
 */
export function parseKmsgRecord(text: string): KmsgRecord | undefined {
  const semi = text.indexOf(';');
  if (semi < 0) return undefined;
  const fields = text.slice(0, semi).split(',');
  const [priority, sequence, timestampUs] = [fields[0], fields[1], fields[2]].map((f) =>
    f === undefined ? Number.NaN : Number(f),
  );
  if (
    priority === undefined ||
    sequence === undefined ||
    timestampUs === undefined ||
    !Number.isInteger(priority) ||
    !Number.isInteger(sequence) ||
    !Number.isInteger(timestampUs)
  ) {
    return undefined;
  }
  let message = text.slice(semi + 1);
  const newline = message.indexOf('\n');
  if (newline >= 0) message = message.slice(0, newline);
  return { priority, sequence, timestampUs, message };
}

const firstLine = /invoked oom-killer:/;
const legacyContainerLine = /Task in (.*) killed as a result of limit of (.*)/;
const lastLine = /Killed process ([0-9]+) \((.+)\)/;

/** Joins like Go's `path.Join("/", p)`: one leading slash, no trailing slash. */
function rootJoin(p: string): string {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  return `/${parts.join('/')}`;
}

/**
 * Parses a `oom-kill:` summary line into its key/value fields. Unlike cadvisor's
 * regular expression this reads `key=value` pairs, so a value with a space or a
 * missing field does not break it.
 */
export function parseOomKillLine(message: string): Record<string, string> | undefined {
  const at = message.indexOf('oom-kill:');
  if (at < 0) return undefined;
  const body = message.slice(at + 'oom-kill:'.length);
  const fields: Record<string, string> = {};
  // Split on commas that start a new `key=` (values such as nodemask may hold commas).
  for (const part of body.split(/,(?=[a-z_]+=)/)) {
    const eq = part.indexOf('=');
    if (eq > 0) fields[part.slice(0, eq)] = part.slice(eq + 1);
  }
  if (fields['task'] === undefined || fields['pid'] === undefined) return undefined;
  return fields;
}

/**
 * A streaming OOM parser: feed it kernel messages in order; it returns an
 * {@link OomInstance} when a report is complete (cadvisor `StreamOoms`).
 */
export class OomParser {
  private current: OomInstance | undefined;

  /**
   * Feeds one message; `timeMs` is its time (ms since the epoch) when known.
   * Returns the finished OOM kill, if this message completed one.
   */
  push(message: string, timeMs?: number): OomInstance | undefined {
    if (firstLine.test(message)) {
      // A new report; one left unfinished is dropped, as cadvisor does when a line never comes.
      this.current = {
        pid: 0,
        processName: '',
        containerName: '/',
        victimContainerName: '/',
        ...(timeMs !== undefined ? { timeOfDeathMs: timeMs } : {}),
      };
      return undefined;
    }
    const current = this.current;
    if (!current) return undefined;
    const summary = parseOomKillLine(message);
    if (summary) {
      const pid = Number.parseInt(summary['pid'] ?? '', 10);
      current.pid = Number.isFinite(pid) ? pid : 0;
      current.processName = summary['task'] ?? '';
      if (summary['task_memcg'] !== undefined) current.containerName = summary['task_memcg'];
      if (summary['oom_memcg'] !== undefined) current.victimContainerName = summary['oom_memcg'];
      if (summary['constraint'] !== undefined) current.constraint = summary['constraint'];
      return this.finish(timeMs);
    }
    const legacy = legacyContainerLine.exec(message);
    if (legacy) {
      current.containerName = rootJoin(legacy[1] ?? '');
      current.victimContainerName = rootJoin(legacy[2] ?? '');
      return undefined;
    }
    const killed = lastLine.exec(message);
    if (killed) {
      current.pid = Number.parseInt(killed[1] ?? '0', 10);
      current.processName = killed[2] ?? '';
      return this.finish(timeMs);
    }
    return undefined;
  }

  private finish(timeMs: number | undefined): OomInstance | undefined {
    const done = this.current;
    this.current = undefined;
    if (done && timeMs !== undefined) done.timeOfDeathMs = timeMs;
    return done;
  }
}

/** Parses every OOM kill in a sequence of kernel messages. */
export function parseOomKills(messages: Iterable<string>): OomInstance[] {
  const parser = new OomParser();
  const out: OomInstance[] = [];
  for (const m of messages) {
    const oom = parser.push(m);
    if (oom) out.push(oom);
  }
  return out;
}
