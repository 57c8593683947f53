import type { Clock, ContainerRuntime, Logger, PlegHealth, cri } from '@nodeagent/core';

/** Kubelet `maxWaitForContainerRuntime`: the runtime counts as down this long after its last good status, in ms. */
export const defaultRuntimeDownThresholdMs = 30_000;
/** Kubelet runtime status check period (`updateRuntimeUp` every 5 s), in ms. */
export const defaultRuntimeSyncPeriodMs = 5_000;

/** Options of {@link NodeRuntimeState}. */
export interface NodeRuntimeStateOptions {
  runtime: Pick<ContainerRuntime, 'status'>;
  clock: Clock;
  /** The PLEG's health check (`PLEG is not healthy: …`); omitted: no PLEG check. */
  pleg?: { healthy(): PlegHealth } | undefined;
  /** Default {@link defaultRuntimeDownThresholdMs}. */
  runtimeDownThresholdMs?: number;
  logger: Logger;
}

/** The kubelet's `RuntimeCondition.String()`: `NetworkReady=false reason:X message:Y`. */
function conditionString(c: cri.RuntimeCondition | undefined, type: string): string {
  if (!c) return '<nil>';
  return `${type}=${String(c.status)} reason:${c.reason} message:${c.message}`;
}

/**
 * The container runtime's health as the kubelet's `runtimeState` tracks it: the time
 * of the last good CRI `Status`, the runtime and network readiness conditions, and
 * health checks (PLEG). {@link errors} gives the problems in the kubelet's words,
 * which become the Ready condition's message.
 */
export class NodeRuntimeState {
  private lastGoodSyncMs: number | undefined;
  private runtimeError: string | undefined;
  private networkError: string | undefined;
  private readonly thresholdMs: number;

  constructor(private readonly options: NodeRuntimeStateOptions) {
    this.thresholdMs = options.runtimeDownThresholdMs ?? defaultRuntimeDownThresholdMs;
  }

  /**
   * One runtime check (kubelet `updateRuntimeUp`): CRI `Status`; a failed call leaves
   * the last good time alone, so the runtime counts as down once it is older than the
   * threshold. Never rejects.
   */
  async sync(): Promise<void> {
    let status: cri.RuntimeStatus | null;
    try {
      status = (await this.options.runtime.status({}, { timeoutMs: 10_000 })).status;
    } catch (err) {
      this.options.logger.warn('Container runtime sanity check failed', {
        err: err instanceof Error ? err.message : String(err),
      });
      return;
    }
    if (!status) {
      this.options.logger.warn('Container runtime status is nil');
      return;
    }
    const network = status.conditions.find((c) => c.type === 'NetworkReady');
    this.networkError =
      network?.status === true
        ? undefined
        : `container runtime network not ready: ${conditionString(network, 'NetworkReady')}`;
    const runtime = status.conditions.find((c) => c.type === 'RuntimeReady');
    if (runtime?.status !== true) {
      this.runtimeError = `container runtime not ready: ${conditionString(runtime, 'RuntimeReady')}`;
      return;
    }
    this.runtimeError = undefined;
    this.lastGoodSyncMs = this.options.clock.monotonicNow();
  }

  /**
   * What is wrong, in the kubelet's order and words (`runtimeErrors` then
   * `networkErrors`); empty when the runtime is healthy.
   */
  errors(): string[] {
    const errs: string[] = [];
    if (this.lastGoodSyncMs === undefined) {
      errs.push('container runtime status check may not have completed yet');
    } else if (this.options.clock.monotonicNow() - this.lastGoodSyncMs >= this.thresholdMs) {
      errs.push('container runtime is down');
    }
    const pleg = this.options.pleg?.healthy();
    if (pleg && !pleg.ok) errs.push(`PLEG is not healthy: ${pleg.message}`);
    if (this.runtimeError) errs.push(this.runtimeError);
    if (this.networkError) errs.push(this.networkError);
    return errs;
  }
}

/**
 * Joins errors like apimachinery's `utilerrors.NewAggregate(...).Error()`: one error
 * as is, several as `[a, b]`, duplicates once.
 */
export function aggregateMessage(errors: readonly string[]): string {
  const unique = [...new Set(errors)];
  if (unique.length === 1) return unique[0] ?? '';
  return `[${unique.join(', ')}]`;
}
