import {
  EventRecorder,
  Logger,
  MetricsRegistry,
  resolveOptional,
  type FactoryRegistry,
  type TokenResolver,
} from '@nodeagent/core';
import {
  createApiEventRecorder,
  type ApiEventRecorder,
  type ApiEventRecorderOptions,
} from './event-recorder.js';

/**
 * Registers one shared {@link ApiEventRecorder} (created, not started, on first
 * resolve) as core's `EventRecorder`. Its logger and metrics come from the options,
 * else from the container's `Logger` and `MetricsRegistry` if registered. The agent
 * calls `start()`/`stop()` on it (resolve it and narrow with `instanceof ApiEventRecorder`).
 */
export function registerApiEventRecorder(
  container: FactoryRegistry,
  options: ApiEventRecorderOptions,
): void {
  let recorder: ApiEventRecorder | undefined;
  container.register(EventRecorder, {
    useFactory: (resolver: TokenResolver) => {
      if (!recorder) {
        const logger = options.logger ?? resolveOptional(resolver, Logger);
        const metrics = options.metrics ?? resolveOptional(resolver, MetricsRegistry);
        recorder = createApiEventRecorder({
          ...options,
          ...(logger ? { logger } : {}),
          ...(metrics ? { metrics } : {}),
        });
      }
      return recorder;
    },
  });
}
