import { mkdir, mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PodAnnotation, type EventRecorder, type Logger, type LogFields } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { podManifest, UpdateRecorder } from './__fixtures__/update-recorder.js';
import { MAX_CONFIG_LENGTH } from './decode.js';
import {
  createFileSource,
  WATCH_MAX_RETRY_PERIOD_MS,
  WATCH_SETTLE_MS,
  type FileSourceOptions,
  type StaticPodFileSource,
} from './file-source.js';
import type { ManifestError } from './pod-set-publisher.js';

const NODE = 'node-1';
const HOUR = 3_600_000;

class CapturingLogger implements Logger {
  readonly warnings: { message: string; fields: LogFields | undefined }[] = [];
  error(): void {}
  warn(message: string, fields?: LogFields): void {
    this.warnings.push({ message, fields });
  }
  info(): void {}
  debug(): void {}
  child(): Logger {
    return this;
  }
}

let dir: string;
let clock: FakeClock;
let errors: ManifestError[];
let logger: CapturingLogger;
const sources: StaticPodFileSource[] = [];

function newSource(overrides: Partial<FileSourceOptions> = {}): StaticPodFileSource {
  const source = createFileSource({
    path: dir,
    nodeName: NODE,
    clock,
    logger,
    onError: (e) => errors.push(e),
    // Long period: only chokidar delivers changes unless a test advances the clock.
    resyncPeriodMs: HOUR,
    ...overrides,
  });
  sources.push(source);
  return source;
}

function started(source: StaticPodFileSource): UpdateRecorder {
  const recorder = new UpdateRecorder(source, () => clock.advance(WATCH_SETTLE_MS));
  source.start();
  return recorder;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'static-pods-'));
  clock = new FakeClock();
  errors = [];
  logger = new CapturingLogger();
});

afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.stop()));
  await rm(dir, { recursive: true, force: true });
});

