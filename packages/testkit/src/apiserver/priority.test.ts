import { FakeClock } from '@nodeagent/core/testing';
import { describe, expect, it } from 'vitest';
import { admitPodPriority } from './priority.js';
import { startTestApiServer } from './test-api-server.js';

const pod = (spec: Record<string, unknown>) => ({
  metadata: { name: 'p' },
  spec: { containers: [{ name: 'c', image: 'x' }], ...spec },
});

describe('Priority admission (kube-apiserver plugin/pkg/admission/priority)', () => {
  it('sets the priority of the built-in classes, 0 without a class, and the default preemption policy', () => {
    expect(admitPodPriority(pod({ priorityClassName: 'system-node-critical' })).spec).toMatchObject(
      {
        priority: 2_000_001_000,
        preemptionPolicy: 'PreemptLowerPriority',
      },
    );
    expect(
      admitPodPriority(pod({ priorityClassName: 'system-cluster-critical' })).spec,
    ).toMatchObject({ priority: 2_000_000_000 });
    expect(admitPodPriority(pod({})).spec).toMatchObject({ priority: 0 });
    expect(admitPodPriority(pod({ preemptionPolicy: 'Never' })).spec).toMatchObject({
      preemptionPolicy: 'Never',
    });
  });

  it('refuses an unknown class or a priority the class does not give, with the real messages', async () => {
    const server = await startTestApiServer({ clock: new FakeClock() });
    try {
      const create = async (spec: Record<string, unknown>) => {
        const res = await fetch(`${server.url}/api/v1/namespaces/default/pods`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(pod(spec)),
        });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      const unknown = await create({ priorityClassName: 'gold' });
      expect(unknown.status).toBe(403);
      expect(unknown.body.message).toBe(
        'pods "p" is forbidden: no PriorityClass with name gold was found',
      );
      const given = await create({ priority: 7 });
      expect(given.status).toBe(403);
      expect(given.body.message).toBe(
        'pods "p" is forbidden: the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 0 from the given PriorityClass name',
      );
      const ok = await create({ priorityClassName: 'system-node-critical' });
      expect(ok.status).toBe(201);
      expect((ok.body.spec as Record<string, unknown>).priority).toBe(2_000_001_000);
    } finally {
      await server.stop();
    }
  });
});
