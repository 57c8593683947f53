import { readFileSync } from 'node:fs';
import type { EventType, k8s } from '@nodeagent/core';
import { FakeClock, InMemoryMetrics } from '@nodeagent/core/testing';
import { describe, expect, it } from 'vitest';
import type { KernelLogReader } from './kmsg-reader.js';
import type { OomInstance } from './oom-parser.js';
import { OomWatcher } from './oom-watcher.js';

const fixture = (name: string): string[] =>
  readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l !== '');

class FakeKernelLog implements KernelLogReader {
  history: string[] = [];
  pending: string[] = [];
  openCalls = 0;
  closed = false;
  reads = 0;
  async open(): Promise<void> {
    this.openCalls++;
    this.history = [];
  }
  async readAvailable(): Promise<string[]> {
    if (this.closed) throw new Error('closed');
    this.reads++;
    const out = this.pending;
    this.pending = [];
    return out;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

interface RecordedEvent {
  object: k8s.ObjectReference;
  type: EventType;
  reason: string;
  message: string;
}

function setup(): {
  clock: FakeClock;
  log: FakeKernelLog;
  events: RecordedEvent[];
  ooms: OomInstance[];
  metrics: InMemoryMetrics;
  watcher: OomWatcher;
} {
  const clock = new FakeClock();
  const log = new FakeKernelLog();
  const events: RecordedEvent[] = [];
  const ooms: OomInstance[] = [];
  const metrics = new InMemoryMetrics();
  const watcher = new OomWatcher({
    clock,
    reader: log,
    nodeRef: { kind: 'Node', name: 'node-a', uid: 'node-a' },
    recorder: {
      event: (object, type, reason, message) => events.push({ object, type, reason, message }),
    },
    onOom: (o) => ooms.push(o),
    metrics,
  });
  return { clock, log, events, ooms, metrics, watcher };
}

describe('OomWatcher', () => {
  it('records SystemOOM on the node for a system OOM and only parses cgroup OOMs', async () => {
    const { clock, log, events, ooms, watcher } = setup();
    log.history = fixture('kmsg-system-oom.txt');
    await watcher.start();
    expect(log.openCalls).toBe(1);
    log.pending = [
      ...fixture('kmsg-cgroup-v1-memcg-oom.txt').slice(0, -1),
      ...fixture('kmsg-system-oom.txt'),
    ];
    await clock.advance(1000);
    expect(ooms.map((o) => [o.processName, o.pid, o.victimContainerName])).toEqual([
      ['sh', 1385, '/nodeagent/kubepods/burstable/pod65e14fef-eb4f-46a0-a907-d76068334563'],
      ['badsysprogram', 1532, '/'],
    ]);
    expect(events).toEqual([
      {
        object: { kind: 'Node', name: 'node-a', uid: 'node-a' },
        type: 'Warning',
        reason: 'SystemOOM',
        message: 'System OOM encountered, victim process: badsysprogram, pid: 1532',
      },
    ]);
    await watcher.stop();
  });

  it('counts OOM kills by scope', async () => {
    const { clock, log, metrics, watcher } = setup();
    await watcher.start();
    log.pending = [...fixture('kmsg-cgroup-v2-oom.txt'), ...fixture('kmsg-system-oom.txt')];
    await clock.advance(1000);
    expect(metrics.value('nodeagent_oom_kills_total', { scope: 'cgroup' })).toBe(1);
    expect(metrics.value('nodeagent_oom_kills_total', { scope: 'system' })).toBe(1);
    await watcher.stop();
  });

  it('follows a report split across reads', async () => {
    const { clock, log, events, watcher } = setup();
    await watcher.start();
    const lines = fixture('kmsg-system-oom.txt');
    log.pending = lines.slice(0, 3);
    await clock.advance(1000);
    expect(events).toHaveLength(0);
    log.pending = lines.slice(3);
    await clock.advance(1000);
    expect(events.map((e) => e.reason)).toEqual(['SystemOOM']);
    await watcher.stop();
  });

  it('stops cleanly: no timers, the log closed, no further reads', async () => {
    const { clock, log, watcher } = setup();
    await watcher.start();
    await clock.advance(3000);
    const reads = log.reads;
    expect(reads).toBe(3);
    await watcher.stop();
    expect(log.closed).toBe(true);
    expect(clock.pendingTimers()).toBe(0);
    await clock.advance(10_000);
    expect(log.reads).toBe(reads);
  });

  it('keeps polling after a failed read', async () => {
    const { clock, log, watcher } = setup();
    await watcher.start();
    let fail = true;
    const read = log.readAvailable.bind(log);
    log.readAvailable = async () => {
      if (fail) {
        fail = false;
        throw new Error('EIO');
      }
      return read();
    };
    await clock.advance(2000);
    expect(log.reads).toBe(1);
    await watcher.stop();
  });
});
