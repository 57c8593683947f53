import { noopLogger, type Logger } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { describe, expect, it } from 'vitest';
import {
  IptablesUtilChains,
  iptablesMonitorIntervalMs,
  localnetDropRule,
  type IptablesBinary,
  type IptablesResult,
  type IptablesRunner,
} from './iptables-util-chains.js';

const builtin: Record<string, string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
};

/** An in-memory iptables per binary: records every command, never touches the host. */
class FakeIptables implements IptablesRunner {
  readonly commands: string[] = [];
  /** binary → table → chain → rules (each rule as its joined args). */
  readonly state = new Map<IptablesBinary, Map<string, Map<string, string[]>>>();
  missing = new Set<IptablesBinary>();
  /** Makes any command whose text contains the key fail with that exit code. */
  failing = new Map<string, number>();

  tables(binary: IptablesBinary): Map<string, Map<string, string[]>> {
    let t = this.state.get(binary);
    if (!t) {
      t = new Map(
        Object.entries(builtin).map(([table, chains]) => [
          table,
          new Map(chains.map((c) => [c, [] as string[]])),
        ]),
      );
      this.state.set(binary, t);
    }
    return t;
  }

  chain(binary: IptablesBinary, table: string, chain: string): string[] | undefined {
    return this.tables(binary).get(table)?.get(chain);
  }

  run(binary: IptablesBinary, args: readonly string[]): Promise<IptablesResult> {
    const text = `${binary} ${args.join(' ')}`;
    this.commands.push(text);
    const ok = (stdout = ''): Promise<IptablesResult> =>
      Promise.resolve({ code: 0, stdout, stderr: '' });
    const err = (code: number, stderr: string): Promise<IptablesResult> =>
      Promise.resolve({ code, stdout: '', stderr });
    if (this.missing.has(binary)) return err(-1, `spawn ${binary} ENOENT`);
    for (const [key, code] of this.failing) if (text.includes(key)) return err(code, 'injected');
    const [t, table, op, chain, ...rule] = args;
    if (t !== '-t' || table === undefined || op === undefined || chain === undefined) {
      return err(2, 'bad args');
    }
    const chains = this.tables(binary).get(table);
    if (!chains) return err(3, 'no table');
    const rules = chains.get(chain);
    const r = rule.join(' ');
    switch (op) {
      case '-S':
        return rules ? ok(`-N ${chain}\n`) : err(1, 'No chain/target/match by that name.');
      case '-N':
        if (rules) return err(1, 'Chain already exists.');
        chains.set(chain, []);
        return ok();
      case '-X':
        if (!rules) return err(1, 'No chain');
        chains.delete(chain);
        return ok();
      case '-C':
        if (!rules) return err(2, `Chain '${chain}' does not exist`);
        return rules.includes(r) ? ok() : err(1, 'Bad rule');
      case '-I':
      case '-A':
        if (!rules) return err(1, 'No chain');
        if (op === '-I') rules.unshift(r);
        else rules.push(r);
        return ok();
      default:
        return err(2, `unsupported ${op}`);
    }
  }

  /** Simulates `iptables -F; iptables -X` style flush of every table of one binary. */
  flush(binary: IptablesBinary): void {
    this.state.delete(binary);
  }
}

function recordingLogger(): Logger & { warnings: string[]; infos: string[] } {
  const warnings: string[] = [];
  const infos: string[] = [];
  const logger = {
    ...noopLogger,
    warnings,
    infos,
    warn: (m: string) => void warnings.push(m),
    info: (m: string) => void infos.push(m),
    child: () => logger,
  };
  return logger;
}

const dropRule = localnetDropRule.join(' ');

function setup() {
  const runner = new FakeIptables();
  const clock = new FakeClock();
  const logger = recordingLogger();
  const chains = new IptablesUtilChains({ runner, clock, logger });
  return { runner, clock, logger, chains };
}

