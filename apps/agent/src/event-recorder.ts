import type { EventRecorder, EventType, Logger, k8s } from '@nodeagent/core';

/**
 * The standalone agent's EventRecorder: with no API server to post Events to, each
 * event becomes a log line, as the kubelet's event broadcaster logs them
 * (`"Event occurred" object="default/web" fieldPath="spec.containers{web}" kind="Pod"
 * type="Warning" reason="Unhealthy" message="Liveness probe failed: …"`). Warnings are
 * logged at warn level, normal events at info.
 */
export class LoggingEventRecorder implements EventRecorder {
  private readonly logger: Logger;

  constructor(logger: Logger) {
    this.logger = logger.child({ component: 'events' });
  }

  event(object: k8s.ObjectReference, type: EventType, reason: string, message: string): void {
    const name = object.namespace
      ? `${object.namespace}/${object.name ?? ''}`
      : (object.name ?? '');
    const fields = {
      object: name,
      ...(object.fieldPath ? { fieldPath: object.fieldPath } : {}),
      kind: object.kind ?? '',
      ...(object.apiVersion ? { apiVersion: object.apiVersion } : {}),
      type,
      reason,
      message,
    };
    if (type === 'Warning') this.logger.warn('Event occurred', fields);
    else this.logger.info('Event occurred', fields);
  }
}
