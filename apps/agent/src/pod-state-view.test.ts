import { FakeClock } from '@nodeagent/core/testing';
import { describe, expect, it } from 'vitest';
import { PodStateView, type PodStateChange } from './pod-state-view.js';

const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
const hhmmss = (ms: number): string => {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()]
    .map((n) => String(n).padStart(2, '0'))
    .join(':');
};
const pod = { namespace: 'default', name: 'web-node1', uid: 'u1' };

function view(color = false) {
  const lines: string[] = [];
  const v = new PodStateView({
    out: { write: (t: string) => lines.push(t) },
    clock,
    color,
    nameWidth: 28,
  });
  return { v, lines };
}

describe('PodStateView', () => {
  it('renders pod and container changes as aligned lines', () => {
    const { v, lines } = view();
    v.show({ pod, to: 'Pending' });
    v.show({ pod, container: 'web', from: 'Waiting', to: 'Running' });
    v.show({
      pod,
      container: 'app',
      from: 'Running',
      to: 'Waiting',
      reason: 'CrashLoopBackOff',
      message: 'back-off 20s restarting failed container',
    });
    v.show({
      pod,
      container: 'init',
      from: 'Running',
      to: 'Terminated',
      reason: 'Completed',
      at: clock.now() + 5_000,
    });
    const t = hhmmss(clock.now());
    expect(lines).toEqual([
      `${t}  default/web-node1            Pending\n`,
      `${t}  default/web-node1 [web]      Waiting → Running\n`,
      `${t}  default/web-node1 [app]      Running → Waiting  CrashLoopBackOff: back-off 20s restarting failed container\n`,
      `${hhmmss(clock.now() + 5_000)}  default/web-node1 [init]     Running → Terminated  Completed\n`,
    ]);
  });

  it('does not repeat a state already shown, but shows it again after a change', () => {
    const { v, lines } = view();
    expect(v.show({ pod, container: 'web', to: 'Running' })).toBe(true);
    expect(v.show({ pod, container: 'web', from: 'Running', to: 'Running' })).toBe(false);
    expect(v.show({ pod, container: 'web', to: 'Terminated', reason: 'Error' })).toBe(true);
    expect(v.show({ pod, container: 'web', to: 'Terminated', reason: 'OOMKilled' })).toBe(true);
    expect(v.show({ pod, to: 'Running' })).toBe(true); // the pod itself is a separate line
    expect(lines).toHaveLength(4);
    v.forgetPod(pod);
    expect(v.show({ pod, container: 'web', to: 'Terminated', reason: 'OOMKilled' })).toBe(true);
  });

  it('colors failures red, running green and waiting yellow', () => {
    const { v, lines } = view(true);
    v.show({ pod, container: 'a', to: 'Waiting', reason: 'ImagePullBackOff' });
    v.show({ pod, container: 'b', to: 'Running' });
    v.show({ pod, container: 'c', to: 'Waiting', reason: 'ContainerCreating' });
    v.show({ pod, to: 'Failed' });
    expect(lines[0]).toContain('\u001b[31mWaiting\u001b[0m');
    expect(lines[1]).toContain('\u001b[32mRunning\u001b[0m');
    expect(lines[2]).toContain('\u001b[33mWaiting\u001b[0m');
    expect(lines[3]).toContain('\u001b[31mFailed\u001b[0m');
    expect(lines[3]).toContain('\u001b[1mdefault/web-node1');
  });

  it('consumes a stream of changes until it ends', async () => {
    const { v, lines } = view();
    async function* changes(): AsyncIterable<PodStateChange> {
      yield { pod, to: 'Pending' };
      yield { pod, to: 'Running', from: 'Pending' };
      yield { pod, to: 'Running', from: 'Pending' };
    }
    await v.run(changes());
    expect(lines.map((l) => l.slice(10).trim())).toEqual([
      'default/web-node1            Pending',
      'default/web-node1            Pending → Running',
    ]);
  });

  it('stops consuming when aborted', async () => {
    const { v, lines } = view();
    const controller = new AbortController();
    async function* changes(): AsyncIterable<PodStateChange> {
      yield { pod, to: 'Pending' };
      controller.abort();
      yield { pod, to: 'Running' };
    }
    await v.run(changes(), controller.signal);
    expect(lines).toHaveLength(1);
  });
});
