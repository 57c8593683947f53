import {
  PatchStrategy,
  setHeaderOptions,
  type V1CSINode,
  type V1CSINodeDriver,
  type V1Node,
} from '@kubernetes/client-node';
import {
  RealClock,
  jitter,
  mathRandom,
  noopLogger,
  type Clock,
  type Logger,
  type Random,
} from '@nodeagent/core';
import { apiFailureOf, type KubeApi } from '@nodeagent/kube-client';

/** Kubelet `annotationKeyNodeID`: the Node annotation holding a JSON map driver name → CSI node id. */
export const csiNodeIdAnnotation = 'csi.volume.kubernetes.io/nodeid';

/** What the agent publishes about one registered CSI driver. */
export interface CsiNodeDriverInfo {
  /** The driver name. */
  readonly name: string;
  /** NodeGetInfo node id. */
  readonly nodeId: string;
  /** NodeGetInfo max volumes per node; 0 = unlimited (no `allocatable`). */
  readonly maxVolumesPerNode: number;
  /** NodeGetInfo topology segments: the keys become CSINode topology keys, the pairs Node labels. */
  readonly topology?: Readonly<Record<string, string>>;
}

/**
 * Publishes registered CSI drivers to the API server (kubelet `nodeinfomanager`):
 * the Node `csi.volume.kubernetes.io/nodeid` annotation, topology labels and the
 * storage.k8s.io/v1 CSINode object. In standalone mode there is none.
 */
export interface CsiNodeInfoWriter {
  /** Records a registered driver; rejects when the API server cannot be updated. */
  installDriver(driver: CsiNodeDriverInfo): Promise<void>;
  /** Removes a driver's entries (annotation key and CSINode driver); topology labels stay, as in kubelet. */
  uninstallDriver(driverName: string): Promise<void>;
}

/** Options of {@link KubeCsiNodeInfoWriter}. */
export interface KubeCsiNodeInfoWriterOptions {
  /** The API clients (only `core` and `storage` are used). */
  api: Pick<KubeApi, 'core' | 'storage'>;
  /** This node's name: the Node and CSINode object name. */
  nodeName: string;
  /** Clock for the conflict back-off. */
  clock?: Clock;
  /** Randomness for the conflict back-off jitter. */
  random?: Random;
  /** Logger; default silent. */
  logger?: Logger;
}

/**
 * Kubelet `updateBackoff`: a conflicting write is retried up to 4 times, waiting
 * 10 ms × 5^n with 10 % jitter.
 */
const conflictRetry = { steps: 4, initialMs: 10, factor: 5, jitter: 0.1 };

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function parseNodeIds(value: string | undefined): Record<string, string> {
  if (!value) return {};
  try {
    const parsed: unknown = JSON.parse(value);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') out[k] = v;
      return out;
    }
  } catch {
    // a corrupt annotation is rewritten from scratch, as kubelet does
  }
  return {};
}

/**
 * {@link CsiNodeInfoWriter} over `KubeApi`: reads the Node, merge-patches the
 * `csi.volume.kubernetes.io/nodeid` annotation (and topology labels) with the read
 * resourceVersion, and creates or replaces the CSINode named after the node (owned by
 * the Node). Conflicts are retried like kubelet's `RetryOnConflict`.
 */
export class KubeCsiNodeInfoWriter implements CsiNodeInfoWriter {
  private readonly api: Pick<KubeApi, 'core' | 'storage'>;
  private readonly nodeName: string;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly logger: Logger;

  constructor(options: KubeCsiNodeInfoWriterOptions) {
    this.api = options.api;
    this.nodeName = options.nodeName;
    this.clock = options.clock ?? new RealClock();
    this.random = options.random ?? mathRandom;
    this.logger = (options.logger ?? noopLogger).child({ component: 'csi-nodeinfo' });
  }

  /** {@inheritDoc CsiNodeInfoWriter.installDriver} */
  async installDriver(driver: CsiNodeDriverInfo): Promise<void> {
    const node = await this.onConflictRetry(() =>
      this.patchNode((ids) => ({ ...ids, [driver.name]: driver.nodeId }), driver.topology ?? {}),
    );
    await this.onConflictRetry(() => this.updateCsiNode(node, driver.name, driver));
    this.logger.info('Published CSI driver on the node', {
      driver: driver.name,
      nodeId: driver.nodeId,
    });
  }