describe('IptablesUtilChains', () => {
  it('creates the kubelet chains for IPv4 and the hint chain for IPv6, plus canaries', async () => {
    const { runner, chains, logger } = setup();
    await chains.start();
    expect(runner.chain('iptables', 'mangle', 'KUBE-IPTABLES-HINT')).toEqual([]);
    expect(runner.chain('iptables', 'filter', 'KUBE-FIREWALL')).toEqual([dropRule]);
    expect(dropRule).toBe(
      '-m comment --comment block incoming localnet connections --dst 127.0.0.0/8 ! --src 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
    );
    expect(runner.chain('iptables', 'filter', 'INPUT')).toEqual(['-j KUBE-FIREWALL']);
    expect(runner.chain('iptables', 'filter', 'OUTPUT')).toEqual(['-j KUBE-FIREWALL']);
    expect(runner.chain('ip6tables', 'mangle', 'KUBE-IPTABLES-HINT')).toEqual([]);
    expect(runner.chain('ip6tables', 'filter', 'KUBE-FIREWALL')).toBeUndefined();
    for (const b of ['iptables', 'ip6tables'] as const) {
      for (const table of ['mangle', 'nat', 'filter']) {
        expect(runner.chain(b, table, 'KUBE-KUBELET-CANARY')).toEqual([]);
      }
    }
    // Jumps are prepended (-I), the drop rule appended (-A), each after a -C check.
    expect(runner.commands).toContain('iptables -t filter -C INPUT -j KUBE-FIREWALL');
    expect(runner.commands).toContain('iptables -t filter -I INPUT -j KUBE-FIREWALL');
    expect(runner.commands).toContain(`iptables -t filter -A KUBE-FIREWALL ${dropRule}`);
    expect(logger.warnings).toEqual([]);
    await chains.stop();
  });

  it('is idempotent: a second start on set-up tables only checks', async () => {
    const { runner, clock, logger } = setup();
    const first = new IptablesUtilChains({ runner, clock, logger });
    await first.start();
    // Leave the canaries in place, as a crashed agent would.
    const second = new IptablesUtilChains({ runner, clock, logger });
    runner.commands.length = 0;
    await second.start();
    expect(runner.commands.filter((c) => / -[NIA] /.test(c))).toEqual([]);
    expect(runner.chain('iptables', 'filter', 'INPUT')).toEqual(['-j KUBE-FIREWALL']);
    expect(runner.chain('iptables', 'filter', 'KUBE-FIREWALL')).toEqual([dropRule]);
    await first.stop();
    await second.stop();
  });

  it('re-creates everything when the canary is flushed, checking every minute on the clock', async () => {
    const { runner, clock, chains, logger } = setup();
    await chains.start();
    expect(clock.pendingTimers()).toBe(2); // one monitor per family
    runner.commands.length = 0;
    await clock.advance(iptablesMonitorIntervalMs);
    // Canaries present: only -S checks of the mangle canary.
    expect(runner.commands).toEqual([
      'iptables -t mangle -S KUBE-KUBELET-CANARY',
      'ip6tables -t mangle -S KUBE-KUBELET-CANARY',
    ]);
    runner.flush('iptables');
    expect(runner.chain('iptables', 'filter', 'KUBE-FIREWALL')).toBeUndefined();
    await clock.advance(iptablesMonitorIntervalMs - 1);
    expect(runner.chain('iptables', 'filter', 'KUBE-FIREWALL')).toBeUndefined();
    await clock.advance(1);
    expect(logger.infos).toContain('IPTables canary deleted');
    expect(logger.infos).toContain('Reloading after iptables flush');
    expect(runner.chain('iptables', 'mangle', 'KUBE-IPTABLES-HINT')).toEqual([]);
    expect(runner.chain('iptables', 'filter', 'KUBE-FIREWALL')).toEqual([dropRule]);
    expect(runner.chain('iptables', 'filter', 'INPUT')).toEqual(['-j KUBE-FIREWALL']);
    for (const table of ['mangle', 'nat', 'filter']) {
      expect(runner.chain('iptables', table, 'KUBE-KUBELET-CANARY')).toEqual([]);
    }
    // The monitor goes on watching after the reload.
    runner.flush('iptables');
    await clock.advance(iptablesMonitorIntervalMs);
    expect(runner.chain('iptables', 'filter', 'KUBE-FIREWALL')).toEqual([dropRule]);
    await chains.stop();
  });

  it('waits for the other canaries to go (100 ms polls) before reloading', async () => {
    const { runner, clock, chains } = setup();
    await chains.start();
    // Only the mangle canary goes at first; nat's goes 300 ms later.
    runner.tables('iptables').get('mangle')?.delete('KUBE-KUBELET-CANARY');
    await clock.advance(iptablesMonitorIntervalMs);
    expect(runner.chain('iptables', 'mangle', 'KUBE-KUBELET-CANARY')).toBeUndefined();
    runner.tables('iptables').get('nat')?.delete('KUBE-KUBELET-CANARY');
    runner.tables('iptables').get('filter')?.delete('KUBE-KUBELET-CANARY');
    await clock.advance(100);
    expect(runner.chain('iptables', 'mangle', 'KUBE-KUBELET-CANARY')).toEqual([]);
    await chains.stop();
  });

  it('stop cancels the monitors and removes the canaries; no timers are left', async () => {
    const { runner, clock, chains } = setup();
    await chains.start();
    await chains.stop();
    expect(clock.pendingTimers()).toBe(0);
    for (const b of ['iptables', 'ip6tables'] as const) {
      for (const table of ['mangle', 'nat', 'filter']) {
        expect(runner.chain(b, table, 'KUBE-KUBELET-CANARY')).toBeUndefined();
      }
    }
    // The utility chains stay, as the kubelet leaves them.
    expect(runner.chain('iptables', 'filter', 'KUBE-FIREWALL')).toEqual([dropRule]);
    runner.commands.length = 0;
    await clock.advance(10 * iptablesMonitorIntervalMs);
    expect(runner.commands).toEqual([]);
  });

  it('only warns when iptables is missing', async () => {
    const { runner, clock, chains, logger } = setup();
    runner.missing.add('iptables');
    runner.missing.add('ip6tables');
    await expect(chains.start()).resolves.toBeUndefined();
    expect(logger.warnings).toEqual([
      'No iptables support on this system; not creating the KUBE-IPTABLES-HINT chain',
    ]);
    expect(clock.pendingTimers()).toBe(0);
    await chains.stop();
  });

  it('sets up the family that works when the other binary is missing', async () => {
    const { runner, clock, chains, logger } = setup();
    runner.missing.add('ip6tables');
    await chains.start();
    expect(runner.chain('iptables', 'filter', 'KUBE-FIREWALL')).toEqual([dropRule]);
    expect(runner.commands.filter((c) => c.startsWith('ip6tables'))).toEqual([
      'ip6tables -t nat -S POSTROUTING',
    ]);
    expect(logger.warnings).toEqual([]);
    expect(clock.pendingTimers()).toBe(1);
    await chains.stop();
  });

  it('warns and runs no monitor for a family whose rules fail, and goes on with the other', async () => {
    const { runner, clock, chains, logger } = setup();
    runner.failing.set('iptables -t filter -I INPUT', 4);
    await expect(chains.start()).resolves.toBeUndefined();
    expect(logger.warnings).toEqual([
      'Failed to ensure that INPUT chain jumps to KUBE-FIREWALL',
      'Failed to initialize iptables rules; some functionality may be missing.',
    ]);
    expect(runner.chain('iptables', 'filter', 'KUBE-KUBELET-CANARY')).toBeUndefined();
    expect(runner.chain('ip6tables', 'filter', 'KUBE-KUBELET-CANARY')).toEqual([]);
    expect(clock.pendingTimers()).toBe(1);
    await chains.stop();
  });

  it('a failing canary check is a warning, not a flush; a failing canary set-up is retried', async () => {
    const { runner, clock, logger } = setup();
    const chains = new IptablesUtilChains({ runner, clock, logger, binaries: ['iptables'] });
    runner.failing.set('-t nat -N KUBE-KUBELET-CANARY', 4);
    await chains.start();
    expect(logger.warnings).toEqual(['Could not set up iptables canary']);
    expect(runner.chain('iptables', 'nat', 'KUBE-KUBELET-CANARY')).toBeUndefined();
    runner.failing.clear();
    await clock.advance(iptablesMonitorIntervalMs);
    expect(runner.chain('iptables', 'nat', 'KUBE-KUBELET-CANARY')).toEqual([]);
    runner.failing.set('-t mangle -S KUBE-KUBELET-CANARY', 4);
    runner.commands.length = 0;
    await clock.advance(iptablesMonitorIntervalMs);
    expect(logger.warnings).toContain('Could not check for iptables canary');
    expect(runner.commands.some((c) => c.includes('KUBE-FIREWALL'))).toBe(false);
    await chains.stop();
  });
});