describe('StaticPodFileSource', () => {
  it('reads YAML and JSON manifests in name order, ignoring dotfiles and subdirectories', async () => {
    await writeFile(join(dir, 'b.yaml'), podManifest('beta'));
    await writeFile(
      join(dir, 'a.json'),
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'alpha' },
        spec: { containers: [{ name: 'main', image: 'busybox' }] },
      }),
    );
    await writeFile(join(dir, '.hidden.yaml'), podManifest('hidden'));
    await writeFile(join(dir, '.swp'), 'garbage: [');
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'c.yaml'), podManifest('nested'));

    const recorder = started(newSource({ watch: false }));
    const update = await recorder.waitFor(() => true);
    expect(update.op).toBe('SET');
    expect(update.source).toBe('file');
    expect(update.pods.map((p) => p.metadata.name)).toEqual(['alpha-node-1', 'beta-node-1']);
    const [alpha] = update.pods;
    expect(alpha?.metadata.annotations).toMatchObject({
      [PodAnnotation.ConfigSource]: 'file',
      [PodAnnotation.ConfigHash]: alpha?.metadata.uid,
      [PodAnnotation.ConfigSeen]: new Date(clock.now()).toISOString(),
    });
    expect(errors).toEqual([]);
  });

  it('reports a broken file with its name and reason and keeps the other pods', async () => {
    await writeFile(join(dir, 'good.yaml'), podManifest('good'));
    await writeFile(join(dir, 'bad.yaml'), podManifest('bad', '""'));
    await writeFile(join(dir, 'notyaml.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: [\n');
    await writeFile(
      join(dir, 'deploy.yaml'),
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n',
    );

    const recorder = started(newSource({ watch: false }));
    await recorder.waitForNames(['good-node-1']);
    expect(errors).toEqual([
      {
        source: 'file',
        file: join(dir, 'bad.yaml'),
        reason: 'invalid pod: spec.containers[0].image: Required',
      },
      {
        source: 'file',
        file: join(dir, 'deploy.yaml'),
        reason: 'not a v1 Pod (kind is "Deployment", apiVersion is "apps/v1")',
      },
      {
        source: 'file',
        file: join(dir, 'notyaml.yaml'),
        reason: expect.stringMatching(/^invalid YAML or JSON/) as string,
      },
    ]);
    expect(logger.warnings.map((w) => w.fields?.['file'])).toEqual([
      join(dir, 'bad.yaml'),
      join(dir, 'deploy.yaml'),
      join(dir, 'notyaml.yaml'),
    ]);
    expect(logger.warnings[0]?.fields?.['reason']).toBe(
      'invalid pod: spec.containers[0].image: Required',
    );
  });

  it('reports an unchanged broken file once, and fixing it makes the pod appear', async () => {
    await writeFile(join(dir, 'good.yaml'), podManifest('good'));
    await writeFile(
      join(dir, 'web.yaml'),
      podManifest('web', 'nginx', '      ports: [{containerPort: 0}]\n'),
    );
    const source = newSource();
    const recorder = started(source);
    await recorder.waitForNames(['good-node-1']);
    await source.resync();
    await source.resync();
    expect(errors).toHaveLength(1);
    expect(errors[0]?.reason).toBe(
      'invalid pod: spec.containers[0].ports[0].containerPort: must be between 1 and 65535, inclusive',
    );
    expect(source.rejectedFiles()).toEqual([join(dir, 'web.yaml')]);

    await writeFile(
      join(dir, 'web.yaml'),
      podManifest('web', 'nginx', '      ports: [{containerPort: 80}]\n'),
    );
    await recorder.waitForNames(['good-node-1', 'web-node-1']);
    expect(source.rejectedFiles()).toEqual([]);
    expect(errors).toHaveLength(1);
  });

  it('sees added, modified and deleted files through the watch', async () => {
    const source = newSource();
    const recorder = started(source);
    await recorder.waitForNames([]);

    await writeFile(join(dir, 'web.yaml'), podManifest('web', 'nginx:1.26'));
    const added = await recorder.waitForNames(['web-node-1']);
    const firstUid = added.pods[0]?.metadata.uid;
    const firstSeen = added.pods[0]?.metadata.annotations?.[PodAnnotation.ConfigSeen];

    await clock.advance(5_000);
    await writeFile(join(dir, 'web.yaml'), podManifest('web', 'nginx:1.27'));
    const modified = await recorder.waitFor(
      (u) => u.pods.length === 1 && u.pods[0]?.metadata.uid !== firstUid,
    );
    expect(modified.pods[0]?.spec.containers[0]?.image).toBe('nginx:1.27');
    expect(modified.pods[0]?.metadata.annotations?.[PodAnnotation.ConfigHash]).toBe(
      modified.pods[0]?.metadata.uid,
    );
    expect(modified.pods[0]?.metadata.annotations?.[PodAnnotation.ConfigSeen]).not.toBe(firstSeen);

    await unlink(join(dir, 'web.yaml'));
    await recorder.waitForNames([]);
  });

  it('ignores dotfiles written while watching', async () => {
    const source = newSource();
    const recorder = started(source);
    await recorder.waitForNames([]);
    await writeFile(join(dir, '.web.yaml.swp'), podManifest('hidden'));
    await writeFile(join(dir, 'web.yaml'), podManifest('web'));
    await recorder.waitForNames(['web-node-1']);
    await source.resync();
    for (const update of recorder.updates) {
      expect(update.pods.map((p) => p.metadata.name)).not.toContain('hidden-node-1');
    }
    expect(errors).toEqual([]);
  });

  it('handles a file moved into place (atomic writes)', async () => {
    const source = newSource();
    const recorder = started(source);
    await recorder.waitForNames([]);
    await writeFile(join(dir, '.tmp-web'), podManifest('web'));
    await rename(join(dir, '.tmp-web'), join(dir, 'web.yaml'));
    await recorder.waitForNames(['web-node-1']);
  });

  it('re-reads everything every resyncPeriodMs on the clock, so no change is missed', async () => {
    const source = newSource({ watch: false, resyncPeriodMs: 20_000 });
    const recorder = started(source);
    await recorder.waitForNames([]);
    await writeFile(join(dir, 'web.yaml'), podManifest('web'));

    // No timer has fired: nothing read the directory again.
    await clock.advance(19_999);
    expect(recorder.updates).toHaveLength(1);

    const seenAt = clock.now() + 1;
    await clock.advance(1);
    const update = await recorder.waitForNames(['web-node-1']);
    expect(update.pods[0]?.metadata.annotations?.[PodAnnotation.ConfigSeen]).toBe(
      new Date(seenAt).toISOString(),
    );
  });

  it('emits only when something changed, with config.seen stable across re-reads', async () => {
    await writeFile(join(dir, 'web.yaml'), podManifest('web'));
    const source = newSource({ watch: false, resyncPeriodMs: 20_000 });
    const recorder = started(source);
    const first = await recorder.waitForNames(['web-node-1']);
    const seen = first.pods[0]?.metadata.annotations?.[PodAnnotation.ConfigSeen];

    for (let i = 0; i < 3; i++) {
      await clock.advance(20_000);
      await source.resync();
    }
    expect(recorder.updates).toHaveLength(1);

    // Same content rewritten: same UID, same first-seen time, still no update.
    await writeFile(join(dir, 'web.yaml'), podManifest('web'));
    await source.resync();
    expect(recorder.updates).toHaveLength(1);
    // Formatting-only change: same pod, same UID.
    await writeFile(join(dir, 'web.yaml'), `# comment\n${podManifest('web')}\n\n`);
    await source.resync();
    expect(recorder.updates).toHaveLength(1);
    expect(recorder.last?.pods[0]?.metadata.annotations?.[PodAnnotation.ConfigSeen]).toBe(seen);
  });

  it('gives the same pod the same UID in every source instance, and a new one per node', async () => {
    await writeFile(join(dir, 'web.yaml'), podManifest('web'));
    const a = started(newSource({ watch: false }));
    const b = started(newSource({ watch: false, path: `${dir}/` }));
    const other = started(newSource({ watch: false, nodeName: 'node-2' }));
    const [ua, ub, uo] = await Promise.all([
      a.waitForNames(['web-node-1']),
      b.waitForNames(['web-node-1']),
      other.waitForNames(['web-node-2']),
    ]);
    expect(ub.pods[0]?.metadata.uid).toBe(ua.pods[0]?.metadata.uid);
    expect(uo.pods[0]?.metadata.uid).not.toBe(ua.pods[0]?.metadata.uid);
  });

  it('treats a missing directory as empty and picks it up when it appears', async () => {
    await rm(dir, { recursive: true });
    const source = newSource({ resyncPeriodMs: HOUR });
    const recorder = started(source);
    await recorder.waitFor((u) => u.pods.length === 0);
    expect(errors).toEqual([]);
    expect(clock.nextTimerDelay()).toBe(1_000);

    // Still missing: the retry backs off (1 s, 2 s, 4 s …, at most 20 s).
    await clock.advance(1_000);
    await source.resync();
    expect(clock.nextTimerDelay()).toBe(2_000);

    await mkdir(dir);
    await writeFile(join(dir, 'web.yaml'), podManifest('web'));
    await clock.advance(2_000);
    await recorder.waitForNames(['web-node-1']);
    // And it is watched now.
    await writeFile(join(dir, 'db.yaml'), podManifest('db'));
    await recorder.waitForNames(['db-node-1', 'web-node-1']);
    expect(WATCH_MAX_RETRY_PERIOD_MS).toBe(20_000);
  });

  it('empties the set when the directory is removed, and recovers when it is re-created', async () => {
    await writeFile(join(dir, 'web.yaml'), podManifest('web'));
    const source = newSource();
    const recorder = started(source);
    await recorder.waitForNames(['web-node-1']);
    await rm(dir, { recursive: true });
    await source.resync();
    await recorder.waitForNames([]);
    await mkdir(dir);
    await writeFile(join(dir, 'web.yaml'), podManifest('web'));
    await clock.advance(1_000);
    await recorder.waitForNames(['web-node-1']);
    await writeFile(join(dir, 'db.yaml'), podManifest('db'));
    await recorder.waitForNames(['db-node-1', 'web-node-1']);
  });

  it('accepts a single manifest file as the path', async () => {
    const file = join(dir, 'only.yaml');
    await writeFile(file, podManifest('only', 'busybox:1'));
    const source = newSource({ path: file });
    const recorder = started(source);
    const first = await recorder.waitForNames(['only-node-1']);
    await writeFile(file, podManifest('only', 'busybox:2'));
    const second = await recorder.waitFor(
      (u) => u.pods[0]?.spec.containers[0]?.image === 'busybox:2',
    );
    expect(second.pods[0]?.metadata.uid).not.toBe(first.pods[0]?.metadata.uid);
    await writeFile(file, 'kind: Nope\n');
    await recorder.waitForNames([]);
    await clock.advance(WATCH_SETTLE_MS);
    await source.resync();
    expect(errors.at(-1)).toEqual({
      source: 'file',
      file,
      reason: 'not a v1 Pod (kind is "Nope", apiVersion is missing)',
    });
  });

  it('rejects files over 10 MiB without affecting the others', async () => {
    await writeFile(join(dir, 'good.yaml'), podManifest('good'));
    await writeFile(
      join(dir, 'huge.yaml'),
      `${podManifest('huge')}# ${'x'.repeat(MAX_CONFIG_LENGTH)}\n`,
    );
    const recorder = started(newSource({ watch: false }));
    await recorder.waitForNames(['good-node-1']);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.file).toBe(join(dir, 'huge.yaml'));
    expect(errors[0]?.reason).toMatch(/larger than the limit of 10485760 bytes/);
  });

  it('keeps the first of two files defining the same pod and reports the second', async () => {
    await writeFile(join(dir, 'a.yaml'), podManifest('web', 'nginx:1'));
    await writeFile(join(dir, 'b.yaml'), podManifest('web', 'nginx:2'));
    const recorder = started(newSource({ watch: false }));
    const update = await recorder.waitForNames(['web-node-1']);
    expect(update.pods[0]?.spec.containers[0]?.image).toBe('nginx:1');
    expect(errors).toEqual([
      {
        source: 'file',
        file: join(dir, 'b.yaml'),
        reason: `duplicate static pod default/web-node-1: already defined in ${join(dir, 'a.yaml')}`,
      },
    ]);
  });

  it('records a Warning event on the Node for a rejected manifest', async () => {
    const events: unknown[][] = [];
    const recorder: EventRecorder = { event: (...args) => events.push(args) };
    await writeFile(join(dir, 'bad.yaml'), 'garbage: [');
    const updates = started(newSource({ watch: false, recorder }));
    await updates.waitForNames([]);
    expect(events).toEqual([
      [
        { kind: 'Node', apiVersion: 'v1', name: NODE, uid: NODE },
        'Warning',
        'InvalidStaticPodManifest',
        expect.stringContaining(
          `Static pod manifest ${join(dir, 'bad.yaml')} rejected: invalid YAML`,
        ) as string,
      ],
    ]);
  });

  it('stop() cancels every timer and emits nothing more', async () => {
    await rm(dir, { recursive: true });
    const source = newSource({ resyncPeriodMs: 20_000 });
    const recorder = started(source);
    await recorder.waitForNames([]);
    expect(clock.pendingTimers()).toBe(2); // resync + missing-path retry
    await source.stop();
    expect(clock.pendingTimers()).toBe(0);
    const count = recorder.updates.length;
    await mkdir(dir);
    await writeFile(join(dir, 'web.yaml'), podManifest('web'));
    await clock.advance(60_000);
    await source.resync();
    expect(recorder.updates).toHaveLength(count);
  });

  it('unsubscribe stops delivery to that listener', async () => {
    await writeFile(join(dir, 'web.yaml'), podManifest('web'));
    const source = newSource({ watch: false });
    const seen: string[] = [];
    const unsubscribe = source.subscribe((u) =>
      seen.push(...u.pods.map((p) => p.metadata.name ?? '')),
    );
    unsubscribe();
    const recorder = started(source);
    await recorder.waitForNames(['web-node-1']);
    expect(seen).toEqual([]);
  });
});