  /** {@inheritDoc CsiNodeInfoWriter.uninstallDriver} */
  async uninstallDriver(driverName: string): Promise<void> {
    const node = await this.onConflictRetry(() =>
      this.patchNode((ids) => {
        const next = { ...ids };
        delete next[driverName];
        return next;
      }, {}),
    );
    await this.onConflictRetry(() => this.updateCsiNode(node, driverName, undefined));
  }

  private async patchNode(
    update: (ids: Record<string, string>) => Record<string, string>,
    labels: Readonly<Record<string, string>>,
  ): Promise<V1Node> {
    const node = await this.api.core.readNode({ name: this.nodeName });
    const annotations = node.metadata?.annotations ?? {};
    const current = parseNodeIds(annotations[csiNodeIdAnnotation]);
    const next = update(current);
    const nextText = Object.keys(next).length ? JSON.stringify(sortKeys(next)) : null;
    const currentText = annotations[csiNodeIdAnnotation] ?? null;
    const labelPatch: Record<string, string> = {};
    for (const [k, v] of Object.entries(labels)) {
      if (node.metadata?.labels?.[k] !== v) labelPatch[k] = v;
    }
    if (nextText === currentText && Object.keys(labelPatch).length === 0) return node;
    return this.api.core.patchNode(
      {
        name: this.nodeName,
        body: {
          metadata: {
            resourceVersion: node.metadata?.resourceVersion,
            ...(nextText === currentText
              ? {}
              : { annotations: { [csiNodeIdAnnotation]: nextText } }),
            ...(Object.keys(labelPatch).length ? { labels: labelPatch } : {}),
          },
        },
      },
      mergePatch,
    );
  }

  private async updateCsiNode(
    node: V1Node,
    driverName: string,
    driver: CsiNodeDriverInfo | undefined,
  ): Promise<void> {
    let existing: V1CSINode | undefined;
    try {
      existing = await this.api.storage.readCSINode({ name: this.nodeName });
    } catch (err) {
      if (apiFailureOf(err).code !== 404) throw err;
    }
    const entry: V1CSINodeDriver | undefined = driver && {
      name: driver.name,
      nodeID: driver.nodeId,
      topologyKeys: Object.keys(driver.topology ?? {}).sort(),
      ...(driver.maxVolumesPerNode > 0 ? { allocatable: { count: driver.maxVolumesPerNode } } : {}),
    };
    if (!existing) {
      if (!entry) return;
      await this.api.storage.createCSINode({
        body: {
          apiVersion: 'storage.k8s.io/v1',
          kind: 'CSINode',
          metadata: {
            name: this.nodeName,
            ...(node.metadata?.uid
              ? {
                  ownerReferences: [
                    { apiVersion: 'v1', kind: 'Node', name: this.nodeName, uid: node.metadata.uid },
                  ],
                }
              : {}),
          },
          spec: { drivers: [entry] },
        },
      });
      return;
    }
    const others = (existing.spec?.drivers ?? []).filter((d) => d.name !== driverName);
    const drivers = entry ? [...others, entry] : others;
    if (!entry && others.length === (existing.spec?.drivers ?? []).length) return;
    await this.api.storage.replaceCSINode({
      name: this.nodeName,
      body: { ...existing, spec: { ...existing.spec, drivers } },
    });
  }

  private async onConflictRetry<T>(fn: () => Promise<T>): Promise<T> {
    let wait = conflictRetry.initialMs;
    for (let step = 1; ; step++) {
      try {
        return await fn();
      } catch (err) {
        const code = apiFailureOf(err).code;
        // 409: a stale resourceVersion, or a CSINode created meanwhile: read again and retry.
        if (code !== 409 || step >= conflictRetry.steps) throw err;
        await this.clock.sleep(jitter(wait, conflictRetry.jitter, this.random));
        wait *= conflictRetry.factor;
      }
    }
  }
}

function sortKeys(map: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(map).sort()) out[k] = map[k] ?? '';
  return out;
}

/** Creates a {@link KubeCsiNodeInfoWriter}. */
export function createKubeCsiNodeInfoWriter(
  options: KubeCsiNodeInfoWriterOptions,
): KubeCsiNodeInfoWriter {
  return new KubeCsiNodeInfoWriter(options);
}
