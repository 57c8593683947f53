import type { V1Lease } from '@kubernetes/client-node';
import type { KubeApi } from '@nodeagent/kube-client';
import {
  createToken,
  jitter,
  mathRandom,
  noopLogger,
  type Clock,
  type InjectionToken,
  type Logger,
  type Random,
  type Timer,
} from '@nodeagent/core';
import { apiErrorMessage, formatMicroTime, isConflict, isNotFound, toApiJson } from './node-api.js';
import type { Lease, Node } from './node-types.js';

/** Namespace of node Leases (kubelet `corev1.NamespaceNodeLease`). */
export const nodeLeaseNamespace = 'kube-node-lease';
/** Kubelet `nodeLeaseDurationSeconds` default. */
export const defaultNodeLeaseDurationSeconds = 40;
/** Kubelet `nodeLeaseRenewIntervalFraction`: renew every 25 % of the duration (10 s). */
export const nodeLeaseRenewIntervalFraction = 0.25;
/** component-helpers lease controller `maxUpdateRetries`. */
export const leaseMaxUpdateRetries = 5;
/** component-helpers lease controller `maxBackoff`, in ms. */
export const leaseMaxBackoffMs = 7_000;
/** First back-off step of `backoffEnsureLease` (doubled before the first wait: 200 ms), in ms. */
export const leaseInitialBackoffMs = 100;
/** Jitter of the renew loop (`wait.JitterUntil(…, 0.04, …)`). */
export const leaseRenewJitterFactor = 0.04;

/** Options of {@link NodeLeaseController}. */
export interface NodeLeaseControllerOptions {
  /** The Node's name: the Lease's name and holder identity. */
  nodeName: string;
  api: Pick<KubeApi, 'coordination' | 'core'>;
  /** Kubelet `nodeLeaseDurationSeconds`; default 40. */
  leaseDurationSeconds?: number;
  /** Renew interval in ms; default `leaseDurationSeconds × 0.25` (10 s). */
  renewIntervalMs?: number;
  /**
   * The Node's UID when known (e.g. from the node status manager's `node()`), for
   * the Lease's owner reference (set once it returns a UID). When this option is
   * absent the controller reads the Node itself until it has set the reference.
   */
  nodeUid?: () => string | undefined;
  /** Called after an update failed and was retried (kubelet `onRepeatedHeartbeatFailure`). */
  onRepeatedHeartbeatFailure?: () => void;
  clock: Clock;
  /** Jitter of the renew loop; default `Math.random`. */
  random?: Random;
  logger?: Logger;
}

function cloneJson<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/**
 * Keeps the node's Lease `kube-node-lease/<node>` renewed: the heartbeat the node
 * lifecycle controller watches (component-helpers `apimachinery/lease` controller as
 * the kubelet configures it in `pkg/kubelet/nodelease`).
 *
 * - Every 10 s (4 % jitter, counted from the end of the previous renewal) it updates
 *   `spec.renewTime` (MicroTime) with `holderIdentity` = node and
 *   `leaseDurationSeconds` 40, starting from the Lease it last wrote (no GET).
 * - When that fails it gets or creates the Lease (`backoffEnsureLease`: back-off
 *   200 ms doubling to 7 s until it succeeds) and updates it, up to 5 times; a
 *   conflict gets the Lease fresh. A deleted Lease is created again.
 * - The Lease carries an owner reference to the Node once its UID is known, so it
 *   is garbage-collected with the Node.
 */
export class NodeLeaseController {
  private readonly opts: NodeLeaseControllerOptions;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly logger: Logger;
  private readonly durationSeconds: number;
  private readonly renewIntervalMs: number;
  private latestLease: Lease | undefined;
  private timer: Timer | undefined;
  private inFlight: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private running = false;

  constructor(options: NodeLeaseControllerOptions) {
    this.opts = options;
    this.clock = options.clock;
    this.random = options.random ?? mathRandom;
    this.logger = (options.logger ?? noopLogger).child({ component: 'node-lease' });
    this.durationSeconds = options.leaseDurationSeconds ?? defaultNodeLeaseDurationSeconds;
    this.renewIntervalMs =
      options.renewIntervalMs ?? this.durationSeconds * 1000 * nodeLeaseRenewIntervalFraction;
  }

  /** Starts renewing; the first renewal runs at once. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.schedule(0);
  }

  /** Stops renewing, aborts a back-off wait, and waits for a renewal in progress. */
  async stop(): Promise<void> {
    this.running = false;
    this.abort?.abort(new Error('node lease controller stopped'));
    this.timer?.cancel();
    this.timer = undefined;
    await this.inFlight;
  }

  /** A copy of the Lease as last written; undefined before the first renewal. */
  lease(): Lease | undefined {
    return this.latestLease ? cloneJson(this.latestLease) : undefined;
  }

