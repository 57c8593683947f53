import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { RealClock, noopLogger } from '@nodeagent/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IptablesUtilChains, createExecIptablesRunner } from './iptables-util-chains.js';

const exec = promisify(execFile);
// A private network namespace: the host's firewall is never touched.
const ns = `na-ipt-${randomBytes(4).toString('hex')}`;
const inNs = async (...argv: string[]): Promise<string> =>
  (await exec('ip', ['netns', 'exec', ns, ...argv])).stdout;

describe('IptablesUtilChains on real iptables (private netns)', () => {
  beforeAll(async () => {
    await exec('ip', ['netns', 'add', ns]);
  });
  afterAll(async () => {
    await exec('ip', ['netns', 'delete', ns]);
  });

  it('creates the kubelet chains, idempotently, and removes only the canaries on stop', async () => {
    const runner = createExecIptablesRunner({ prefix: ['ip', 'netns', 'exec', ns] });
    const chains = new IptablesUtilChains({ runner, clock: new RealClock(), logger: noopLogger });
    await chains.start();
    const firewall = await inNs('iptables', '-w', '5', '-S', 'KUBE-FIREWALL');
    expect(firewall).toContain('-N KUBE-FIREWALL');
    expect(firewall).toMatch(
      /-A KUBE-FIREWALL ! -s 127\.0\.0\.0\/8 -d 127\.0\.0\.0\/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP/,
    );
    expect(await inNs('iptables', '-w', '5', '-t', 'mangle', '-S', 'KUBE-IPTABLES-HINT')).toContain(
      '-N KUBE-IPTABLES-HINT',
    );
    expect(
      await inNs('ip6tables', '-w', '5', '-t', 'mangle', '-S', 'KUBE-IPTABLES-HINT'),
    ).toContain('-N KUBE-IPTABLES-HINT');
    const jumps = (chain: string): Promise<string[]> =>
      inNs('iptables', '-w', '5', '-S', chain).then((s) =>
        s.split('\n').filter((l) => l === `-A ${chain} -j KUBE-FIREWALL`),
      );
    expect(await jumps('INPUT')).toHaveLength(1);
    expect(await jumps('OUTPUT')).toHaveLength(1);
    for (const table of ['mangle', 'nat', 'filter']) {
      expect(await inNs('iptables', '-w', '5', '-t', table, '-S', 'KUBE-KUBELET-CANARY')).toContain(
        '-N KUBE-KUBELET-CANARY',
      );
    }
    await chains.stop();
    await expect(inNs('iptables', '-w', '5', '-S', 'KUBE-KUBELET-CANARY')).rejects.toThrow();

    // A second run adds nothing.
    const again = new IptablesUtilChains({ runner, clock: new RealClock(), logger: noopLogger });
    await again.start();
    await again.stop();
    expect(await jumps('INPUT')).toHaveLength(1);
    expect(await jumps('OUTPUT')).toHaveLength(1);
    const dropRules = (await inNs('iptables', '-w', '5', '-S', 'KUBE-FIREWALL'))
      .split('\n')
      .filter((l) => l.includes('-j DROP'));
    expect(dropRules).toHaveLength(1);
  });
});
