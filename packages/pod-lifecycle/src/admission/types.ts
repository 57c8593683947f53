import type { k8s } from '@nodeagent/core';

/** What an admit handler is asked about (kubelet `lifecycle.PodAdmitAttributes`). */
export interface PodAdmitAttributes {
  /** The pod to admit. */
  pod: k8s.Pod;
  /** The pods already admitted and still active on the node (not terminal, not rejected). */
  otherPods: readonly k8s.Pod[];
}

/** The answer of an admit handler (kubelet `lifecycle.PodAdmitResult`). */
export interface PodAdmitResult {
  admit: boolean;
  /** Machine-readable reason of a refusal (`OutOfcpu`, `SysctlForbidden`, `Evicted`…): the event reason and `status.reason`. */
  reason?: string;
  /** Human-readable message of a refusal; the status message is `Pod was rejected: <message>`. */
  message?: string;
}

/**
 * Decides whether a new pod may run on this node (kubelet `lifecycle.PodAdmitHandler`).
 * Handlers run in order when a pod is added; the first refusal rejects the pod: it is
 * never started, its status becomes phase Failed with the handler's reason, and a
 * Warning event with that reason is recorded.
 */
export interface PodAdmitHandler {
  /** A name for logs. */
  readonly name: string;
  admit(attributes: PodAdmitAttributes): PodAdmitResult;
}

/**
 * The parts of a Node the admission checks read. Structural, so a Node object from the
 * API server (or status-reporter's `Node`) fits as is.
 */
export interface AdmissionNode {
  metadata: { name?: string; labels?: Record<string, string> };
  spec?: {
    taints?: readonly { key: string; value?: string; effect: string }[];
  };
  status?: { allocatable?: k8s.ResourceList };
}
