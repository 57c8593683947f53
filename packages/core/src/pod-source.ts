import type { Pod } from './k8s/types.js';
import { createToken, type InjectionToken } from './token.js';

/**
 * What a pod update means (kubelet `kubetypes.PodOperation`). Sources normally send
 * `SET` (the full list of their pods); the pod config merger turns that into
 * `ADD`/`UPDATE`/`DELETE`/`REMOVE`/`RECONCILE` for the pod workers.
 */
export const PodOperation = {
  /** The complete current set of pods from one source. */
  SET: 'SET',
  /** Pods new to the desired set. */
  ADD: 'ADD',
  /** Pods whose spec changed. */
  UPDATE: 'UPDATE',
  /** Pods being deleted gracefully (deletionTimestamp set). */
  DELETE: 'DELETE',
  /** Pods gone from their source: stop them. */
  REMOVE: 'REMOVE',
  /** Pods whose status changed but not their spec. */
  RECONCILE: 'RECONCILE',
} as const;
export type PodOperation = (typeof PodOperation)[keyof typeof PodOperation];

/** Names of the kubelet's pod sources (`kubernetes.io/config.source` values). */
export const PodSourceName = {
  File: 'file',
  Http: 'http',
  Api: 'api',
} as const;
export type PodSourceName = (typeof PodSourceName)[keyof typeof PodSourceName] | (string & {});

/** One message from a pod source (kubelet `kubetypes.PodUpdate`). */
export interface PodUpdate {
  op: PodOperation;
  /** The source's name: `file`, `http`, `api`. */
  source: PodSourceName;
  pods: Pod[];
}

/**
 * A source of desired pods: the static manifest directory, a manifest URL, the API
 * server. Emits `SET` with all of its pods whenever they may have changed (the
 * merger ignores a SET that changes nothing).
 */
export interface PodSource {
  readonly name: PodSourceName;
  /** Starts watching; the first SET follows as soon as the source has read its pods. */
  start(): void;
  /** Stops every watcher and timer. */
  stop(): Promise<void>;
  /** Calls `listener` with each update, in order. Returns the unsubscribe function. */
  subscribe(listener: (update: PodUpdate) => void): () => void;
}
/** Token for the list of pod sources the agent runs (register each with `PodSources`). */
export const PodSources: InjectionToken<readonly PodSource[]> =
  createToken<readonly PodSource[]>('PodSources');

/** Annotation keys the kubelet puts on pods from its sources. */
export const PodAnnotation = {
  /** Which source the pod came from (`file`, `http`, `api`). */
  ConfigSource: 'kubernetes.io/config.source',
  /** Hash identifying the manifest version (static pods: also the UID). */
  ConfigHash: 'kubernetes.io/config.hash',
  /** When the agent first saw this version of the pod (RFC 3339). */
  ConfigSeen: 'kubernetes.io/config.seen',
  /** On a mirror pod: the hash of the static pod it mirrors. */
  ConfigMirror: 'kubernetes.io/config.mirror',
} as const;