  /** Resolves when no renewal is in progress. */
  async idle(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  /** One renewal (the lease controller's `sync`). Never rejects. */
  async sync(): Promise<void> {
    const signal = this.abort?.signal ?? new AbortController().signal;
    try {
      if (this.latestLease) {
        // Optimistically update from the last written Lease, without a GET.
        if (await this.retryUpdateLease(this.latestLease, signal)) return;
        this.logger.info('Failed to update lease using latest lease, fallback to ensure lease');
      }
      const ensured = await this.backoffEnsureLease(signal);
      if (ensured === undefined || ensured.created) return;
      if (!(await this.retryUpdateLease(ensured.lease, signal))) {
        this.logger.error('Will retry updating lease', { intervalMs: this.renewIntervalMs });
      }
    } catch (err) {
      if (!signal.aborted) this.logger.error('Lease sync failed', { err: apiErrorMessage(err) });
    }
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      const run = this.sync().finally(() => {
        this.inFlight = undefined;
        this.schedule(jitter(this.renewIntervalMs, leaseRenewJitterFactor, this.random));
      });
      this.inFlight = run;
    }, delayMs);
  }

  /** Gets the Lease, creating it when missing; retries every error with back-off until it succeeds or stops. */
  private async backoffEnsureLease(
    signal: AbortSignal,
  ): Promise<{ lease: Lease; created: boolean } | undefined> {
    let sleep = leaseInitialBackoffMs;
    for (;;) {
      if (signal.aborted) return undefined;
      try {
        return await this.ensureLease();
      } catch (err) {
        sleep = Math.min(2 * sleep, leaseMaxBackoffMs);
        this.logger.error('Failed to ensure lease exists, will retry', {
          err: apiErrorMessage(err),
          intervalMs: sleep,
        });
        try {
          await this.clock.sleep(sleep, signal);
        } catch {
          return undefined;
        }
      }
    }
  }

  private async ensureLease(): Promise<{ lease: Lease; created: boolean }> {
    try {
      const lease = toApiJson<Lease>(
        await this.opts.api.coordination.readNamespacedLease({
          name: this.opts.nodeName,
          namespace: nodeLeaseNamespace,
        }),
      );
      return { lease, created: false };
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const body = await this.newLease(undefined);
    const created = toApiJson<Lease>(
      await this.opts.api.coordination.createNamespacedLease({
        namespace: nodeLeaseNamespace,
        body: body as unknown as V1Lease,
      }),
    );
    this.latestLease = created;
    this.logger.info('Created node lease', { node: this.opts.nodeName });
    return { lease: created, created: true };
  }

  /**
   * Up to 5 updates from `base`; a conflict gets the Lease fresh first. Unlike the
   * upstream controller, a 404 ends the retries at once (the Lease was deleted: the
   * caller recreates it) instead of sending four more updates that cannot succeed.
   */
  private async retryUpdateLease(base: Lease, signal: AbortSignal): Promise<boolean> {
    let current = base;
    for (let i = 0; i < leaseMaxUpdateRetries; i++) {
      if (signal.aborted) return false;
      const body = await this.newLease(current);
      try {
        const updated = await this.opts.api.coordination.replaceNamespacedLease({
          name: this.opts.nodeName,
          namespace: nodeLeaseNamespace,
          body: body as unknown as V1Lease,
        });
        this.latestLease = toApiJson<Lease>(updated);
        return true;
      } catch (err) {
        this.logger.warn('Failed to update lease', { err: apiErrorMessage(err) });
        if (isNotFound(err)) {
          this.latestLease = undefined;
          return false;
        }
        if (isConflict(err)) {
          const fresh = await this.backoffEnsureLease(signal);
          if (fresh === undefined) return false;
          if (fresh.created) return true;
          current = fresh.lease;
          continue;
        }
        if (i > 0) this.opts.onRepeatedHeartbeatFailure?.();
      }
    }
    return false;
  }

  /** The Lease to write: `base` (or a new one) with renewTime now and the Node owner reference (kubelet `setNodeOwnerFunc`). */
  private async newLease(base: Lease | undefined): Promise<Lease> {
    const lease: Lease = base
      ? cloneJson(base)
      : {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.opts.nodeName, namespace: nodeLeaseNamespace },
          spec: {
            holderIdentity: this.opts.nodeName,
            leaseDurationSeconds: this.durationSeconds,
          },
        };
    lease.spec = {
      ...lease.spec,
      holderIdentity: this.opts.nodeName,
      leaseDurationSeconds: this.durationSeconds,
      renewTime: formatMicroTime(this.clock.now()),
    };
    if (!lease.metadata.ownerReferences?.length) {
      const uid = await this.nodeUid();
      if (uid) {
        lease.metadata.ownerReferences = [
          { apiVersion: 'v1', kind: 'Node', name: this.opts.nodeName, uid },
        ];
      }
    }
    return lease;
  }

  private async nodeUid(): Promise<string | undefined> {
    if (this.opts.nodeUid) return this.opts.nodeUid();
    try {
      const node = toApiJson<Node>(await this.opts.api.core.readNode({ name: this.opts.nodeName }));
      return node.metadata.uid;
    } catch (err) {
      if (!isNotFound(err)) {
        this.logger.warn('Failed to get node when trying to set owner ref to the node lease', {
          err: apiErrorMessage(err),
        });
      }
      return undefined;
    }
  }
}

/** The node lease controller, for DI. */
export const NodeLeaseControllerToken: InjectionToken<NodeLeaseController> =
  createToken<NodeLeaseController>('NodeLeaseController');

/** Creates a {@link NodeLeaseController}. */
export function createNodeLeaseController(
  options: NodeLeaseControllerOptions,
): NodeLeaseController {
  return new NodeLeaseController(options);
}
