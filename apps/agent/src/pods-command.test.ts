import { FakeClock } from '@nodeagent/core/testing';
import { createFakeRuntime } from '@nodeagent/testkit';
import { describe, expect, it } from 'vitest';
import { formatPods, humanAge, listRuntimePods, restartCountAnnotation } from './pods-command.js';

describe('humanAge (kubectl HumanDuration)', () => {
  it.each([
    [0, '0s'],
    [59_000, '59s'],
    [119_000, '119s'],
    [120_000, '2m'],
    [312_000, '5m12s'],
    [600_000, '10m'],
    [179 * 60_000, '179m'],
    [3 * 3_600_000, '3h'],
    [3 * 3_600_000 + 20 * 60_000, '3h20m'],
    [30 * 3_600_000, '30h'],
    [(4 * 24 + 3) * 3_600_000, '4d3h'],
    [100 * 24 * 3_600_000, '100d'],
    [(3 * 365 + 5) * 24 * 3_600_000, '3y5d'],
    [10 * 365 * 24 * 3_600_000, '10y'],
  ])('%s ms → %s', (ms, text) => {
    expect(humanAge(ms)).toBe(text);
  });
});

describe('listRuntimePods + formatPods', () => {
  async function fixture() {
    const clock = new FakeClock();
    const runtime = createFakeRuntime({ clock });
    // An old, stopped sandbox of the web pod, then its current one.
    const old = runtime.addSandbox({ uid: 'uid-web', name: 'web-node1', namespace: 'default' });
    runtime.addContainer(old, { name: 'web', state: 'CONTAINER_EXITED', exitCode: 1 });
    runtime.setSandboxState(old, 'SANDBOX_NOTREADY');
    await clock.advance(1_000);
    const web = runtime.addSandbox({
      uid: 'uid-web',
      name: 'web-node1',
      namespace: 'default',
      ip: '10.209.0.7',
    });
    await clock.advance(1_000);
    runtime.addContainer(web, {
      name: 'web',
      attempt: 2,
      annotations: { [restartCountAnnotation]: '2' },
    });
    runtime.addContainer(web, { name: 'sidecar', state: 'CONTAINER_EXITED', exitCode: 0 });
    await clock.advance(1_000);
    // The newest instance of a name wins; its restart count is the annotation, else the attempt.
    runtime.addContainer(web, { name: 'sidecar', attempt: 1 });
    // A pod whose sandbox carries no uid label (e.g. made with crictl): grouped by metadata.uid.
    const bare = runtime.addSandbox({
      uid: 'uid-bare',
      name: 'bare',
      namespace: 'kube-system',
      withoutUidLabel: true,
    });
    runtime.addContainer(bare, { name: 'c', state: 'CONTAINER_CREATED' });
    await clock.advance(312_000);
    return { runtime, clock, webSandbox: web };
  }

  it('groups by pod UID, keeps the newest sandbox and the newest instance of each container', async () => {
    const { runtime, webSandbox } = await fixture();
    const pods = await listRuntimePods(runtime);
    expect(pods.map((p) => `${p.namespace}/${p.name}`)).toEqual([
      'default/web-node1',
      'kube-system/bare',
    ]);
    const [webPod, barePod] = pods;
    expect(webPod).toMatchObject({
      uid: 'uid-web',
      sandboxId: webSandbox,
      state: 'SANDBOX_READY',
      ip: '10.209.0.7',
    });
    expect(webPod?.containers.map((c) => [c.name, c.state, c.restartCount])).toEqual([
      ['sidecar', 'CONTAINER_RUNNING', 1],
      ['web', 'CONTAINER_RUNNING', 2],
    ]);
    expect(barePod).toMatchObject({ uid: 'uid-bare', ip: '' });
    expect(barePod?.containers.map((c) => c.name)).toEqual(['c']);
  });

  it('prints the table like crictl', async () => {
    const { runtime, clock } = await fixture();
    const text = formatPods(await listRuntimePods(runtime), 'table', clock.now());
    expect(text.split('\n')).toEqual([
      'POD         NAMESPACE     STATE   CONTAINERS   RESTARTS   AGE     IP',
      'web-node1   default       Ready   2/2          3          5m14s   10.209.0.7',
      'bare        kube-system   Ready   0/1          0          5m12s   -',
      '',
    ]);
  });

  it('wide adds the sandbox, UID, runtime handler and container states', async () => {
    const { runtime, clock, webSandbox } = await fixture();
    const text = formatPods(await listRuntimePods(runtime), 'wide', clock.now());
    const [header, web] = text.split('\n');
    expect(header).toMatch(/IP\s+POD ID\s+UID\s+RUNTIME\s+CONTAINER STATES$/);
    expect(web).toContain(webSandbox.slice(0, 13));
    expect(web).toContain('uid-web');
    expect(web).toContain('(default)');
    expect(web).toMatch(/sidecar=Running,web=Running$/);
  });

  it('json gives the listed pods', async () => {
    const { runtime, clock } = await fixture();
    const parsed = JSON.parse(
      formatPods(await listRuntimePods(runtime), 'json', clock.now()),
    ) as Array<{
      name: string;
      containers: unknown[];
    }>;
    expect(parsed.map((p) => [p.name, p.containers.length])).toEqual([
      ['web-node1', 2],
      ['bare', 1],
    ]);
  });

  it('filters by labels and says when there is nothing', async () => {
    const { runtime, clock } = await fixture();
    const pods = await listRuntimePods(runtime, { labelSelector: { 'no.such/label': 'x' } });
    expect(pods).toEqual([]);
    expect(formatPods(pods, 'table', clock.now())).toBe('No pods found.\n');
  });
});
