import {
  FailedPreconditionError,
  InvalidArgumentError,
  PodAnnotation,
  UnavailableError,
  noopLogger,
  type Logger,
  type MirrorClient,
  type k8s,
} from '@nodeagent/core';
import type { KubeApi } from '@nodeagent/kube-client';
import type { V1Pod } from '@kubernetes/client-node';
import { staticPodHash } from './pod-status-normalize.js';

/** Options of {@link ApiMirrorClient}. */
export interface ApiMirrorClientOptions {
  /** The API clients (only `core` is used: read the Node, create and delete pods). */
  api: Pick<KubeApi, 'core'>;
  /** This node's name (the mirror pods' owner). */
  nodeName: string;
  logger?: Logger;
  /**
   * Called after a mirror pod was created (not when it already existed), with the
   * static pod: the status manager writes the static pod's status to the new mirror.
   */
  onMirrorPodCreated?: (staticPod: k8s.Pod) => void;
}

function httpCode(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const { code } = err;
    if (typeof code === 'number') return code;
  }
  return undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Splits a kubelet pod full name `name_namespace` (kubelet
 * `kubecontainer.ParsePodFullName`).
 * @throws InvalidArgumentError unless it is exactly two non-empty parts.
 */
export function parsePodFullName(podFullName: string): { name: string; namespace: string } {
  const parts = podFullName.split('_');
  const [name, namespace] = parts;
  if (
    parts.length !== 2 ||
    name === undefined ||
    name === '' ||
    namespace === undefined ||
    namespace === ''
  ) {
    throw new InvalidArgumentError(`failed to parse the pod full name "${podFullName}"`);
  }
  return { name, namespace };
}

/** A kubelet pod full name, `name_namespace` (kubelet `kubecontainer.GetPodFullName`). */
export function podFullName(pod: k8s.Pod): string {
  return `${pod.metadata.name ?? ''}_${pod.metadata.namespace ?? 'default'}`;
}

/**
 * The mirror pod of a static pod (kubelet `basicMirrorClient.CreateMirrorPod`): its
 * name, namespace, labels, annotations and spec, plus the annotation
 * `kubernetes.io/config.mirror` = the static pod's config hash and a controller
 * owner reference to the Node. No uid, resourceVersion or status.
 */
export function mirrorPodOf(staticPod: k8s.Pod, node: { name: string; uid: string }): k8s.Pod {
  const meta = staticPod.metadata;
  const metadata: k8s.ObjectMeta = {
    name: meta.name ?? '',
    namespace: meta.namespace ?? 'default',
    annotations: { ...meta.annotations, [PodAnnotation.ConfigMirror]: staticPodHash(staticPod) },
    ownerReferences: [
      { apiVersion: 'v1', kind: 'Node', name: node.name, uid: node.uid, controller: true },
    ],
  };
  if (meta.labels !== undefined) metadata.labels = { ...meta.labels };
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: structuredClone(staticPod.spec) };
}

/**
 * Creates and deletes mirror pods on the API server (kubelet `pod.MirrorClient`).
 * Creating an existing mirror pod is not an error; deleting is immediate (grace
 * period 0) and guarded by a UID precondition when a UID is given.
 */
export class ApiMirrorClient implements MirrorClient {
  private readonly api: Pick<KubeApi, 'core'>;
  private readonly nodeName: string;
  private readonly logger: Logger;
  private readonly onMirrorPodCreated: ((staticPod: k8s.Pod) => void) | undefined;

  constructor(options: ApiMirrorClientOptions) {
    this.api = options.api;
    this.nodeName = options.nodeName;
    this.logger = (options.logger ?? noopLogger).child({ component: 'mirror_client' });
    this.onMirrorPodCreated = options.onMirrorPodCreated;
  }

  /**
   * Creates the mirror pod of `staticPod`. Reads the Node for its UID first.
   * @throws FailedPreconditionError when the Node is not registered yet;
   *   UnavailableError when the API server cannot be reached or refuses the pod.
   */
  async createMirrorPod(staticPod: k8s.Pod): Promise<void> {
    const nodeUid = await this.nodeUid();
    const mirror = mirrorPodOf(staticPod, { name: this.nodeName, uid: nodeUid });
    const namespace = mirror.metadata.namespace ?? 'default';
    try {
      // The core k8s types are the JSON form the API accepts; the generated model only differs in Date fields, which a mirror pod does not set.
      await this.api.core.createNamespacedPod({ namespace, body: mirror as unknown as V1Pod });
      this.logger.info('Created mirror pod', {
        pod: `${namespace}/${mirror.metadata.name ?? ''}`,
        hash: mirror.metadata.annotations?.[PodAnnotation.ConfigMirror],
      });
    } catch (err) {
      if (httpCode(err) === 409) return; // AlreadyExists: the mirror pod is there.
      throw new UnavailableError(
        `cannot create mirror pod ${namespace}/${mirror.metadata.name ?? ''}: ${errorText(err)}`,
        { cause: err, operation: 'pods/create' },
      );
    }
    this.onMirrorPodCreated?.(staticPod);
  }

  /**
   * Deletes the mirror pod `name_namespace` with grace period 0, only if its UID is
   * `uid` when given. Returns false when there is no such pod or its UID differs.
   * @throws InvalidArgumentError for a malformed full name; UnavailableError for other failures.
   */
  async deleteMirrorPod(fullName: string, uid?: string): Promise<boolean> {
    const { name, namespace } = parsePodFullName(fullName);
    this.logger.info('Deleting a mirror pod', { pod: fullName, podUID: uid });
    try {
      await this.api.core.deleteNamespacedPod({
        name,
        namespace,
        body: { gracePeriodSeconds: 0, ...(uid === undefined ? {} : { preconditions: { uid } }) },
      });
      return true;
    } catch (err) {
      const code = httpCode(err);
      if (code === 404 || code === 409) return false;
      throw new UnavailableError(
        `cannot delete mirror pod ${namespace}/${name}: ${errorText(err)}`,
        {
          cause: err,
          operation: 'pods/delete',
        },
      );
    }
  }

  private async nodeUid(): Promise<string> {
    try {
      const node = await this.api.core.readNode({ name: this.nodeName });
      const uid = node.metadata?.uid;
      if (uid === undefined || uid === '') throw new Error('the Node has no UID');
      return uid;
    } catch (err) {
      if (httpCode(err) === 404) {
        throw new FailedPreconditionError(
          `cannot create mirror pods before Node ${this.nodeName} is registered`,
          { cause: err, operation: 'nodes/get' },
        );
      }
      throw new UnavailableError(`cannot read Node ${this.nodeName}: ${errorText(err)}`, {
        cause: err,
        operation: 'nodes/get',
      });
    }
  }
}

/** Creates an {@link ApiMirrorClient}. */
export function createApiMirrorClient(options: ApiMirrorClientOptions): ApiMirrorClient {
  return new ApiMirrorClient(options);
}
