import {
  CancelledError,
  FailedPreconditionError,
  NotFoundError,
  UnavailableError,
} from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { describe, expect, it } from 'vitest';
import { FakeRuntime } from './fake-runtime.js';

describe('FakeRuntime', () => {
  it('runs the CRI lifecycle with clock-driven times and list filters', async () => {
    const clock = new FakeClock();
    const rt = new FakeRuntime({ clock });
    const { podSandboxId } = await rt.runPodSandbox({
      config: { metadata: { name: 'p', uid: 'u', namespace: 'n' }, labels: { app: 'x' } },
    });
    const { containerId } = await rt.createContainer({
      podSandboxId,
      config: { metadata: { name: 'c' }, image: { image: 'img:1' }, labels: { app: 'x' } },
    });
    await clock.advance(1_000);
    await rt.startContainer({ containerId });
    const { status } = await rt.containerStatus({ containerId });
    expect(status).toMatchObject({ state: 'CONTAINER_RUNNING', startedAt: clock.now() * 1e6 });
    expect(
      (await rt.listContainers({ filter: { state: { state: 'CONTAINER_RUNNING' } } })).containers,
    ).toHaveLength(1);
    expect(
      (await rt.listContainers({ filter: { labelSelector: { app: 'y' } } })).containers,
    ).toHaveLength(0);
    expect((await rt.listContainers({ filter: { podSandboxId } })).containers).toHaveLength(1);
    expect((await rt.listPodSandbox({ filter: { id: podSandboxId } })).items).toHaveLength(1);
    await expect(rt.removeContainer({ containerId })).rejects.toBeInstanceOf(
      FailedPreconditionError,
    );
    rt.exitContainer(containerId, 2);
    expect((await rt.containerStatus({ containerId })).status).toMatchObject({
      exitCode: 2,
      reason: 'Error',
    });
    await rt.stopPodSandbox({ podSandboxId });
    await rt.removePodSandbox({ podSandboxId });
    await expect(rt.containerStatus({ containerId })).rejects.toBeInstanceOf(NotFoundError);
    expect(rt.listSandboxesNow()).toEqual([]);
  });

  it('injects failures and hangs per method; hangs end with release or abort', async () => {
    const rt = new FakeRuntime();
    rt.failNext('version', new UnavailableError('down'), 2);
    await expect(rt.version({})).rejects.toThrow('down');
    await expect(rt.version({})).rejects.toThrow('down');
    await expect(rt.version({})).resolves.toMatchObject({ runtimeApiVersion: 'v1' });
    const release = rt.hang('status');
    let done = false;
    const p = rt.status({}).then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    release();
    await p;
    rt.hang('listContainers');
    const ac = new AbortController();
    const hung = rt.listContainers({}, { signal: ac.signal });
    ac.abort();
    await expect(hung).rejects.toBeInstanceOf(CancelledError);
    expect(rt.callCount('version')).toBe(3);
  });

  it('streams container events and can break the stream', async () => {
    const rt = new FakeRuntime();
    const it = rt.getContainerEvents({})[Symbol.asyncIterator]();
    const first = it.next();
    await new Promise((r) => setImmediate(r));
    expect(rt.openEventStreams()).toBe(1);
    const sb = rt.addSandbox({ uid: 'u' });
    expect((await first).value).toMatchObject({
      containerId: sb,
      containerEventType: 'CONTAINER_CREATED_EVENT',
    });
    expect((await it.next()).value).toMatchObject({
      containerEventType: 'CONTAINER_STARTED_EVENT',
    });
    rt.breakEventStreams(new UnavailableError('broken'));
    await expect(it.next()).rejects.toThrow('broken');
    expect(rt.openEventStreams()).toBe(0);
  });
});
