import type { PodSource, PodUpdate } from '@nodeagent/core';

/** Records a source's updates and waits for one matching a predicate, with a real-time timeout. */
export class UpdateRecorder {
  readonly updates: PodUpdate[] = [];
  private waiters: { match: (u: PodUpdate) => boolean; resolve: (u: PodUpdate) => void }[] = [];

  /**
   * @param tick run every 20 ms of real time while waiting, e.g. to move a FakeClock
   *   so that clock-driven follow-up reads happen
   */
  constructor(
    source: PodSource,
    private readonly tick?: () => Promise<void>,
  ) {
    source.subscribe((update) => {
      this.updates.push(update);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(update)) return true;
        w.resolve(update);
        return false;
      });
    });
  }

  get last(): PodUpdate | undefined {
    return this.updates.at(-1);
  }

  /** Names of the pods of the last update. */
  lastNames(): string[] {
    return (this.last?.pods ?? []).map((p) => p.metadata.name ?? '');
  }

  /**
   * Resolves with the latest update when it matches, else with the next matching
   * one; rejects after `timeoutMs` of real time (the bound on a chokidar event).
   */
  waitFor(match: (u: PodUpdate) => boolean, timeoutMs = 10_000): Promise<PodUpdate> {
    const last = this.last;
    if (last !== undefined && match(last)) return Promise.resolve(last);
    return new Promise<PodUpdate>((resolve, reject) => {
      const ticker =
        this.tick === undefined
          ? undefined
          : setInterval(() => {
              void this.tick?.();
            }, 20);
      const timer = setTimeout(() => {
        clearInterval(ticker);
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(
          new Error(
            `no matching pod update within ${timeoutMs} ms; last: ${JSON.stringify(this.lastNames())}`,
          ),
        );
      }, timeoutMs);
      const done = (u: PodUpdate): void => {
        clearTimeout(timer);
        clearInterval(ticker);
        resolve(u);
      };
      this.waiters.push({ match, resolve: done });
    });
  }

  /** Waits until the last update has exactly these pod names (in order). */
  waitForNames(names: string[], timeoutMs?: number): Promise<PodUpdate> {
    return this.waitFor(
      (u) => JSON.stringify(u.pods.map((p) => p.metadata.name)) === JSON.stringify(names),
      timeoutMs,
    );
  }
}

/** A pod manifest in YAML. */
export function podManifest(name: string, image = 'busybox:1.36', extra = ''): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  containers:
    - name: main
      image: ${image}
${extra}`;
}
