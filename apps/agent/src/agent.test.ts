import 'reflect-metadata';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Clock,
  ContainerRuntime,
  EventRecorder,
  ImageService,
  Logger,
  MetricsRegistry,
  PodLifecycleEventGenerator,
  PodStatusCache,
  ProbeManager,
  Random,
  UnavailableError,
  noopLogger,
  resolveToken,
} from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { CriClient } from '@nodeagent/cri-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createAgent } from './agent.js';
import { defaultKubeletConfiguration } from './config/kubelet-config.js';
import type { AgentConfig } from './config/agent-config.js';
import { LoggingEventRecorder } from './event-recorder.js';
import { PromMetricsRegistry } from './metrics.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function config(endpoint: string): AgentConfig {
  const root = mkdtempSync(join(tmpdir(), 'nodeagent-agent-test-'));
  dirs.push(root);
  return {
    kubelet: { ...defaultKubeletConfiguration(), containerRuntimeEndpoint: endpoint },
    ignoredFields: [],
    inCluster: false,
    certDir: '/nonexistent/pki',
    nodeLabels: {},
    nodeName: 'test-node',
    nodeIps: [],
    rootDir: join(root, 'kubelet'),
  };
}

describe('createAgent', () => {
  it('registers core values and every package against core tokens', () => {
    const clock = new FakeClock();
    const metrics = new PromMetricsRegistry();
    const agent = createAgent(config('unix:///nonexistent/containerd.sock'), {
      logger: noopLogger,
      clock,
      metrics,
    });
    const c = agent.container;
    expect(resolveToken(c, Clock)).toBe(clock);
    expect(resolveToken(c, Logger)).toBe(noopLogger);
    expect(resolveToken(c, MetricsRegistry)).toBe(metrics);
    expect(agent.metrics).toBe(metrics);
    expect(typeof resolveToken(c, Random).float()).toBe('number');
    expect(resolveToken(c, EventRecorder)).toBeInstanceOf(LoggingEventRecorder);
    const cri = resolveToken(c, CriClient);
    expect(resolveToken(c, ContainerRuntime)).toBe(cri);
    expect(resolveToken(c, ImageService)).toBe(cri);
    expect(cri.endpoint).toBe('unix:///nonexistent/containerd.sock');
    const pleg = resolveToken(c, PodLifecycleEventGenerator);
    expect(resolveToken(c, PodLifecycleEventGenerator)).toBe(pleg);
    expect(resolveToken(c, PodStatusCache)).toBe(pleg.cache);
    expect(resolveToken(c, ProbeManager).workerCount()).toBe(0);
    cri.close();
  });

  it('two agents do not share a container', () => {
    const a = createAgent(config('unix:///a.sock'), { logger: noopLogger });
    const b = createAgent(config('unix:///b.sock'), { logger: noopLogger });
    expect(a.container).not.toBe(b.container);
    expect(resolveToken(a.container, MetricsRegistry)).not.toBe(
      resolveToken(b.container, MetricsRegistry),
    );
  });

  it('start fails with a clear error when the runtime socket is missing, and leaves nothing running', async () => {
    const lines: string[] = [];
    const logger = { ...noopLogger, info: (m: string) => lines.push(m), child: () => noopLogger };
    const cfg = config('unix:///nonexistent/containerd.sock');
    const agent = createAgent(cfg, { logger });
    const error = await agent.start().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toContain(
      'container runtime socket /nonexistent/containerd.sock does not exist: is the container runtime (containerd) running?',
    );
    expect(existsSync(join(cfg.rootDir, 'pods'))).toBe(true);
    expect(lines).toContain('Starting nodeagent');
    expect(lines).not.toContain('nodeagent is running');
    await agent.stop(); // a no-op after a failed start
    await expect(agent.start()).rejects.toThrow('agent cannot start: it is stopped');
  });

  it('rejects a non-unix endpoint at start', async () => {
    const agent = createAgent(config('tcp://127.0.0.1:1234'), { logger: noopLogger });
    await expect(agent.start()).rejects.toThrow('unsupported CRI endpoint "tcp://127.0.0.1:1234"');
  });
});

describe('LoggingEventRecorder', () => {
  it('logs events as the kubelet does in standalone mode', () => {
    const lines: Array<[string, string, unknown]> = [];
    const logger = {
      ...noopLogger,
      info: (m: string, f?: unknown) => lines.push(['info', m, f]),
      warn: (m: string, f?: unknown) => lines.push(['warn', m, f]),
      child: () => logger,
    };
    const recorder = new LoggingEventRecorder(logger);
    recorder.event(
      {
        kind: 'Pod',
        namespace: 'default',
        name: 'web',
        fieldPath: 'spec.containers{web}',
        apiVersion: 'v1',
      },
      'Warning',
      'Unhealthy',
      'Liveness probe failed: HTTP probe failed with statuscode: 500',
    );
    recorder.event({ kind: 'Node', name: 'node-1' }, 'Normal', 'Starting', 'Starting kubelet.');
    expect(lines).toEqual([
      [
        'warn',
        'Event occurred',
        {
          object: 'default/web',
          fieldPath: 'spec.containers{web}',
          kind: 'Pod',
          apiVersion: 'v1',
          type: 'Warning',
          reason: 'Unhealthy',
          message: 'Liveness probe failed: HTTP probe failed with statuscode: 500',
        },
      ],
      [
        'info',
        'Event occurred',
        {
          object: 'node-1',
          kind: 'Node',
          type: 'Normal',
          reason: 'Starting',
          message: 'Starting kubelet.',
        },
      ],
    ]);
  });
});
