/**
 * Shared set-up for integration tests that drive a {@link RuntimeManager} against the
 * real containerd of the vitest global setup: a connected CRI client, a PLEG relisted by
 * hand, a private pod root directory, an event recorder that keeps what it is told, and
 * a clean-up that removes every sandbox carrying the suite's label.
 *
 * Test-only: not exported from the package index and excluded from the package build
 * (tsconfig.build.json excludes `src/**\/test-support/**`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RealClock, type k8s } from '@nodeagent/core';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import { createPleg, type Pleg } from '@nodeagent/pleg';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { RuntimeManager, type RuntimeManagerOptions } from '../runtime-manager.js';

/** The real runtime's details, as the vitest global setup provides them. */
export type RealRuntimeEnv = ReturnType<typeof realRuntime>;

/** One event as the recorder of {@link RealRuntimeHarness} keeps it. */
export interface RecordedEvent {
  type: string;
  reason: string;
  message: string;
}

/** What a suite tells {@link RealRuntimeHarness.open}. */
export interface RealRuntimeHarnessOptions {
  /** The suite's own sandbox label; every sandbox with it is removed before and after. */
  suiteLabel: Record<string, string>;
  /** `mkdtemp` prefix of the pod root directory (under the OS temp dir), e.g. `etc-hosts-it-`. */
  rootDirPrefix: string;
}

/** The RuntimeManager options a suite may set on top of the harness's own. */
export type ManagerOverrides = Partial<Omit<RuntimeManagerOptions, 'runtime' | 'images' | 'cache'>>;

/** A CRI client, PLEG and pod root on the real containerd for one test suite. */
export class RealRuntimeHarness {
  /** Events recorded by managers made with {@link RealRuntimeHarness.manager}. */
  readonly events: RecordedEvent[] = [];
  /** A signal that never aborts, for sync calls. */
  readonly signal: AbortSignal = new AbortController().signal;

  private constructor(
    readonly env: RealRuntimeEnv,
    readonly cri: CriClient,
    readonly pleg: Pleg,
    readonly rootDir: string,
    readonly clock: RealClock,
    private readonly suiteLabel: Record<string, string>,
  ) {}

  /**
   * Connects to the runtime, removes sandboxes left by an earlier run of the suite,
   * makes the pod root directory and a PLEG (relist period 1 s, never started).
   */
  static async open(options: RealRuntimeHarnessOptions): Promise<RealRuntimeHarness> {
    const env = realRuntime();
    const cri = createCriClient({ endpoint: env.criEndpoint });
    await cri.connect();
    try {
      await removeSandboxes(cri, options.suiteLabel);
      const rootDir = await mkdtemp(join(tmpdir(), options.rootDirPrefix));
      const clock = new RealClock();
      const pleg = createPleg({ runtime: cri, clock, relistPeriodMs: 1_000 });
      return new RealRuntimeHarness(env, cri, pleg, rootDir, clock, options.suiteLabel);
    } catch (err) {
      cri.close();
      throw err;
    }
  }

  /**
   * A RuntimeManager over this harness's CRI client and PLEG cache, node `it-node` on
   * 127.0.0.1, 8 GiB memory, recording into {@link RealRuntimeHarness.events};
   * `overrides` replaces or adds options.
   */
  manager(overrides: ManagerOverrides = {}): RuntimeManager {
    return new RuntimeManager({
      runtime: this.cri,
      images: this.cri,
      cache: this.pleg.cache,
      clock: this.clock,
      recorder: {
        event: (_ref, type, reason, message) => this.events.push({ type, reason, message }),
      },
      nodeName: 'it-node',
      hostIp: '127.0.0.1',
      rootDir: this.rootDir,
      podLogsDir: this.env.podLogDir,
      runtimeName: 'containerd',
      memoryCapacityBytes: 8 * 1024 ** 3,
      ...overrides,
    });
  }

  /** Relists the PLEG, then syncs `pod` with `manager` (the kubelet's SyncPod). */
  async sync(manager: RuntimeManager, pod: k8s.Pod): Promise<void> {
    await this.pleg.relist();
    await manager.syncPod(pod, 'sync', { signal: this.signal, statusNewerThanMs: 0 });
  }

  /** Tears `pod` down with `manager` as on deletion (SyncTerminatingPod, then SyncTerminatedPod). */
  async terminate(manager: RuntimeManager, pod: k8s.Pod): Promise<void> {
    await manager.syncTerminatingPod(pod, {}, { signal: this.signal, statusNewerThanMs: 0 });
    await manager.syncTerminatedPod(
      pod,
      { reason: 'Deleted' },
      { signal: this.signal, statusNewerThanMs: 0 },
    );
  }

  /** Stops and removes every sandbox with the suite's label. */
  removeOurSandboxes(): Promise<void> {
    return removeSandboxes(this.cri, this.suiteLabel);
  }

  /**
   * Removes the suite's sandboxes, closes the CRI client, stops the PLEG, runs
   * `beforeRemoveRootDir` (e.g. to unmount tmpfs volumes) and removes the pod root.
   * Every step runs even when an earlier one fails; the first failure is rethrown.
   */
  async close(beforeRemoveRootDir?: (rootDir: string) => Promise<void>): Promise<void> {
    let failure: Error | undefined;
    const step = async (fn: () => unknown): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        failure ??= err instanceof Error ? err : new Error(String(err));
      }
    };
    await step(() => this.removeOurSandboxes());
    this.cri.close();
    await step(() => this.pleg.stop());
    if (beforeRemoveRootDir) await step(() => beforeRemoveRootDir(this.rootDir));
    await step(() => rm(this.rootDir, { recursive: true, force: true }));
    if (failure !== undefined) throw failure;
  }
}

async function removeSandboxes(cri: CriClient, label: Record<string, string>): Promise<void> {
  const { items } = await cri.listPodSandbox({ filter: { labelSelector: label } });
  for (const sb of items) {
    await cri.stopPodSandbox({ podSandboxId: sb.id });
    await cri.removePodSandbox({ podSandboxId: sb.id });
  }
}
