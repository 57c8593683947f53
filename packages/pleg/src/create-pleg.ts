import type { PlegMode, PodLifecycleEventGenerator } from '@nodeagent/core';
import { EventedPleg, type EventedPlegOptions } from './evented-pleg.js';
import { GenericPleg } from './generic-pleg.js';

/** Options of {@link createPleg}: the relist options, the evented ones, and the mode. */
export interface PlegOptions extends EventedPlegOptions {
  /**
   * `relist` (default, kubelet `GenericPLEG`) or `evented` (kubelet `EventedPLEG`,
   * which falls back to relisting when the runtime's event stream does not work).
   */
  mode?: PlegMode;
}

/** A PLEG as {@link createPleg} returns it: the contract plus an on-demand relist. */
export interface Pleg extends PodLifecycleEventGenerator {
  /** Relists once now, after any relist in progress; never rejects. */
  relist(): Promise<void>;
}

/**
 * Creates the pod lifecycle event generator: a {@link GenericPleg} in `relist` mode,
 * an {@link EventedPleg} in `evented` mode. Defaults follow the kubelet: relist every
 * 1 s, unhealthy after 3 min without a successful relist, 1000 events per subscriber
 * buffer.
 */
export function createPleg(options: PlegOptions): Pleg {
  return options.mode === 'evented' ? new EventedPleg(options) : new GenericPleg(options);
}
