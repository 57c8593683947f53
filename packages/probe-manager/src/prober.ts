import {
  noopEventRecorder,
  noopLogger,
  type EventRecorder,
  type Logger,
  type ProbeType,
} from '@nodeagent/core';
import type { ResolvedProbe } from './probe-spec.js';
import type { ProbeRunner, ProbeTarget } from './probers/types.js';

/** Attempts per probe when an attempt errors (kubelet `maxProbeRetries`). */
export const maxProbeRetries = 3;

/** The event reason of failed and errored probes (kubelet `events.ContainerUnhealthy`). */
export const reasonUnhealthy = 'Unhealthy';
/** The event reason of probes that succeeded with a warning (kubelet `events.ContainerProbeWarning`). */
export const reasonProbeWarning = 'ProbeWarning';

/** What {@link Prober.probe} concluded: a result, or an error whose result is thrown away. */
export type ProberVerdict =
  { result: 'Success' | 'Failure' } | { result: 'Failure'; error: unknown };

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * One probe, with the kubelet's retries and events (kubelet `prober.probe`): an attempt
 * that errors is retried up to {@link maxProbeRetries} times in a row; if all error,
 * the verdict carries the error (the worker throws it away) and a `Warning Unhealthy`
 * event `<Type> probe errored and resulted in unknown state: <error>` is recorded.
 * A probe whose handler is `invalid` (see `resolveProbeLeniently`) errors at once with
 * its reason — the runner is not called and nothing is retried — with the same event
 * and verdict, as the kubelet's `missing probe handler` error does.
 * Otherwise: `Success` → Success; `Warning` → Success plus a `Warning ProbeWarning`
 * event `<Type> probe warning: <output>`; `Failure` → Failure plus a `Warning Unhealthy`
 * event `<Type> probe failed: <output>`; `Unknown` → Failure without an event.
 */
export class Prober {
  constructor(
    private readonly runner: ProbeRunner,
    private readonly recorder: EventRecorder = noopEventRecorder,
    private readonly logger: Logger = noopLogger,
  ) {}

  async probe(
    probeType: ProbeType,
    probe: ResolvedProbe,
    target: ProbeTarget,
    fieldPath: string,
  ): Promise<ProberVerdict> {
    let outcome;
    let error: unknown;
    if (probe.handler.kind === 'invalid') {
      // Every attempt of an invalid probe errors the same way: no runner, no retries.
      error = new Error(probe.handler.reason);
    } else {
      for (let i = 0; i < maxProbeRetries; i++) {
        try {
          outcome = await this.runner.run(probe, target);
          error = undefined;
          break;
        } catch (err) {
          error = err;
          if (target.signal.aborted) break;
        }
      }
    }
    // The common case (success) allocates nothing more: fields and events are built
    // only on the paths that log or record.
    if (outcome?.result === 'Success') return { result: 'Success' };
    const meta = target.pod.metadata;
    const fields = {
      probeType,
      pod: `${meta.namespace ?? ''}/${meta.name ?? ''}`,
      podUID: meta.uid,
      containerName: target.container.name,
    };
    const record = (reason: string, message: string): void => {
      this.recorder.event(
        {
          kind: 'Pod',
          apiVersion: 'v1',
          ...(meta.namespace !== undefined ? { namespace: meta.namespace } : {}),
          ...(meta.name !== undefined ? { name: meta.name } : {}),
          ...(meta.uid !== undefined ? { uid: meta.uid } : {}),
          fieldPath,
        },
        'Warning',
        reason,
        message,
      );
    };
    if (outcome === undefined) {
      if (!target.signal.aborted) {
        this.logger.debug('Probe errored', { ...fields, err: errorText(error) });
        record(
          reasonUnhealthy,
          `${probeType} probe errored and resulted in unknown state: ${errorText(error)}`,
        );
      }
      return { result: 'Failure', error };
    }
    switch (outcome.result) {
      case 'Warning':
        record(reasonProbeWarning, `${probeType} probe warning: ${outcome.output}`);
        this.logger.debug('Probe succeeded with a warning', { ...fields, output: outcome.output });
        return { result: 'Success' };
      case 'Failure':
        this.logger.debug('Probe failed', { ...fields, output: outcome.output });
        record(reasonUnhealthy, `${probeType} probe failed: ${outcome.output}`);
        return { result: 'Failure' };
      case 'Unknown':
        this.logger.debug('Probe unknown without error', fields);
        return { result: 'Failure' };
    }
  }
}
