/**
 * The kubelet's iptables utility chains (`makeIPTablesUtilChains`, CIS 4.2.6), as
 * Kubernetes 1.33 makes them (`initNetworkUtil` / `syncIPTablesRules` in
 * pkg/kubelet/kubelet_network_linux.go, `Monitor` in pkg/util/iptables):
 *
 * - for each family whose binary works (`iptables`, `ip6tables`): the
 *   `KUBE-IPTABLES-HINT` chain in the mangle table (tells other components whether
 *   the node uses iptables-legacy or iptables-nft);
 * - IPv4 only: the `KUBE-FIREWALL` chain in the filter table, jumped to from the top
 *   of INPUT and OUTPUT, with the rule that drops traffic to 127.0.0.0/8 that does
 *   not come from 127.0.0.0/8 and is not part of a known connection
 *   (https://issue.k8s.io/90259);
 * - the `KUBE-KUBELET-CANARY` chains in mangle, nat and filter, checked every minute:
 *   when the canary is gone (someone flushed the tables) everything is re-created.
 *
 * Every step checks first (`-S` for a chain, `-C` for a rule), so running it again
 * changes nothing. A missing or failing iptables is logged as a warning and the agent
 * goes on, as the kubelet does.
 */
import { spawn } from 'node:child_process';
import type { Clock, Logger, Timer } from '@nodeagent/core';

