/**
 * Container lifecycle scenarios of the kubelet's own e2e suite, on the real `nodeagent`
 * process in API-server mode and the real containerd:
 *
 * - test/e2e/common/node/lifecycle_hook.go: postStart/preStop exec and httpGet hooks
 *   (also on a restartable init container), the preStop sleep action (within the grace
 *   period, cut by a shorter delete grace, zero seconds), and a failing postStart hook;
 * - test/e2e/common/node/init_container.go: the four conformance cases (RestartNever /
 *   RestartAlways, init containers succeeding or failing);
 * - test/e2e/common/node/runtime.go: exit codes and phases per restartPolicy,
 *   termination messages (non-root user at a non-default path, FallbackToLogsOnError),
 *   image pulls from a registry that does not exist and from a private registry
 *   without a secret;
 * - test/e2e_node/container_lifecycle_test.go (sidecars = init containers with
 *   restartPolicy Always): start order (a startup probe holds back what follows),
 *   restart, end of a Never pod, termination order on deletion;
 * - test/e2e/common/node/pods_fast_delete.go: pods deleted while starting never report
 *   a success they did not have, nor a start that did not happen.
 *
 * agnhost is emulated with busybox: hooks call an HTTP handler in this process on
 * 127.0.0.1 (the pods use the host network), long-running containers trap SIGTERM.
 * Independent scenarios run concurrently (describe.concurrent) to keep the file short.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  condition,
  containerStatus,
  obj,
  startApiModeHarness,
  uidOf,
  type ApiModeHarness,
  type Json,
} from './support/api-mode-harness.js';

const ns = 'e2e-life';
const env = realRuntime();

let h: ApiModeHarness;
/** Requests the hooks made to the handler, in arrival order (path only). */
const hookRequests: string[] = [];
let handler: Server;
let handlerPort = 0;
/** A fake private registry: every request is refused with 401 (no pull secret). */
let privateRegistry: Server;
let privateRegistryPort = 0;
/** Every version of every pod of the namespace the store held, by name (watch order). */
const history = new Map<string, Json[]>();
let unsubscribe: (() => void) | undefined;

