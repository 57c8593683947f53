/**
 * The terminal view of the agent: one readable line per pod or container state
 * change, for people watching `nodeagent` run (`journalctl -fu nodeagent` or a
 * terminal), e.g.
 *
 * ```
 * 02:30:01  default/web-node1                 Pending → Running
 * 02:30:01  default/web-node1 [web]           Waiting → Running
 * 02:31:10  default/crash-node1 [app]         Running → Waiting  CrashLoopBackOff: back-off 20s restarting failed container
 * ```
 */
import type { Clock } from '@nodeagent/core';

/** The pod a change is about. */
export interface PodRef {
  namespace: string;
  name: string;
  uid?: string;
}

/**
 * A pod or container state change, as pod-lifecycle reports them. States are the
 * Kubernetes words: pod phases (`Pending`, `Running`, `Succeeded`, `Failed`), or
 * container states (`Waiting`, `Running`, `Terminated`), optionally with readiness
 * (`Running (ready)`); `reason` is the Kubernetes reason (`ContainerCreating`,
 * `CrashLoopBackOff`, `Completed`, `Error`, `OOMKilled`, …).
 */
export interface PodStateChange {
  pod: PodRef;
  /** The container's name; absent for a change of the pod itself. */
  container?: string;
  /** The previous state; `''` or absent when the pod or container is new. */
  from?: string;
  to: string;
  reason?: string;
  message?: string;
  /** When the change happened, ms since the epoch; the view's clock when absent. */
  at?: number;
}

/** Where the view writes: a stream such as `process.stdout`. */
export interface LineSink {
  write(text: string): unknown;
}

/** Options of {@link PodStateView}. */
export interface PodStateViewOptions {
  out: LineSink;
  clock: Clock;
  /** ANSI colors (green for running/ready, yellow for waiting, red for failures). Default false. */
  color?: boolean;
  /** Width of the pod/container column. Default 34. */
  nameWidth?: number;
}

const red = '\u001b[31m';
const green = '\u001b[32m';
const yellow = '\u001b[33m';
const grey = '\u001b[90m';
const bold = '\u001b[1m';
const reset = '\u001b[0m';

/** Reasons and states shown in red: the pod or container is failing. */
const failureWords = new Set([
  'Failed',
  'Error',
  'OOMKilled',
  'CrashLoopBackOff',
  'ErrImagePull',
  'ImagePullBackOff',
  'ErrImageNeverPull',
  'InvalidImageName',
  'CreateContainerError',
  'CreateContainerConfigError',
  'RunContainerError',
  'PreStartHookError',
  'PostStartHookError',
  'ContainerCannotRun',
  'DeadlineExceeded',
  'Unhealthy',
  'Evicted',
]);

function colorFor(state: string, reason: string | undefined): string {
  if ((reason && failureWords.has(reason)) || failureWords.has(state)) return red;
  if (state.startsWith('Running') || state === 'Succeeded' || state === 'Ready') return green;
  if (state === 'Terminated' && reason === 'Completed') return green;
  if (state === 'Waiting' || state === 'Pending') return yellow;
  return grey;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/**
 * Renders pod and container state changes as lines. Repeats (same state and reason
 * as the last line for that pod or container) are not printed again.
 */
export class PodStateView {
  private readonly out: LineSink;
  private readonly clock: Clock;
  private readonly color: boolean;
  private readonly nameWidth: number;
  private readonly last = new Map<string, string>();

  constructor(options: PodStateViewOptions) {
    this.out = options.out;
    this.clock = options.clock;
    this.color = options.color ?? false;
    this.nameWidth = options.nameWidth ?? 34;
  }

  /** The line for one change (without a newline). */
  render(change: PodStateChange): string {
    const at = new Date(change.at ?? this.clock.now());
    const time = `${pad2(at.getHours())}:${pad2(at.getMinutes())}:${pad2(at.getSeconds())}`;
    const pod = `${change.pod.namespace}/${change.pod.name}`;
    const who = change.container === undefined ? pod : `${pod} [${change.container}]`;
    const c = (code: string, text: string): string =>
      this.color ? `${code}${text}${reset}` : text;
    const from = change.from ? `${change.from} → ` : '';
    const to = c(colorFor(change.to, change.reason), change.to);
    const detail = [change.reason, change.message]
      .filter((s) => s !== undefined && s !== '')
      .join(': ');
    const whoText =
      change.container === undefined
        ? c(bold, who.padEnd(this.nameWidth))
        : who.padEnd(this.nameWidth);
    return `${c(grey, time)}  ${whoText} ${from}${to}${detail ? `  ${c(colorFor(change.to, change.reason), detail)}` : ''}`;
  }

  /** Prints the change, unless it repeats the last state shown for that pod or container. */
  show(change: PodStateChange): boolean {
    const key = `${change.pod.uid ?? `${change.pod.namespace}/${change.pod.name}`}\u0000${change.container ?? ''}`;
    const state = `${change.to}\u0000${change.reason ?? ''}`;
    if (this.last.get(key) === state) return false;
    this.last.set(key, state);
    this.out.write(`${this.render(change)}\n`);
    return true;
  }

  /** Forgets a pod (after it is gone), so a new pod of the same name starts fresh. */
  forgetPod(pod: PodRef): void {
    const prefix = `${pod.uid ?? `${pod.namespace}/${pod.name}`}\u0000`;
    for (const key of [...this.last.keys()]) if (key.startsWith(prefix)) this.last.delete(key);
  }

  /** Shows every change of `changes` until it ends or `signal` aborts. */
  async run(changes: AsyncIterable<PodStateChange>, signal?: AbortSignal): Promise<void> {
    for await (const change of changes) {
      if (signal?.aborted) break;
      this.show(change);
    }
  }
}
