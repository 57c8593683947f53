/**
 * The kernel tunables the kubelet depends on, checked (or set) at start as the
 * kubelet's container manager does (`setupKernelTunables` in
 * pkg/kubelet/cm/container_manager_linux.go, values from
 * component-helpers/node/util/sysctl): with `protectKernelDefaults` a value that
 * differs fails the start and names each one; without it the agent writes the
 * kubelet's values and logs each change.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FailedPreconditionError, type Logger } from '@nodeagent/core';

/** One kernel tunable and the value the kubelet wants. */
export interface KernelTunable {
  /** sysctl name in dotted form, e.g. `vm.overcommit_memory`. */
  readonly name: string;
  /** The kubelet's value. */
  readonly value: number;
}

/**
 * The kubelet's kernel tunables (Kubernetes 1.33), in the kubelet's order:
 * `vm.overcommit_memory=1` (always overcommit; memory is bounded by cgroups),
 * `vm.panic_on_oom=0` (run the OOM killer instead of panicking),
 * `kernel.panic=10` (reboot 10 s after a panic), `kernel.panic_on_oops=1`,
 * `kernel.keys.root_maxkeys=1000000` and `kernel.keys.root_maxbytes=25000000`
 * (room for one session keyring per container).
 */
export const kubeletKernelTunables: readonly KernelTunable[] = Object.freeze([
  { name: 'vm.overcommit_memory', value: 1 },
  { name: 'vm.panic_on_oom', value: 0 },
  { name: 'kernel.panic', value: 10 },
  { name: 'kernel.panic_on_oops', value: 1 },
  { name: 'kernel.keys.root_maxkeys', value: 1_000_000 },
  { name: 'kernel.keys.root_maxbytes', value: 25_000_000 },
]);

/** Reads and writes integer sysctls (kubelet `utilsysctl.Interface`). */
export interface Sysctl {
  /** The current value of `name` (dotted form). Rejects when it cannot be read or is not an integer. */
  get(name: string): Promise<number>;
  /** Sets `name` (dotted form) to `value`. */
  set(name: string, value: number): Promise<void>;
}

/**
 * The sysctls under `root` (default `/proc/sys`): `vm.overcommit_memory` is the file
 * `<root>/vm/overcommit_memory`, as the kubelet's `procSysctl` maps it.
 */
export function createProcSysctl(root = '/proc/sys'): Sysctl {
  const pathOf = (name: string): string => join(root, ...name.split('.'));
  return {
    async get(name) {
      const text = (await readFile(pathOf(name), 'utf8')).trim();
      if (!/^-?\d+$/.test(text))
        throw new Error(`sysctl ${name}: not an integer: ${JSON.stringify(text)}`);
      return Number.parseInt(text, 10);
    },
    async set(name, value) {
      await writeFile(pathOf(name), String(value), { mode: 0o640 });
    },
  };
}

/**
 * What to do with a tunable that differs: `error` (kubelet `KernelTunableError`,
 * used with `protectKernelDefaults`) or `modify` (kubelet `KernelTunableModify`, the
 * default).
 */
export type KernelTunableBehavior = 'error' | 'modify';

/** A tunable the agent changed. */
export interface KernelTunableChange {
  name: string;
  from: number;
  to: number;
}

/** Options of {@link setupKernelTunables}. */
export interface SetupKernelTunablesOptions {
  sysctl: Sysctl;
  behavior: KernelTunableBehavior;
  logger: Logger;
  /** Default {@link kubeletKernelTunables}. */
  tunables?: readonly KernelTunable[];
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Checks every tunable; in `modify` mode writes the kubelet's value where it differs
 * and logs the change. Like the kubelet, every problem is collected before failing:
 * a tunable that cannot be read, one that differs (`error` mode), or one that cannot
 * be written (`modify` mode).
 *
 * @returns the changes made (`modify` mode).
 * @throws FailedPreconditionError listing each problem, one per line.
 */
export async function setupKernelTunables(
  options: SetupKernelTunablesOptions,
): Promise<KernelTunableChange[]> {
  const { sysctl, behavior, logger } = options;
  const problems: string[] = [];
  const changes: KernelTunableChange[] = [];
  for (const { name, value } of options.tunables ?? kubeletKernelTunables) {
    let actual: number;
    try {
      actual = await sysctl.get(name);
    } catch (err) {
      problems.push(`${name}: cannot be read: ${describe(err)}`);
      continue;
    }
    if (actual === value) continue;
    if (behavior === 'error') {
      problems.push(`${name}: expected ${value}, actual ${actual}`);
      continue;
    }
    try {
      await sysctl.set(name, value);
      changes.push({ name, from: actual, to: value });
      logger.info('Updated kernel tunable', {
        component: 'kernel-tunables',
        flag: name,
        from: actual,
        to: value,
      });
    } catch (err) {
      problems.push(`${name}: cannot be set to ${value} (it is ${actual}): ${describe(err)}`);
    }
  }
  if (problems.length > 0) {
    const why =
      behavior === 'error'
        ? 'protectKernelDefaults is true and kernel tunables differ from what the kubelet needs; set them (e.g. in /etc/sysctl.d/90-kubelet.conf) or set protectKernelDefaults to false to let nodeagent set them'
        : 'cannot set the kernel tunables the kubelet needs';
    throw new FailedPreconditionError(`${why}:\n  ${problems.join('\n  ')}`, {
      detail: problems.join('\n'),
    });
  }
  return changes;
}

/**
 * Environment variable naming a directory that stands in for `/proc/sys` (same
 * layout). For tests only: the agent then reads and writes kernel tunables there and
 * never changes the host's.
 */
export const sysctlRootEnv = 'NODEAGENT_SYSCTL_ROOT';

/** The sysctl the agent uses: `/proc/sys`, or the stand-in named by {@link sysctlRootEnv}. */
export function defaultSysctl(env: NodeJS.ProcessEnv = process.env): Sysctl {
  const root = env[sysctlRootEnv];
  return createProcSysctl(root !== undefined && root !== '' ? root : '/proc/sys');
}

/**
 * Fills `root` with the current values of the tunables the agent checks, in the
 * `/proc/sys` layout: a stand-in for tests ({@link sysctlRootEnv}).
 */
export async function writeSysctlStandIn(root: string, from = '/proc/sys'): Promise<void> {
  const source = createProcSysctl(from);
  for (const { name } of kubeletKernelTunables) {
    const path = join(root, ...name.split('.'));
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, `${await source.get(name)}\n`);
  }
}