async function listen(
  fn: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<[Server, number]> {
  const server = createServer(fn);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return [server, (server.address() as AddressInfo).port];
}

beforeAll(async () => {
  [handler, handlerPort] = await listen((req, res) => {
    hookRequests.push(req.url ?? '');
    res.end('ok');
  });
  [privateRegistry, privateRegistryPort] = await listen((_req, res) => {
    res.writeHead(401, {
      'Docker-Distribution-API-Version': 'registry/2.0',
      'WWW-Authenticate': 'Basic realm="private"',
      'Content-Type': 'application/json',
    });
    res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
  });
  h = await startApiModeHarness({ nodeName: 'e2e-life-node', namespaces: [ns] });
  unsubscribe = h.server.store.subscribe((e) => {
    if (e.resource.plural !== 'pods') return;
    const meta = obj(e.object.metadata);
    if (meta.namespace !== ns) return;
    const name = String(meta.name);
    history.set(name, [...(history.get(name) ?? []), e.object]);
  });
}, 60_000);

afterAll(async () => {
  unsubscribe?.();
  await h?.close();
  await new Promise<void>((r) => (handler ? handler.close(() => r()) : r()));
  await new Promise<void>((r) => (privateRegistry ? privateRegistry.close(() => r()) : r()));
}, 120_000);

// ------------------------------------------------------------------ helpers

/** A busybox container that runs until SIGTERM, then exits 0 (agnhost's `pause`). */
function runner(name: string, extra: Json = {}): Json {
  return {
    name,
    image: env.busyboxImage,
    command: ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait'],
    ...extra,
  };
}

/** An exec hook that calls the handler with `msg` (agnhost netexec's /echo?msg=). */
function callHandler(msg: string): Json {
  return {
    exec: {
      command: ['wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${handlerPort}/echo?msg=${msg}`],
    },
  };
}

const status = (name: string): Json => h.podStatus(ns, name);
const cs = (name: string, c: string, init = false): Json =>
  containerStatus(status(name), c, init) ?? {};
const stateOf = (s: Json): Json => obj(s.state);

async function waitPhase(name: string, phase: string, timeoutMs = 40_000): Promise<Json> {
  return h.waitFor(
    `${name} ${phase}`,
    () => (status(name).phase === phase ? status(name) : undefined),
    timeoutMs,
  );
}

async function waitReady(name: string): Promise<Json> {
  return h.waitFor(
    `${name} Ready`,
    () => (condition(status(name), 'Ready')?.status === 'True' ? status(name) : undefined),
    40_000,
  );
}

/** Deletes the pod (grace `grace`) and waits for the object and its containers to go. */
async function deleteAndGone(name: string, uid: string, grace?: number): Promise<void> {
  h.server.store.delete(h.pods, ns, name, grace === undefined ? {} : { gracePeriodSeconds: grace });
  await h.waitFor(`${name} deleted`, () => h.getPod(ns, name) === undefined, 45_000);
  await h.waitFor(
    `${name} containers removed`,
    async () => (await h.containersOf(uid)).length === 0,
    20_000,
  );
}

/** The last version of a pod the store held (also after its deletion). */
function lastSeen(name: string): Json {
  return history.get(name)?.at(-1) ?? {};
}

function eventsOf(name: string, uid: string): Json[] {
  return h.eventsFor(ns, name, uid);
}

// ------------------------------------------------------------------ scenarios

describe.concurrent('kubelet e2e: container lifecycle', () => {
  it('Container Lifecycle Hook: poststart/prestop exec and http hooks reach the handler; also on a restartable init container', async () => {
    const exec = h.createPod(ns, 'hook-exec', {
      containers: [
        runner('hook-exec', {
          lifecycle: {
            postStart: callHandler('poststart-exec'),
            preStop: callHandler('prestop-exec'),
          },
        }),
      ],
    });
    const http = h.createPod(ns, 'hook-http', {
      containers: [
        runner('hook-http', {
          lifecycle: {
            postStart: { httpGet: { path: '/echo?msg=poststart-http', port: handlerPort } },
            preStop: { httpGet: { path: '/echo?msg=prestop-http', port: handlerPort } },
          },
        }),
      ],
    });
    const sidecar = h.createPod(ns, 'hook-sidecar', {
      initContainers: [
        runner('hook-sidecar', {
          restartPolicy: 'Always',
          lifecycle: {
            postStart: callHandler('poststart-sidecar'),
            preStop: callHandler('prestop-sidecar'),
          },
        }),
      ],
      containers: [runner('main')],
    });
    // An HTTPS hook on a plain-HTTP handler: retried over HTTP (kubelet LifecycleHTTPFallback).
    const https = h.createPod(ns, 'hook-https', {
      containers: [
        runner('hook-https', {
          lifecycle: {
            postStart: {
              httpGet: { path: '/echo?msg=poststart-https', port: handlerPort, scheme: 'HTTPS' },
            },
          },
        }),
      ],
    });
    await Promise.all(['hook-exec', 'hook-http', 'hook-sidecar', 'hook-https'].map(waitReady));
    for (const msg of ['poststart-exec', 'poststart-http', 'poststart-sidecar', 'poststart-https'])
      expect(hookRequests).toContain(`/echo?msg=${msg}`);
    const fallback = await h.waitFor('the LifecycleHTTPFallback event', () =>
      h.eventsFor(ns, 'hook-https').find((e) => e.reason === 'LifecycleHTTPFallback'),
    );
    expect(fallback).toMatchObject({ type: 'Warning' });
    expect(String(fallback.message)).toMatch(
      new RegExp(
        `^request to HTTPS lifecycle hook .+:${handlerPort} got HTTP response, retry with HTTP succeeded$`,
      ),
    );
    expect(hookRequests.some((p) => p.includes('prestop'))).toBe(false);
    // podClient.DeleteSync(…, NewDeleteOptions(15)): the preStop hooks ran before the end.
    await Promise.all([
      deleteAndGone('hook-exec', uidOf(exec), 15),
      deleteAndGone('hook-http', uidOf(http), 15),
      deleteAndGone('hook-sidecar', uidOf(sidecar), 15),
      deleteAndGone('hook-https', uidOf(https), 15),
    ]);
    for (const msg of ['prestop-exec', 'prestop-http', 'prestop-sidecar'])
      expect(hookRequests).toContain(`/echo?msg=${msg}`);
  });

  it('Lifecycle Sleep Hook: prestop sleep within the grace period, cut by a shorter delete grace, zero seconds returns at once', async () => {
    const sleeper = (name: string, seconds: number, grace: number): Json =>
      h.createPod(ns, name, {
        terminationGracePeriodSeconds: grace,
        containers: [runner(name, { lifecycle: { preStop: { sleep: { seconds } } } })],
      });
    const valid = sleeper('sleep-valid', 4, 10);
    const reduced = sleeper('sleep-reduce', 25, 30);
    const zero = sleeper('sleep-zero', 0, 30);
    await Promise.all(['sleep-valid', 'sleep-reduce', 'sleep-zero'].map(waitReady));
    const finishedAfterDelete = async (
      name: string,
      uid: string,
      grace?: number,
    ): Promise<number> => {
      const deletedAt = Date.now();
      await deleteAndGone(name, uid, grace);
      const terminated = obj(
        stateOf(containerStatus(obj(lastSeen(name).status), name) ?? {}).terminated,
      );
      expect(terminated.finishedAt, `${name} final status`).toBeDefined();
      return Date.parse(String(terminated.finishedAt)) - deletedAt;
    };
    const [v, r, z] = await Promise.all([
      finishedAfterDelete('sleep-valid', uidOf(valid)),
      finishedAfterDelete('sleep-reduce', uidOf(reduced), 3),
      finishedAfterDelete('sleep-zero', uidOf(zero)),
    ]);
    // finishedAt has second precision: ±1 s. sleep 4 s within grace 10 s.
    expect(v).toBeGreaterThanOrEqual(3_000 - 1_000);
    expect(v).toBeLessThan(10_000);
    // the delete's grace of 3 s cuts the 25 s sleep (and the spec's 30 s grace).
    expect(r).toBeGreaterThanOrEqual(2_000 - 1_000);
    expect(r).toBeLessThan(12_000);
    // zero seconds: no wait (the container exits on SIGTERM at once).
    expect(z).toBeLessThan(3_000);
  });

  it('a failing postStart hook: Warning FailedPostStartHook "PostStartHook failed", killed; Never: Terminated and Failed, Always: PostStartHookError and restarted', async () => {
    const hook = { exec: { command: ['sh', '-c', 'echo hook says no >&2; exit 1'] } };
    // Exits 1 on SIGTERM (a container that exits 0 when killed would end Succeeded).
    const never = h.createPod(ns, 'poststart-fail-never', {
      restartPolicy: 'Never',
      containers: [
        runner('main', {
          command: ['sh', '-c', 'trap "exit 1" TERM; sleep 3600 & wait'],
          lifecycle: { postStart: hook },
        }),
      ],
    });
    const always = h.createPod(ns, 'poststart-fail-always', {
      containers: [runner('main', { lifecycle: { postStart: hook } })],
    });
    const failed = await waitPhase('poststart-fail-never', 'Failed');
    const main = containerStatus(failed, 'main') ?? {};
    expect(stateOf(main).waiting).toBeUndefined();
    expect(obj(stateOf(main).terminated).exitCode).toBe(1);
    expect(main.restartCount).toBe(0);
    const reasons = (name: string, uid: string): Json[] =>
      eventsOf(name, uid).map((e) => ({ type: e.type, reason: e.reason, message: e.message }));
    expect(reasons('poststart-fail-never', uidOf(never))).toEqual(
      expect.arrayContaining([
        { type: 'Warning', reason: 'FailedPostStartHook', message: 'PostStartHook failed' },
        { type: 'Normal', reason: 'Killing', message: 'FailedPostStartHook' },
      ]),
    );
    await h.waitFor('poststart-fail-always restarted', () =>
      Number(cs('poststart-fail-always', 'main').restartCount) >= 1 ? true : undefined,
    );
    const waited = (history.get('poststart-fail-always') ?? [])
      .map((p) => obj(stateOf(containerStatus(obj(p.status), 'main') ?? {}).waiting))
      .find((w) => w.reason === 'PostStartHookError');
    expect(waited?.message).toMatch(
      /^Exec lifecycle hook \(\[sh -c echo hook says no >&2; exit 1\]\) for Container "main" in Pod "poststart-fail-always_e2e-life\(.+\)" failed - error: command '.*' exited with 1: hook says no\n, message: "hook says no\\n"$/,
    );
    await Promise.all([
      deleteAndGone('poststart-fail-never', uidOf(never), 0),
      deleteAndGone('poststart-fail-always', uidOf(always), 0),
    ]);
  });

  it('InitContainer: the four conformance cases (RestartNever / RestartAlways, init containers succeeding or failing)', async () => {
    const t = (name: string): Json => ({ name, image: env.busyboxImage, command: ['/bin/true'] });
    const f = (name: string): Json => ({ name, image: env.busyboxImage, command: ['/bin/false'] });
    const pods = {
      // should invoke init containers on a RestartNever pod
      'init-never-ok': h.createPod(ns, 'init-never-ok', {
        restartPolicy: 'Never',
        initContainers: [t('init1'), t('init2')],
        containers: [t('run1')],
      }),
      // should invoke init containers on a RestartAlways pod
      'init-always-ok': h.createPod(ns, 'init-always-ok', {
        initContainers: [t('init1'), t('init2')],
        containers: [runner('run1', { resources: { limits: { cpu: '100m' } } })],
      }),
      // should not start app containers if init containers fail on a RestartAlways pod
      'init-always-fail': h.createPod(ns, 'init-always-fail', {
        initContainers: [f('init1'), t('init2')],
        containers: [runner('run1', { resources: { limits: { cpu: '100m' } } })],
      }),
      // should not start app containers and fail the pod if init containers fail on a RestartNever pod
      'init-never-fail': h.createPod(ns, 'init-never-fail', {
        restartPolicy: 'Never',
        initContainers: [t('init1'), f('init2')],
        containers: [t('run1')],
      }),
    };
    const initStatuses = (s: Json): Json[] =>
      (Array.isArray(s.initContainerStatuses) ? s.initContainerStatuses : []).map(obj);

    const [neverOk, alwaysOk, neverFail] = await Promise.all([
      waitPhase('init-never-ok', 'Succeeded'),
      waitReady('init-always-ok'),
      waitPhase('init-never-fail', 'Failed'),
    ]);
    for (const s of [neverOk, alwaysOk]) {
      expect(condition(s, 'Initialized')?.status).toBe('True');
      expect(initStatuses(s)).toHaveLength(2);
      for (const i of initStatuses(s)) {
        expect(i.ready).toBe(true);
        expect(obj(stateOf(i).terminated).exitCode).toBe(0);
      }
    }
    expect(alwaysOk.phase).toBe('Running');
    expect(condition(neverFail, 'Initialized')).toMatchObject({
      status: 'False',
      reason: 'ContainersNotInitialized',
      message: 'containers with incomplete status: [init2]',
    });
    expect(initStatuses(neverFail).map((i) => obj(stateOf(i).terminated).exitCode)).toEqual([0, 1]);
    expect(stateOf(containerStatus(neverFail, 'run1') ?? {}).waiting).toBeDefined();

    // The failing init container of the RestartAlways pod is retried (0 s, then 10 s
    // back-off; the kubelet test waits for 3 restarts, 2 are enough to show it).
    const alwaysFail = await h.waitFor(
      'init-always-fail init1 restarted twice',
      () => {
        const s = status('init-always-fail');
        return Number(initStatuses(s)[0]?.restartCount ?? 0) >= 2 ? s : undefined;
      },
      40_000,
    );
    expect(alwaysFail.phase).toBe('Pending');
    expect(condition(alwaysFail, 'Initialized')).toMatchObject({
      status: 'False',
      reason: 'ContainersNotInitialized',
      message: 'containers with incomplete status: [init1 init2]',
    });
    expect(obj(obj(initStatuses(alwaysFail)[0]?.lastState).terminated).exitCode).toBe(1);
    expect(obj(stateOf(initStatuses(alwaysFail)[1] ?? {}).waiting).reason).toBe('PodInitializing');
    expect(obj(stateOf(containerStatus(alwaysFail, 'run1') ?? {}).waiting).reason).toBe(
      'PodInitializing',
    );
    // The invariant of every version seen: no app container ever left Waiting while
    // an init container had not completed.
    for (const name of ['init-always-fail', 'init-never-fail']) {
      for (const p of history.get(name) ?? []) {
        const s = containerStatus(obj(p.status), 'run1');
        if (s) expect(stateOf(s).waiting, `${name} run1 started`).toBeDefined();
      }
    }
    await Promise.all(Object.entries(pods).map(([name, p]) => deleteAndGone(name, uidOf(p), 0)));
  });

  it('Container Runtime: exit codes, restart counts and phases per restartPolicy (terminate-cmd-rpa/rpof/rpn)', async () => {
    // Fails the 1st run, succeeds the 2nd, then runs forever (runtime.go).
    const script =
      'f=/restart-count/restartCount; count=$(echo hello >> $f; wc -l < $f); ' +
      'if [ $count -eq 1 ]; then exit 1; fi; if [ $count -eq 2 ]; then exit 0; fi; ' +
      'trap "exit 0" TERM; sleep 3600 & wait';
    const make = (name: string, restartPolicy: string): Json =>
      h.createPod(ns, name, {
        restartPolicy,
        containers: [
          {
            name,
            image: env.busyboxImage,
            command: ['sh', '-c', script],
            volumeMounts: [{ name: 'restart-count', mountPath: '/restart-count' }],
          },
        ],
        volumes: [{ name: 'restart-count', emptyDir: {} }],
      });
    const cases = [
      { name: 'terminate-cmd-rpa', policy: 'Always', phase: 'Running', restarts: 2, ready: true },
      {
        name: 'terminate-cmd-rpof',
        policy: 'OnFailure',
        phase: 'Succeeded',
        restarts: 1,
        ready: false,
      },
      { name: 'terminate-cmd-rpn', policy: 'Never', phase: 'Failed', restarts: 0, ready: false },
    ];
    const created = cases.map((c) => make(c.name, c.policy));
    await Promise.all(
      cases.map(async (c) => {
        const s = await h.waitFor(
          `${c.name} restartCount ${c.restarts}, ${c.phase}`,
          () => {
            const st = status(c.name);
            const main = containerStatus(st, c.name) ?? {};
            const stable = c.phase === 'Running' ? stateOf(main).running !== undefined : true;
            return main.restartCount === c.restarts && st.phase === c.phase && stable
              ? st
              : undefined;
          },
          40_000,
        );
        const main = containerStatus(s, c.name) ?? {};
        expect(condition(s, 'Ready')?.status, c.name).toBe(c.ready ? 'True' : 'False');
        expect(Object.keys(stateOf(main)), c.name).toEqual([
          c.phase === 'Running' ? 'running' : 'terminated',
        ]);
      }),
    );
    await Promise.all(cases.map((c, i) => deleteAndGone(c.name, uidOf(created[i]), 0)));
  });

  it('Container Runtime: termination message as non-root at a non-default path; FallbackToLogsOnError on success: empty, or the file', async () => {
    const created = h.createPod(ns, 'termination-message', {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'non-root',
          image: env.busyboxImage,
          command: ['/bin/sh', '-c'],
          args: ['/bin/echo -n DONE > /dev/termination-custom-log'],
          terminationMessagePath: '/dev/termination-custom-log',
          securityContext: { runAsUser: 10000 },
        },
        {
          name: 'logs-on-success',
          image: env.busyboxImage,
          command: ['/bin/sh', '-c'],
          args: ['/bin/echo -n DONE; /bin/true'],
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'FallbackToLogsOnError',
        },
        {
          name: 'file-on-success',
          image: env.busyboxImage,
          command: ['/bin/sh', '-c'],
          args: ['/bin/echo -n OK > /dev/termination-log; /bin/echo DONE; /bin/true'],
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'FallbackToLogsOnError',
        },
      ],
    });
    const s = await waitPhase('termination-message', 'Succeeded');
    const message = (c: string): unknown =>
      obj(stateOf(containerStatus(s, c) ?? {}).terminated).message;
    expect(message('non-root')).toBe('DONE');
    expect(message('logs-on-success') ?? '').toBe('');
    expect(message('file-on-success')).toBe('OK');
    await deleteAndGone('termination-message', uidOf(created), 0);
  });

  it('Container Runtime: no pull from a registry that does not exist, nor from a private registry without a secret: Pending, ErrImagePull / ImagePullBackOff', async () => {
    const pull = (name: string, image: string): Json =>
      h.createPod(ns, name, {
        restartPolicy: 'Never',
        containers: [
          {
            name: 'image-pull-test',
            image,
            imagePullPolicy: 'Always',
            command: ['/bin/sh', '-c', 'while true; do sleep 1; done'],
          },
        ],
      });
    const invalid = pull('pull-invalid-registry', '127.0.0.1:1/invalid/alpine:3.1');
    const priv = pull(
      'pull-private-no-secret',
      `127.0.0.1:${privateRegistryPort}/private/alpine:3.1`,
    );
    for (const name of ['pull-invalid-registry', 'pull-private-no-secret']) {
      const waiting = await h.waitFor(`${name} ErrImagePull`, () => {
        const w = obj(stateOf(cs(name, 'image-pull-test')).waiting);
        return w.reason === 'ErrImagePull' || w.reason === 'ImagePullBackOff' ? w : undefined;
      });
      expect(status(name).phase).toBe('Pending');
      expect(String(waiting.message)).toContain('127.0.0.1:');
    }
    expect(
      eventsOf('pull-private-no-secret', uidOf(priv)).some(
        (e) => e.reason === 'Failed' && String(e.message).includes('Failed to pull image'),
      ),
    ).toBe(true);
    await Promise.all([
      deleteAndGone('pull-invalid-registry', uidOf(invalid), 0),
      deleteAndGone('pull-private-no-secret', uidOf(priv), 0),
    ]);
  });

  it('Containers Lifecycle (sidecars): started in order, the second only once the first passed its startup probe, then the init container, then the app container', async () => {
    const created = h.createPod(ns, 'sidecar-order', {
      initContainers: [
        {
          name: 'side-1',
          image: env.busyboxImage,
          restartPolicy: 'Always',
          command: [
            'sh',
            '-c',
            'trap "exit 0" TERM; sleep 2; touch /tmp/started; sleep 3600 & wait',
          ],
          startupProbe: {
            exec: { command: ['test', '-f', '/tmp/started'] },
            periodSeconds: 1,
            failureThreshold: 30,
          },
        },
        runner('side-2', { restartPolicy: 'Always' }),
        { name: 'init-3', image: env.busyboxImage, command: ['/bin/true'] },
      ],
      containers: [runner('main')],
    });
    const s = await waitReady('sidecar-order');
    expect(condition(s, 'Initialized')?.status).toBe('True');
    const started: Record<string, number> = {};
    for (const c of await h.containersOf(uidOf(created))) {
      const st = (await h.cri.containerStatus({ containerId: c.id })).status;
      started[c.metadata?.name ?? ''] = Number(st?.startedAt ?? 0) / 1e6;
    }
    expect(started['side-1']).toBeGreaterThan(0);
    // side-2 waited for side-1's startup probe (side-1 is ready after 2 s).
    expect(started['side-2']! - started['side-1']!).toBeGreaterThanOrEqual(1_900);
    expect(started['init-3']).toBeGreaterThan(started['side-2']!);
    expect(started.main).toBeGreaterThan(started['init-3']!);
    expect(containerStatus(s, 'side-1', true)).toMatchObject({ started: true, ready: true });
    await deleteAndGone('sidecar-order', uidOf(created), 0);
  });

  it('Containers Lifecycle (sidecars): a sidecar that exits is restarted while the app container runs on; in a Never pod sidecars are stopped once the app container completed', async () => {
    const restarting = h.createPod(ns, 'sidecar-restart', {
      restartPolicy: 'Never',
      initContainers: [
        {
          name: 'side',
          image: env.busyboxImage,
          restartPolicy: 'Always',
          command: ['sh', '-c', 'sleep 1; exit 1'],
        },
      ],
      containers: [runner('main')],
    });
    const completing = h.createPod(ns, 'sidecar-completes', {
      restartPolicy: 'Never',
      initContainers: [
        runner('side-1', { restartPolicy: 'Always' }),
        runner('side-2', { restartPolicy: 'Always' }),
      ],
      containers: [
        { name: 'main', image: env.busyboxImage, command: ['sh', '-c', 'sleep 2; exit 0'] },
      ],
    });
    const restarted = await h.waitFor('sidecar-restart side restarted', () => {
      const s = status('sidecar-restart');
      return Number(containerStatus(s, 'side', true)?.restartCount ?? 0) >= 1 ? s : undefined;
    });
    expect(restarted.phase).toBe('Running');
    expect(containerStatus(restarted, 'main')).toMatchObject({ restartCount: 0 });
    expect(stateOf(containerStatus(restarted, 'main') ?? {}).running).toBeDefined();

    const done = await waitPhase('sidecar-completes', 'Succeeded');
    expect(obj(stateOf(containerStatus(done, 'main') ?? {}).terminated).exitCode).toBe(0);
    for (const side of ['side-1', 'side-2'])
      expect(stateOf(containerStatus(done, side, true) ?? {}).terminated, side).toBeDefined();
    expect(
      (await h.containersOf(uidOf(completing))).every((c) => c.state === 'CONTAINER_EXITED'),
    ).toBe(true);
    await Promise.all([
      deleteAndGone('sidecar-restart', uidOf(restarting), 0),
      deleteAndGone('sidecar-completes', uidOf(completing), 0),
    ]);
  });

  it('Containers Lifecycle (sidecars): on deletion every preStop hook runs at once, the app container exits first, then the sidecars in reverse order of definition', async () => {
    // Each container calls the handler from its preStop hook and again on SIGTERM.
    const container = (c: string, extra: Json = {}): Json =>
      runner(c, {
        command: [
          'sh',
          '-c',
          `trap "wget -q -O /dev/null 'http://127.0.0.1:${handlerPort}/echo?msg=exit-${c}'; exit 0" TERM; sleep 3600 & wait`,
        ],
        lifecycle: { preStop: callHandler(`prestop-${c}`) },
        ...extra,
      });
    const created = h.createPod(ns, 'sidecar-termination', {
      terminationGracePeriodSeconds: 10,
      initContainers: [
        container('side-1', { restartPolicy: 'Always' }),
        container('side-2', { restartPolicy: 'Always' }),
      ],
      containers: [container('main')],
    });
    await waitReady('sidecar-termination');
    await deleteAndGone('sidecar-termination', uidOf(created));
    const seen = hookRequests
      .filter((p) => /msg=(exit|prestop)-(main|side-)/.test(p))
      .map((p) => p.replace('/echo?msg=', ''));
    expect(seen.filter((p) => p.startsWith('exit-'))).toEqual([
      'exit-main',
      'exit-side-2',
      'exit-side-1',
    ]);
    // The sidecars' preStop hooks did not wait for the app container to exit.
    for (const c of ['main', 'side-1', 'side-2'])
      expect(seen.indexOf(`prestop-${c}`), c).toBeLessThan(seen.indexOf('exit-side-2'));
    const final = obj(lastSeen('sidecar-termination').status);
    for (const side of ['side-1', 'side-2'])
      expect(obj(stateOf(containerStatus(final, side, true) ?? {}).terminated).exitCode, side).toBe(
        0,
      );
  });

  it('Containers Lifecycle: the second container is started only after the PostStart hook of the first completed', async () => {
    const created = h.createPod(ns, 'poststart-order', {
      containers: [
        runner('first', { lifecycle: { postStart: { exec: { command: ['sleep', '2'] } } } }),
        runner('second'),
      ],
    });
    await waitReady('poststart-order');
    const started: Record<string, number> = {};
    for (const c of await h.containersOf(uidOf(created))) {
      const st = (await h.cri.containerStatus({ containerId: c.id })).status;
      started[c.metadata?.name ?? ''] = Number(st?.startedAt ?? 0) / 1e6;
    }
    expect(started.first).toBeGreaterThan(0);
    expect(started.second! - started.first!).toBeGreaterThanOrEqual(1_900);
    await deleteAndGone('poststart-order', uidOf(created), 0);
  });

  it('Pods Fast Delete: never reports success for a pending container, nor a start of the container blocked by a failing init container', async () => {
    const spec = (init: boolean): Json =>
      init
        ? {
            restartPolicy: 'Never',
            terminationGracePeriodSeconds: 1,
            initContainers: [{ name: 'fail', image: env.busyboxImage, command: ['/bin/false'] }],
            containers: [{ name: 'blocked', image: env.busyboxImage, command: ['/bin/true'] }],
          }
        : {
            restartPolicy: 'Never',
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'fail', image: env.busyboxImage, command: ['/bin/false'] }],
          };
    const runs = [0, 600, 1_200].flatMap((delay, i) =>
      [false, true].map(async (init) => {
        const name = `fast-delete-${init ? 'init' : 'plain'}-${i}`;
        const created = h.createPod(ns, name, spec(init));
        await new Promise((r) => setTimeout(r, delay));
        await deleteAndGone(name, uidOf(created));
        return name;
      }),
    );
    for (const name of await Promise.all(runs)) {
      let terminatedSeen = false;
      let terminalSeen = false;
      for (const p of history.get(name) ?? []) {
        const s = obj(p.status);
        const fail = containerStatus(s, 'fail') ?? containerStatus(s, 'fail', true);
        const blocked = containerStatus(s, 'blocked');
        if (blocked) {
          expect(blocked.started === true, `${name} blocked started`).toBe(false);
          expect(obj(blocked.lastState).terminated, `${name} blocked lastState`).toBeUndefined();
          expect(stateOf(blocked).waiting, `${name} blocked waiting`).toBeDefined();
        }
        const t = fail ? obj(stateOf(fail).terminated) : {};
        if (fail && stateOf(fail).terminated) {
          terminatedSeen = true;
          const ok =
            t.exitCode === 1 ||
            (t.exitCode === 137 && (t.reason === 'ContainerStatusUnknown' || t.reason === 'Error'));
          expect(ok, `${name} exit ${String(t.exitCode)} ${String(t.reason)}`).toBe(true);
        } else if (fail && terminatedSeen) {
          throw new Error(`${name}: terminated and then changed state: ${JSON.stringify(fail)}`);
        }
        if (s.phase === 'Failed' || s.phase === 'Succeeded') terminalSeen = true;
        else if (terminalSeen && s.phase !== undefined)
          throw new Error(`${name}: terminal phase reverted to ${JSON.stringify(s.phase)}`);
      }
      const final = obj(lastSeen(name).status);
      if (!terminalSeen) {
        const running = (Array.isArray(final.containerStatuses) ? final.containerStatuses : [])
          .map(obj)
          .filter((c) => stateOf(c).running);
        expect(running, `${name} running containers at the end`).toEqual([]);
        expect(final.phase ?? 'Pending', name).toBe('Pending');
      }
    }
  });
});