/** Outcome of one iptables invocation. */
export interface IptablesResult {
  /** Exit code; -1 when the binary could not be started (e.g. not installed). */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `iptables`/`ip6tables` (kubelet `utilexec` behind `utiliptables.Interface`). */
export interface IptablesRunner {
  /**
   * Runs `binary` with `args` and resolves with its exit code and output; never
   * rejects (a binary that cannot be started resolves with code -1).
   */
  run(binary: IptablesBinary, args: readonly string[]): Promise<IptablesResult>;
}

/** The two binaries, one per IP family. */
export type IptablesBinary = 'iptables' | 'ip6tables';

/** Options of {@link createExecIptablesRunner}. */
export interface ExecIptablesRunnerOptions {
  /**
   * Command words put before the binary, e.g. `['ip', 'netns', 'exec', 'ns1']` to
   * run inside a network namespace. Default none.
   */
  readonly prefix?: readonly string[];
  /**
   * Seconds to wait for the xtables lock (`-w <s>`), as the kubelet passes `-w 5`.
   * Default 5.
   */
  readonly lockWaitSeconds?: number;
}

/**
 * The real {@link IptablesRunner}: spawns the binary (without a shell) with
 * `-w <lockWaitSeconds>` first, so concurrent iptables users wait for the xtables lock.
 */
export function createExecIptablesRunner(options: ExecIptablesRunnerOptions = {}): IptablesRunner {
  const prefix = options.prefix ?? [];
  const wait = String(options.lockWaitSeconds ?? 5);
  return {
    run(binary, args) {
      const argv = [...prefix, binary, '-w', wait, ...args];
      const [command, ...rest] = argv as [string, ...string[]];
      return new Promise<IptablesResult>((resolve) => {
        let stdout = '';
        let stderr = '';
        let done = false;
        const finish = (r: IptablesResult): void => {
          if (done) return;
          done = true;
          resolve(r);
        };
        const child = spawn(command, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
        child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        child.on('error', (err) => finish({ code: -1, stdout, stderr: stderr + err.message }));
        child.on('close', (code) => finish({ code: code ?? -1, stdout, stderr }));
      });
    },
  };
}

/** The hint chain (mangle table), kubelet `KubeIPTablesHintChain`. */
export const kubeIptablesHintChain = 'KUBE-IPTABLES-HINT';
/** The firewall chain (filter table, IPv4), kubelet `KubeFirewallChain`. */
export const kubeFirewallChain = 'KUBE-FIREWALL';
/** The canary chain the monitor watches, as the kubelet names it. */
export const kubeletCanaryChain = 'KUBE-KUBELET-CANARY';
/** Tables the canary is made in; the first is the one polled. */
export const canaryTables: readonly string[] = Object.freeze(['mangle', 'nat', 'filter']);
/**
 * The rule in KUBE-FIREWALL (kubelet's exact match): drop packets to 127.0.0.0/8 that
 * do not come from 127.0.0.0/8 and are not RELATED, ESTABLISHED or DNAT'ed.
 */
export const localnetDropRule: readonly string[] = Object.freeze([
  '-m',
  'comment',
  '--comment',
  'block incoming localnet connections',
  '--dst',
  '127.0.0.0/8',
  '!',
  '--src',
  '127.0.0.0/8',
  '-m',
  'conntrack',
  '!',
  '--ctstate',
  'RELATED,ESTABLISHED,DNAT',
  '-j',
  'DROP',
]);

/** How often the canary is checked, ms (kubelet: 1 minute). */
export const iptablesMonitorIntervalMs = 60_000;
/** Poll period while waiting for the other canaries to go after a flush, ms (kubelet 100 ms). */
export const iptablesFlushPollMs = 100;
/** Longest wait for the other canaries to go after a flush, ms (kubelet 5 s). */
export const iptablesFlushTimeoutMs = 5_000;

/** Options of {@link IptablesUtilChains}. */
export interface IptablesUtilChainsOptions {
  readonly runner: IptablesRunner;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Binaries to try. Default both, `iptables` then `ip6tables`. */
  readonly binaries?: readonly IptablesBinary[];
  /** Canary check period, ms. Default {@link iptablesMonitorIntervalMs}. */
  readonly monitorIntervalMs?: number;
}

class IptablesError extends Error {}

/** One family's client: the checks-before-changes of kubelet `utiliptables.Interface`. */
class FamilyIptables {
  constructor(
    readonly binary: IptablesBinary,
    private readonly runner: IptablesRunner,
  ) {}

  get ipv6(): boolean {
    return this.binary === 'ip6tables';
  }

  private async run(args: readonly string[]): Promise<IptablesResult> {
    return this.runner.run(this.binary, args);
  }

  private fail(what: string, r: IptablesResult): never {
    throw new IptablesError(`${this.binary} ${what}: exit ${r.code}: ${r.stderr.trim()}`);
  }

  /** Whether the binary works: `-t nat -S POSTROUTING` succeeds (kubelet `Present`). */
  async present(): Promise<boolean> {
    return (await this.run(['-t', 'nat', '-S', 'POSTROUTING'])).code === 0;
  }

  /** true/false, or throws when iptables fails for another reason than a missing chain. */
  async chainExists(table: string, chain: string): Promise<boolean> {
    const r = await this.run(['-t', table, '-S', chain]);
    if (r.code === 0) return true;
    if (r.code === 1) return false;
    return this.fail(`-t ${table} -S ${chain}`, r);
  }

  async ensureChain(table: string, chain: string): Promise<void> {
    if (await this.chainExists(table, chain)) return;
    const r = await this.run(['-t', table, '-N', chain]);
    // Lost a race with another writer: fine if it is there now.
    if (r.code !== 0 && !(await this.chainExists(table, chain))) {
      this.fail(`-t ${table} -N ${chain}`, r);
    }
  }

  async deleteChain(table: string, chain: string): Promise<void> {
    if (!(await this.chainExists(table, chain))) return;
    const r = await this.run(['-t', table, '-X', chain]);
    if (r.code !== 0) this.fail(`-t ${table} -X ${chain}`, r);
  }

  /** Adds the rule unless `-C` finds it: `-I` (prepend) or `-A` (append). */
  async ensureRule(
    position: 'prepend' | 'append',
    table: string,
    chain: string,
    rule: readonly string[],
  ): Promise<void> {
    const check = await this.run(['-t', table, '-C', chain, ...rule]);
    if (check.code === 0) return;
    if (check.code !== 1) this.fail(`-t ${table} -C ${chain}`, check);
    const r = await this.run(['-t', table, position === 'prepend' ? '-I' : '-A', chain, ...rule]);
    if (r.code !== 0) this.fail(`-t ${table} ${position === 'prepend' ? '-I' : '-A'} ${chain}`, r);
  }
}

/**
 * Creates and keeps the kubelet's iptables utility chains (see the module comment).
 * {@link start} never fails: problems are logged as warnings. {@link stop} cancels
 * the canary monitors and removes the canary chains, as the kubelet's `Monitor`
 * does when stopped; the utility chains themselves stay.
 */
export class IptablesUtilChains {
  private readonly binaries: readonly IptablesBinary[];
  private readonly intervalMs: number;
  private readonly monitored: FamilyIptables[] = [];
  private readonly timers = new Set<Timer>();
  private inFlight: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: IptablesUtilChainsOptions) {
    this.binaries = options.binaries ?? ['iptables', 'ip6tables'];
    this.intervalMs = options.monitorIntervalMs ?? iptablesMonitorIntervalMs;
  }

  /**
   * For each family whose binary works: makes the chains and, when that succeeded,
   * starts its canary monitor (the first canary set-up runs before this resolves).
   */
  async start(): Promise<void> {
    this.stopped = false;
    const { logger } = this.options;
    const families: FamilyIptables[] = [];
    for (const binary of this.binaries) {
      const ipt = new FamilyIptables(binary, this.options.runner);
      if (await ipt.present()) families.push(ipt);
    }
    if (families.length === 0) {
      logger.warn('No iptables support on this system; not creating the KUBE-IPTABLES-HINT chain', {
        component: 'iptables-util-chains',
        binaries: this.binaries,
      });
      return;
    }
    for (const ipt of families) {
      if (await this.sync(ipt)) {
        logger.info('Initialized iptables rules.', {
          component: 'iptables-util-chains',
          protocol: ipt.ipv6 ? 'IPv6' : 'IPv4',
        });
        this.monitored.push(ipt);
        await this.track(this.ensureCanaries(ipt));
      } else {
        logger.warn('Failed to initialize iptables rules; some functionality may be missing.', {
          component: 'iptables-util-chains',
          protocol: ipt.ipv6 ? 'IPv6' : 'IPv4',
        });
      }
    }
  }

  /** Cancels the monitors, waits for a running check, then removes the canary chains. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) t.cancel();
    this.timers.clear();
    await this.inFlight;
    const families = this.monitored.splice(0);
    for (const ipt of families) {
      for (const table of canaryTables) {
        await ipt.deleteChain(table, kubeletCanaryChain).catch((err: unknown) => {
          this.options.logger.warn('Could not remove iptables canary', {
            component: 'iptables-util-chains',
            binary: ipt.binary,
            table,
            error: String(err),
          });
        });
      }
    }
  }

  /** kubelet `syncIPTablesRules`: true when every chain and rule is in place. */
  private async sync(ipt: FamilyIptables): Promise<boolean> {
    const step = async (what: string, fn: () => Promise<void>): Promise<boolean> => {
      try {
        await fn();
        return true;
      } catch (err) {
        this.options.logger.warn(what, {
          component: 'iptables-util-chains',
          binary: ipt.binary,
          error: String(err),
        });
        return false;
      }
    };
    if (
      !(await step('Failed to ensure that iptables hint chain exists', () =>
        ipt.ensureChain('mangle', kubeIptablesHintChain),
      ))
    ) {
      return false;
    }
    if (ipt.ipv6) return true; // IPv6 has no route_localnet hole.
    return (
      (await step('Failed to ensure that filter table KUBE-FIREWALL chain exists', () =>
        ipt.ensureChain('filter', kubeFirewallChain),
      )) &&
      (await step('Failed to ensure that OUTPUT chain jumps to KUBE-FIREWALL', () =>
        ipt.ensureRule('prepend', 'filter', 'OUTPUT', ['-j', kubeFirewallChain]),
      )) &&
      (await step('Failed to ensure that INPUT chain jumps to KUBE-FIREWALL', () =>
        ipt.ensureRule('prepend', 'filter', 'INPUT', ['-j', kubeFirewallChain]),
      )) &&
      (await step(
        'Failed to ensure rule to drop invalid localhost packets in filter table KUBE-FIREWALL chain',
        () => ipt.ensureRule('append', 'filter', kubeFirewallChain, localnetDropRule),
      ))
    );
  }

  /** Runs `work` as the one in-flight step (stop() waits for it). */
  private track(work: Promise<void>): Promise<void> {
    const p = work.catch((err: unknown) => {
      this.options.logger.warn('iptables monitor step failed', {
        component: 'iptables-util-chains',
        error: String(err),
      });
    });
    this.inFlight = this.inFlight.then(() => p);
    return p;
  }

  private schedule(delayMs: number, fn: () => Promise<void>): void {
    if (this.stopped) return;
    const timer = this.options.clock.setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) void this.track(fn());
    }, delayMs);
    this.timers.add(timer);
  }

  /** Monitor phase 1: make the canary in every table; retry each interval until done. */
  private async ensureCanaries(ipt: FamilyIptables): Promise<void> {
    if (this.stopped) return;
    try {
      for (const table of canaryTables) await ipt.ensureChain(table, kubeletCanaryChain);
    } catch (err) {
      this.options.logger.warn('Could not set up iptables canary', {
        component: 'iptables-util-chains',
        binary: ipt.binary,
        chain: kubeletCanaryChain,
        error: String(err),
      });
      this.schedule(this.intervalMs, () => this.ensureCanaries(ipt));
      return;
    }
    this.schedule(this.intervalMs, () => this.checkCanary(ipt));
  }

  /** Monitor phase 2: every interval, is the canary (mangle) still there? */
  private async checkCanary(ipt: FamilyIptables): Promise<void> {
    if (this.stopped) return;
    const [first, ...others] = canaryTables as [string, ...string[]];
    let exists: boolean;
    try {
      exists = await ipt.chainExists(first, kubeletCanaryChain);
    } catch (err) {
      this.options.logger.warn('Could not check for iptables canary', {
        component: 'iptables-util-chains',
        binary: ipt.binary,
        table: first,
        error: String(err),
      });
      exists = true; // a resource error is not a flush: look again next interval
    }
    if (exists) {
      this.schedule(this.intervalMs, () => this.checkCanary(ipt));
      return;
    }
    this.options.logger.info('IPTables canary deleted', {
      component: 'iptables-util-chains',
      binary: ipt.binary,
      table: first,
    });
    await this.waitForOtherCanaries(ipt, others, 0);
  }

  /** After the first canary went: wait (100 ms polls, up to 5 s) for the others, then reload. */
  private async waitForOtherCanaries(
    ipt: FamilyIptables,
    tables: readonly string[],
    waitedMs: number,
  ): Promise<void> {
    if (this.stopped) return;
    let gone = true;
    for (const table of tables) {
      const still = await ipt.chainExists(table, kubeletCanaryChain).catch(() => true);
      if (still) {
        gone = false;
        break;
      }
    }
    if (!gone && waitedMs < iptablesFlushTimeoutMs) {
      this.schedule(iptablesFlushPollMs, () =>
        this.waitForOtherCanaries(ipt, tables, waitedMs + iptablesFlushPollMs),
      );
      return;
    }
    if (!gone) {
      this.options.logger.info('Inconsistent iptables state detected', {
        component: 'iptables-util-chains',
        binary: ipt.binary,
      });
    }
    this.options.logger.info('Reloading after iptables flush', {
      component: 'iptables-util-chains',
      binary: ipt.binary,
    });
    await this.sync(ipt);
    await this.ensureCanaries(ipt);
  }
}

/** Builds an {@link IptablesUtilChains}. */
export function createIptablesUtilChains(options: IptablesUtilChainsOptions): IptablesUtilChains {
  return new IptablesUtilChains(options);
}
