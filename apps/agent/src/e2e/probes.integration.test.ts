/**
 * Kubelet e2e parity for probes: the scenarios of kubernetes/kubernetes
 * test/e2e/common/node/container_probe.go ("Probing container" and "Probing
 * restartable init container") run against the real `nodeagent` process on the real
 * containerd, pods created through the API server, statuses and events read back from
 * it. Timings are scaled down (periods of 1 s, delays of 1–3 s, small grace periods);
 * the assertions are the kubelet e2e's: restart counts, Ready never/only after the
 * delay, the ProbeWarning event of a non-local redirect, the probe-level grace period,
 * readiness dropped and liveness disabled while the pod terminates.
 *
 * There is no agnhost: `httpd` of busybox serves /healthz (a file the container
 * removes to make it fail) and a CGI redirect; the gRPC health server is a small
 * HTTP/2 server in this process on 127.0.0.1 (the pods use the host network, so the
 * probe reaches it like agnhost's in the pod).
 */
import * as http2 from 'node:http2';
import { encodeHealthCheckResponse, healthCheckPath } from '@nodeagent/probe-manager';
import { freeLoopbackPort } from '@nodeagent/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  condition,
  containerStatus,
  obj,
  startApiModeHarness,
  type ApiModeHarness,
  type Json,
} from './support/api-mode-harness.js';

const ns = 'e2e-probes';

let h: ApiModeHarness;
let grpcServer: http2.Http2Server | undefined;
let grpcPort = 0;
const grpcSessions = new Set<http2.ServerHttp2Session>();

/** A grpc.health.v1 server answering SERVING for every service (agnhost `grpc-health-checking`). */
async function startGrpcHealth(): Promise<void> {
  grpcServer = http2.createServer();
  grpcServer.on('session', (s) => {
    grpcSessions.add(s);
    s.on('close', () => grpcSessions.delete(s));
  });
  grpcServer.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    stream.resume();
    stream.on('end', () => {
      const ok = headers[':path'] === healthCheckPath;
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc' },
        { waitForTrailers: true },
      );
      stream.on('wantTrailers', () =>
        stream.sendTrailers({ 'grpc-status': ok ? '0' : '12', 'grpc-message': '' }),
      );
      if (ok) {
        const msg = Buffer.from(encodeHealthCheckResponse(1));
        const frame = Buffer.alloc(5 + msg.length);
        frame.writeUInt32BE(msg.length, 1);
        msg.copy(frame, 5);
        stream.end(frame);
      } else {
        stream.end();
      }
    });
  });
  grpcPort = await freeLoopbackPort();
  await new Promise<void>((resolve) => grpcServer?.listen(grpcPort, '127.0.0.1', resolve));
}

beforeAll(async () => {
  await startGrpcHealth();
  h = await startApiModeHarness({ nodeName: 'e2e-probes-node', namespaces: [ns] });
}, 60_000);

afterAll(async () => {
  await h?.close();
  for (const s of grpcSessions) s.destroy();
  await new Promise<void>((resolve) =>
    grpcServer ? grpcServer.close(() => resolve()) : resolve(),
  );
}, 60_000);

const busybox = (): string => {
  // realRuntime() is read by the harness; the sleeper carries the image.
  return String(h.sleeper('x').image);
};

/** The status of container `name` (init container with `init`). */
function cs(pod: string, name = 'c', init = false): Json {
  return obj(containerStatus(h.podStatus(ns, pod), name, init));
}

function restarts(pod: string, name = 'c', init = false): number {
  const n = cs(pod, name, init).restartCount;
  return typeof n === 'number' ? n : 0;
}

function events(pod: string, reason: string): Json[] {
  return h.eventsFor(ns, pod).filter((e) => e.reason === reason);
}

/**
 * Waits for an event of `reason` about `pod` whose message is `message` (or matches
 * it); the recorder posts events asynchronously. Returns the event.
 */
function eventFor(pod: string, reason: string, message: string | RegExp): Promise<Json> {
  const matches = (m: string): boolean =>
    typeof message === 'string' ? m === message : message.test(m);
  return h.waitFor(
    `${reason} event of ${pod}: ${String(message)}`,
    () => events(pod, reason).find((e) => matches(String(e.message))),
    15_000,
  );
}

function isReady(pod: string): boolean {
  return condition(h.podStatus(ns, pod), 'Ready')?.status === 'True';
}

/** Waits until the container of `pod` runs; returns its startedAt in ms. */
async function running(pod: string, name = 'c', init = false): Promise<number> {
  const started = await h.waitFor(`${pod}/${name} running`, () => {
    const r = obj(obj(cs(pod, name, init).state).running);
    return typeof r.startedAt === 'string' ? Date.parse(r.startedAt) : undefined;
  });
  return started;
}

/**
 * Observes that the restart count stays 0 for `seconds` of probing after the container
 * started (the e2e's `RunLivenessTest(..., 0, ...)`), polling the status throughout.
 */
async function neverRestarted(
  pod: string,
  seconds: number,
  name = 'c',
  init = false,
): Promise<void> {
  const startedAt = await running(pod, name, init);
  const until = startedAt + seconds * 1000;
  while (Date.now() < until) {
    if (restarts(pod, name, init) !== 0)
      throw new Error(`${pod}/${name} restarted: ${JSON.stringify(cs(pod, name, init))}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  if (restarts(pod, name, init) !== 0) throw new Error(`${pod}/${name} restarted`);
}

/** Waits for restartCount ≥ n; returns the status. */
function restartedTimes(pod: string, n: number, name = 'c', init = false): Promise<Json> {
  return h.waitFor(
    `${pod}/${name} restartCount ${n}`,
    () => (restarts(pod, name, init) >= n ? cs(pod, name, init) : undefined),
    40_000,
  );
}

/** Never Ready (and not restarted) for `seconds` after the container started. */
async function neverReady(pod: string, seconds: number, name = 'c', init = false): Promise<void> {
  const startedAt = await running(pod, name, init);
  const until = startedAt + seconds * 1000;
  while (Date.now() < until) {
    if (isReady(pod)) throw new Error(`${pod} became Ready`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const st = h.podStatus(ns, pod);
  if (isReady(pod) || st.phase !== 'Running') throw new Error(`${pod}: ${JSON.stringify(st)}`);
  if (restarts(pod, name, init) !== 0) throw new Error(`${pod} restarted`);
}

/**
 * A busybox shell script serving /tmp/www on 127.0.0.1:`port` (httpd): `/healthz`
 * answers 200 until `failAfter` seconds, then 404 (the agnhost `liveness` server);
 * `/cgi-bin/redirect?<location>` answers 302 to `<location>` with agnhost's body.
 */
function webServer(port: number, failAfter?: number): Json {
  const cgi = [
    '#!/bin/sh',
    'printf "Status: 302 Found\\r\\nLocation: %s\\r\\nContent-Type: text/html\\r\\n\\r\\n<a href=\\"%s\\">Found</a>.\\n" "$QUERY_STRING" "$QUERY_STRING"',
    '',
  ].join('\n');
  const script = [
    'mkdir -p /tmp/www/cgi-bin',
    'echo ok > /tmp/www/healthz',
    'echo ok > /tmp/www/index.html',
    'printf "%s" "$REDIRECT_CGI" > /tmp/www/cgi-bin/redirect',
    'chmod +x /tmp/www/cgi-bin/redirect',
    `httpd -f -p 127.0.0.1:${port} -h /tmp/www &`,
    'trap "exit 0" TERM',
    failAfter === undefined ? '' : `sleep ${failAfter}; rm -f /tmp/www/healthz`,
    'while true; do sleep 1; done',
  ]
    .filter(Boolean)
    .join('\n');
  return { command: ['sh', '-c', script], env: [{ name: 'REDIRECT_CGI', value: cgi }] };
}

/** A container named `c` with `extra` (probes, command). */
function c(extra: Json): Json {
  return { name: 'c', image: busybox(), command: ['sleep', '600'], ...extra };
}

const exec = (...command: string[]): Json => ({ exec: { command } });

/** A pod whose only app container is `main` (a sleeper) and whose sidecar is `sidecar`. */
function sidecarPod(sidecar: Json, grace = 1): Json {
  return {
    terminationGracePeriodSeconds: grace,
    initContainers: [{ ...c(sidecar), name: 'sidecar', restartPolicy: 'Always' }],
    containers: [
      h.sleeper('main', {
        command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'],
      }),
    ],
  };
}

/** One kubelet e2e case: its name and its body. */
type Scenario = [name: string, run: () => Promise<void>];

/**
 * Runs scenarios concurrently (their pods share the node, as in the kubelet e2e) and
 * fails with every failed scenario's name and reason.
 */
async function runScenarios(list: readonly Scenario[]): Promise<void> {
  const results = await Promise.allSettled(list.map(([, run]) => run()));
  const failures = results.flatMap((r, i) =>
    r.status === 'rejected'
      ? [
          `${list[i]?.[0] ?? '?'}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`,
        ]
      : [],
  );
  if (failures.length > 0) throw new Error(failures.join('\n\n'));
}

/** The scenarios of `list` whose name contains one of `parts`. */
function pick(list: readonly Scenario[], ...parts: string[]): Scenario[] {
  const out = list.filter(([name]) => parts.some((p) => name.includes(p)));
  if (out.length !== parts.length)
    throw new Error(`pick: ${parts.join(', ')} matched ${out.length}`);
  return out;
}

/** The "Probing container" cases, in the order of container_probe.go. */
const probingContainer: Scenario[] = [
  [
    '[Conformance] with readiness probe should not be ready before initial delay and never restart',
    async () => {
      const port = await freeLoopbackPort();
      h.createPod(ns, 'ready-delay', {
        containers: [
          c({
            ...webServer(port),
            ports: [{ containerPort: port }],
            readinessProbe: {
              httpGet: { path: '/', port },
              initialDelaySeconds: 3,
              periodSeconds: 1,
            },
          }),
        ],
      });
      const startedAt = await running('ready-delay');
      await h.waitFor('ready-delay Ready', () => isReady('ready-delay'));
      const readyAt = Date.parse(
        String(condition(h.podStatus(ns, 'ready-delay'), 'Ready')?.lastTransitionTime),
      );
      expect(readyAt - startedAt).toBeGreaterThanOrEqual(3000);
      expect(restarts('ready-delay')).toBe(0);
      expect(cs('ready-delay').ready).toBe(true);
      expect(cs('ready-delay').started).toBe(true);
    },
  ],

  [
    '[Conformance] with readiness probe that fails should never be ready and never restart',
    async () => {
      // The kubelet e2e probes port 81 of a server on port 80: nothing listens there.
      const [port, wrongPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
      h.createPod(ns, 'ready-fail', {
        containers: [
          c({
            ...webServer(port),
            readinessProbe: { httpGet: { path: '/', port: wrongPort }, periodSeconds: 1 },
          }),
        ],
      });
      await neverReady('ready-fail', 6);
    },
  ],

  [
    'should not be ready with an exec readiness probe timeout',
    async () => {
      h.createPod(ns, 'ready-exec-timeout', {
        containers: [
          c({
            readinessProbe: {
              ...exec('/bin/sh', '-c', 'sleep 10'),
              initialDelaySeconds: 1,
              timeoutSeconds: 1,
              failureThreshold: 1,
              periodSeconds: 1,
            },
          }),
        ],
      });
      await neverReady('ready-exec-timeout', 6);
      await eventFor(
        'ready-exec-timeout',
        'Unhealthy',
        'Readiness probe failed: command "/bin/sh -c sleep 10" timed out',
      );
    },
  ],

  [
    '[Conformance] should be restarted with a exec "cat /tmp/health" liveness probe',
    async () => {
      h.createPod(ns, 'live-exec', {
        terminationGracePeriodSeconds: 1,
        containers: [
          c({
            command: [
              '/bin/sh',
              '-c',
              'echo ok >/tmp/health; sleep 3; rm -rf /tmp/health; sleep 600',
            ],
            livenessProbe: {
              ...exec('cat', '/tmp/health'),
              initialDelaySeconds: 1,
              periodSeconds: 1,
              timeoutSeconds: 5,
              failureThreshold: 1,
            },
          }),
        ],
      });
      const status = await restartedTimes('live-exec', 1);
      expect(obj(obj(status.lastState).terminated).exitCode).toBe(137);
      await eventFor(
        'live-exec',
        'Unhealthy',
        /^Liveness probe failed: cat: can't open '\/tmp\/health'/,
      );
      await eventFor(
        'live-exec',
        'Killing',
        'Container c failed liveness probe, will be restarted',
      );
    },
  ],

  [
    '[Conformance] should *not* be restarted with a exec "cat /tmp/health" liveness probe',
    async () => {
      h.createPod(ns, 'live-exec-ok', {
        containers: [
          c({
            command: ['/bin/sh', '-c', 'echo ok >/tmp/health; sleep 600'],
            livenessProbe: {
              ...exec('cat', '/tmp/health'),
              initialDelaySeconds: 1,
              periodSeconds: 1,
              timeoutSeconds: 5,
              failureThreshold: 1,
            },
          }),
        ],
      });
      await neverRestarted('live-exec-ok', 6);
    },
  ],

  [
    '[Conformance] should be restarted with a /healthz http liveness probe',
    async () => {
      const port = await freeLoopbackPort();
      h.createPod(ns, 'live-http', {
        terminationGracePeriodSeconds: 1,
        containers: [
          c({
            ...webServer(port, 3),
            livenessProbe: {
              httpGet: { path: '/healthz', port },
              initialDelaySeconds: 1,
              periodSeconds: 1,
              failureThreshold: 1,
            },
          }),
        ],
      });
      await restartedTimes('live-http', 1);
      await eventFor(
        'live-http',
        'Unhealthy',
        'Liveness probe failed: HTTP probe failed with statuscode: 404',
      );
    },
  ],

  [
    '[Conformance] should have monotonically increasing restart count (2 restarts: the second after the 10 s back-off)',
    async () => {
      const port = await freeLoopbackPort();
      h.createPod(ns, 'live-http-many', {
        terminationGracePeriodSeconds: 1,
        containers: [
          c({
            ...webServer(port, 1),
            livenessProbe: {
              httpGet: { path: '/healthz', port },
              initialDelaySeconds: 1,
              periodSeconds: 1,
              failureThreshold: 1,
            },
          }),
        ],
      });
      const seen: number[] = [];
      await h.waitFor(
        'live-http-many restartCount 2',
        () => {
          const n = restarts('live-http-many');
          if (seen.at(-1) !== n) seen.push(n);
          return n >= 2;
        },
        40_000,
      );
      // Never decreasing, one at a time.
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      expect(seen.at(-1)).toBe(2);
    },
  ],

  [
    '[Conformance] should *not* be restarted with a tcp:8080 liveness probe (socket open, HTTP failing)',
    async () => {
      const port = await freeLoopbackPort();
      h.createPod(ns, 'live-tcp', {
        containers: [
          c({
            ...webServer(port, 1),
            livenessProbe: {
              tcpSocket: { port },
              initialDelaySeconds: 2,
              periodSeconds: 1,
              failureThreshold: 1,
            },
          }),
        ],
      });
      await neverRestarted('live-tcp', 6);
    },
  ],

  [
    '[Conformance] should *not* be restarted with a /healthz http liveness probe',
    async () => {
      const port = await freeLoopbackPort();
      h.createPod(ns, 'live-http-ok', {
        containers: [
          c({
            ...webServer(port),
            livenessProbe: {
              httpGet: { path: '/', port },
              initialDelaySeconds: 2,
              periodSeconds: 1,
              timeoutSeconds: 5,
              failureThreshold: 5,
            },
          }),
        ],
      });
      await neverRestarted('live-http-ok', 6);
    },
  ],

  [
    'should be restarted with an exec liveness probe with timeout',
    async () => {
      h.createPod(ns, 'live-exec-timeout', {
        terminationGracePeriodSeconds: 1,
        containers: [
          c({
            livenessProbe: {
              ...exec('/bin/sh', '-c', 'sleep 10'),
              initialDelaySeconds: 1,
              periodSeconds: 1,
              timeoutSeconds: 1,
              failureThreshold: 1,
            },
          }),
        ],
      });
      await restartedTimes('live-exec-timeout', 1);
      await eventFor(
        'live-exec-timeout',
        'Unhealthy',
        'Liveness probe failed: command "/bin/sh -c sleep 10" timed out',
      );
    },
  ],

  [
    'should be restarted with a failing exec liveness probe that took longer than the timeout',
    async () => {
      h.createPod(ns, 'live-exec-bg', {
        terminationGracePeriodSeconds: 1,
        containers: [
          c({
            livenessProbe: {
              ...exec('/bin/sh', '-c', 'sleep 10 & exit 1'),
              initialDelaySeconds: 1,
              periodSeconds: 1,
              timeoutSeconds: 1,
              failureThreshold: 1,
            },
          }),
        ],
      });
      await restartedTimes('live-exec-bg', 1);
    },
  ],

  [
    'should be restarted with a local redirect http liveness probe',
    async () => {
      const port = await freeLoopbackPort();
      h.createPod(ns, 'live-redirect', {
        terminationGracePeriodSeconds: 1,
        containers: [
          c({
            ...webServer(port, 3),
            livenessProbe: {
              httpGet: { path: '/cgi-bin/redirect?/healthz', port },
              initialDelaySeconds: 1,
              periodSeconds: 1,
              failureThreshold: 1,
            },
          }),
        ],
      });
      await restartedTimes('live-redirect', 1);
    },
  ],

  [
    'should *not* be restarted with a non-local redirect http liveness probe (ProbeWarning event)',
    async () => {
      const port = await freeLoopbackPort();
      h.createPod(ns, 'live-redirect-far', {
        containers: [
          c({
            ...webServer(port),
            livenessProbe: {
              httpGet: { path: '/cgi-bin/redirect?http://0.0.0.0/', port },
              initialDelaySeconds: 2,
              periodSeconds: 1,
              failureThreshold: 1,
            },
          }),
        ],
      });
      await neverRestarted('live-redirect-far', 6);
      const warning = await h.waitFor(
        'ProbeWarning event',
        () => events('live-redirect-far', 'ProbeWarning')[0],
      );
      expect(warning.type).toBe('Warning');
      expect(String(warning.message)).toContain(
        'Probe terminated redirects, Response body: <a href="http://0.0.0.0/">Found</a>.',
      );
    },
  ],

  [
    'should be restarted startup probe fails',
    async () => {
      h.createPod(ns, 'startup-fail', {
        terminationGracePeriodSeconds: 1,
        containers: [
          c({
            livenessProbe: { ...exec('/bin/true'), initialDelaySeconds: 1, failureThreshold: 1 },
            startupProbe: {
              ...exec('/bin/false'),
              initialDelaySeconds: 1,
              periodSeconds: 1,
              failureThreshold: 3,
            },
          }),
        ],
      });
      await restartedTimes('startup-fail', 1);
      await eventFor(
        'startup-fail',
        'Killing',
        'Container c failed startup probe, will be restarted',
      );
    },
  ],

  [
    'should *not* be restarted by liveness probe because startup probe delays it',
    async () => {
      h.createPod(ns, 'startup-delays', {
        containers: [
          c({
            livenessProbe: {
              ...exec('/bin/false'),
              initialDelaySeconds: 1,
              periodSeconds: 1,
              failureThreshold: 1,
            },
            startupProbe: {
              ...exec('/bin/false'),
              initialDelaySeconds: 1,
              periodSeconds: 1,
              failureThreshold: 60,
            },
          }),
        ],
      });
      await neverRestarted('startup-delays', 6);
      expect(cs('startup-delays').started).toBe(false);
      const unhealthy = events('startup-delays', 'Unhealthy').map((e) => String(e.message));
      expect(unhealthy.some((m) => m.startsWith('Liveness'))).toBe(false);
    },
  ],

  [
    'should be restarted by liveness probe after startup probe enables it',
    async () => {
      h.createPod(ns, 'startup-then-live', {
        terminationGracePeriodSeconds: 1,
        containers: [
          c({
            command: ['/bin/sh', '-c', 'sleep 3; echo ok >/tmp/startup; sleep 600'],
            livenessProbe: {
              ...exec('/bin/false'),
              initialDelaySeconds: 1,
              periodSeconds: 1,
              failureThreshold: 1,
            },
            startupProbe: {
              ...exec('cat', '/tmp/startup'),
              initialDelaySeconds: 1,
              periodSeconds: 1,
              failureThreshold: 60,
            },
          }),
        ],
      });
      await restartedTimes('startup-then-live', 1);
    },
  ],

  [
    'should be ready immediately after startupProbe succeeds (readiness period 10 s, startup after 12 s)',
    async () => {
      h.createPod(ns, 'startup-ready', {
        containers: [
          c({
            command: [
              '/bin/sh',
              '-c',
              'echo ok >/tmp/health; sleep 12; echo ok >/tmp/startup; sleep 600',
            ],
            readinessProbe: { ...exec('/bin/cat', '/tmp/health'), periodSeconds: 10 },
            startupProbe: {
              ...exec('/bin/cat', '/tmp/startup'),
              periodSeconds: 1,
              failureThreshold: 120,
            },
          }),
        ],
      });
      await running('startup-ready');
      expect(isReady('startup-ready')).toBe(false);
      const startedSeen = await h.waitFor('startup-ready started', () =>
        cs('startup-ready').started === true ? Date.now() : undefined,
      );
      await h.waitFor('startup-ready Ready', () => isReady('startup-ready'), 25_000);
      // As the kubelet e2e (startup after more than one readiness period since the
      // agent started, so the start-up jitter is over; ready well within the period):
      // the readiness worker is triggered when the startup probe succeeds.
      expect(Date.now() - startedSeen).toBeLessThan(8_000);
    },
  ],

  [
    'should override timeoutGracePeriodSeconds when LivenessProbe field is set',
    async () => {
      const port = await freeLoopbackPort(); // nothing listens there
      h.createPod(ns, 'live-grace', {
        terminationGracePeriodSeconds: 500,
        containers: [
          c({
            command: ['/bin/sh', '-c', 'sleep 1000'],
            livenessProbe: {
              httpGet: { path: '/healthz', port },
              initialDelaySeconds: 1,
              periodSeconds: 1,
              failureThreshold: 1,
              terminationGracePeriodSeconds: 2,
            },
          }),
        ],
      });
      const status = await restartedTimes('live-grace', 1);
      // `sh` as PID 1 ignores SIGTERM: killed at the end of the 2 s probe grace, not 500 s.
      expect(obj(obj(status.lastState).terminated).exitCode).toBe(137);
    },
  ],

  [
    'should override timeoutGracePeriodSeconds when StartupProbe field is set',
    async () => {
      h.createPod(ns, 'startup-grace', {
        terminationGracePeriodSeconds: 500,
        containers: [
          c({
            command: ['/bin/sh', '-c', 'sleep 1000'],
            livenessProbe: { ...exec('/bin/true'), initialDelaySeconds: 1, failureThreshold: 1 },
            startupProbe: {
              ...exec('/bin/cat', '/tmp/startup'),
              initialDelaySeconds: 1,
              periodSeconds: 1,
              failureThreshold: 1,
              terminationGracePeriodSeconds: 2,
            },
          }),
        ],
      });
      const status = await restartedTimes('startup-grace', 1);
      expect(obj(obj(status.lastState).terminated).exitCode).toBe(137);
    },
  ],

  [
    '[Conformance] should *not* be restarted with a GRPC liveness probe',
    async () => {
      h.createPod(ns, 'live-grpc-ok', {
        containers: [
          c({
            livenessProbe: {
              grpc: { port: grpcPort },
              initialDelaySeconds: 1,
              periodSeconds: 1,
              timeoutSeconds: 5,
              failureThreshold: 1,
            },
          }),
        ],
      });
      await neverRestarted('live-grpc-ok', 6);
    },
  ],

  [
    '[Conformance] should be restarted with a GRPC liveness probe (wrong port)',
    async () => {
      const port = await freeLoopbackPort(); // nothing listens there
      h.createPod(ns, 'live-grpc-bad', {
        terminationGracePeriodSeconds: 1,
        containers: [
          c({
            livenessProbe: {
              grpc: { port },
              initialDelaySeconds: 1,
              periodSeconds: 1,
              timeoutSeconds: 5,
              failureThreshold: 1,
            },
          }),
        ],
      });
      await restartedTimes('live-grpc-bad', 1);
      // kubelet: the blocking dial retries the refused connection until the timeout.
      await eventFor(
        'live-grpc-bad',
        'Unhealthy',
        `Liveness probe failed: timeout: failed to connect service "127.0.0.1:${port}" within 5s: context deadline exceeded`,
      );
    },
  ],

  [
    'should mark readiness on pods to false and disable liveness probes while pod is in progress of terminating',
    async () => {
      const script =
        '_term() { rm -f /tmp/ready; rm -f /tmp/liveness; sleep 20; exit 0; }\ntrap _term TERM\ntouch /tmp/ready\ntouch /tmp/liveness\nwhile true; do sleep 1; done';
      h.createPod(ns, 'term-ready', {
        terminationGracePeriodSeconds: 30,
        containers: [
          c({
            command: ['/bin/sh', '-c', script],
            readinessProbe: { ...exec('cat', '/tmp/ready'), failureThreshold: 1, periodSeconds: 1 },
            livenessProbe: {
              ...exec('cat', '/tmp/liveness'),
              failureThreshold: 1,
              periodSeconds: 1,
            },
          }),
        ],
      });
      await h.waitFor('term-ready Ready', () => isReady('term-ready'));
      h.server.store.delete(h.pods, ns, 'term-ready');
      await h.waitFor(
        'term-ready not Ready while terminating',
        () => !isReady('term-ready'),
        15_000,
      );
      const deleting = h.getPod(ns, 'term-ready');
      expect(obj(deleting?.metadata).deletionTimestamp).toBeDefined();
      expect(cs('term-ready').ready).toBe(false);
      // Liveness is off while terminating: the liveness file is gone, yet for 4 s (4
      // periods) no liveness failure and no restart.
      const until = Date.now() + 4000;
      while (Date.now() < until) {
        const msgs = h.eventsFor(ns, 'term-ready').map((e) => String(e.message));
        expect(msgs.filter((m) => m.includes('failed liveness probe'))).toEqual([]);
        expect(msgs.filter((m) => m.startsWith('Liveness probe failed'))).toEqual([]);
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(restarts('term-ready')).toBe(0);
    },
  ],
];

/** Probe cases of test/e2e_node/container_lifecycle_test.go ("Containers Lifecycle"). */
const containersLifecycle: Scenario[] = [
  [
    '[container_lifecycle_test.go] a failed liveness probe restarts the container under restartPolicy OnFailure',
    async () => {
      h.createPod(ns, 'lc-live-onfailure', {
        restartPolicy: 'OnFailure',
        terminationGracePeriodSeconds: 1,
        containers: [
          c({
            livenessProbe: {
              ...exec('sh', '-c', 'exit 1'),
              initialDelaySeconds: 1,
              periodSeconds: 1,
              failureThreshold: 1,
            },
          }),
        ],
      });
      const status = await restartedTimes('lc-live-onfailure', 1);
      expect(obj(obj(status.lastState).terminated).exitCode).toBe(137);
    },
  ],

  [
    '[container_lifecycle_test.go] a failed startup probe under restartPolicy Never: killed, not restarted, the pod Failed',
    async () => {
      h.createPod(ns, 'lc-startup-never', {
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: 1,
        containers: [
          c({
            startupProbe: {
              ...exec('sh', '-c', 'exit 1'),
              initialDelaySeconds: 1,
              periodSeconds: 1,
              failureThreshold: 1,
            },
          }),
        ],
      });
      const status = await h.waitFor(
        'lc-startup-never Failed',
        () => {
          const st = h.podStatus(ns, 'lc-startup-never');
          return st.phase === 'Failed' ? st : undefined;
        },
        30_000,
      );
      const cst = obj(containerStatus(status, 'c'));
      expect(cst.restartCount).toBe(0);
      const terminated = obj(obj(cst.state).terminated);
      expect(terminated.exitCode).toBe(137);
      expect(terminated.reason).toBe('Error');
      await eventFor(
        'lc-startup-never',
        'Killing',
        'Container c failed startup probe, will be restarted',
      );
    },
  ],
];

/** The "Probing restartable init container" cases (sidecars). */
const probingSidecar: Scenario[] = [
  [
    'should be restarted with a exec "cat /tmp/health" liveness probe (restart counted on the sidecar)',
    async () => {
      h.createPod(
        ns,
        'sc-live-exec',
        sidecarPod({
          command: [
            '/bin/sh',
            '-c',
            'echo ok >/tmp/health; sleep 3; rm -rf /tmp/health; sleep 600',
          ],
          livenessProbe: {
            ...exec('cat', '/tmp/health'),
            initialDelaySeconds: 1,
            periodSeconds: 1,
            timeoutSeconds: 5,
            failureThreshold: 1,
          },
        }),
      );
      await restartedTimes('sc-live-exec', 1, 'sidecar', true);
      expect(restarts('sc-live-exec', 'main')).toBe(0);
      await eventFor(
        'sc-live-exec',
        'Killing',
        'Container sidecar failed liveness probe, will be restarted',
      );
    },
  ],

  [
    'with readiness probe that fails should never be ready and never restart',
    async () => {
      h.createPod(
        ns,
        'sc-ready-fail',
        sidecarPod({ readinessProbe: { ...exec('false'), periodSeconds: 1 } }),
      );
      await running('sc-ready-fail', 'main');
      await neverReady('sc-ready-fail', 6, 'sidecar', true);
    },
  ],

  [
    'should be restarted startup probe fails; the app container waits for the sidecar to start',
    async () => {
      h.createPod(
        ns,
        'sc-startup-fail',
        sidecarPod({
          livenessProbe: { ...exec('/bin/true'), initialDelaySeconds: 1, failureThreshold: 1 },
          startupProbe: {
            ...exec('/bin/false'),
            initialDelaySeconds: 1,
            periodSeconds: 1,
            failureThreshold: 3,
          },
        }),
      );
      await restartedTimes('sc-startup-fail', 1, 'sidecar', true);
      // The sidecar never started, so the app container was never created.
      expect(obj(obj(cs('sc-startup-fail', 'main').state).running).startedAt).toBeUndefined();
    },
  ],

  [
    'should be ready immediately after startupProbe succeeds',
    async () => {
      h.createPod(
        ns,
        'sc-startup-ready',
        sidecarPod({
          command: [
            '/bin/sh',
            '-c',
            'echo ok >/tmp/health; sleep 12; echo ok >/tmp/startup; sleep 600',
          ],
          readinessProbe: { ...exec('/bin/cat', '/tmp/health'), periodSeconds: 10 },
          startupProbe: {
            ...exec('/bin/cat', '/tmp/startup'),
            periodSeconds: 1,
            failureThreshold: 120,
          },
        }),
      );
      await running('sc-startup-ready', 'sidecar', true);
      const startedSeen = await h.waitFor('sidecar started', () =>
        cs('sc-startup-ready', 'sidecar', true).started === true ? Date.now() : undefined,
      );
      await h.waitFor('sc-startup-ready Ready', () => isReady('sc-startup-ready'), 25_000);
      expect(Date.now() - startedSeen).toBeLessThan(8_000);
    },
  ],

  [
    'should mark readiness on pods to false and disable liveness probes while pod is in progress of terminating',
    async () => {
      const script =
        '_term() { rm -f /tmp/ready; rm -f /tmp/liveness; sleep 20; exit 0; }\ntrap _term TERM\ntouch /tmp/ready\ntouch /tmp/liveness\nwhile true; do sleep 1; done';
      h.createPod(
        ns,
        'sc-term-ready',
        sidecarPod(
          {
            command: ['/bin/sh', '-c', script],
            readinessProbe: { ...exec('cat', '/tmp/ready'), failureThreshold: 1, periodSeconds: 1 },
            livenessProbe: {
              ...exec('cat', '/tmp/liveness'),
              failureThreshold: 1,
              periodSeconds: 1,
            },
          },
          30,
        ),
      );
      await h.waitFor('sc-term-ready Ready', () => isReady('sc-term-ready'));
      h.server.store.delete(h.pods, ns, 'sc-term-ready');
      await h.waitFor(
        'sc-term-ready not Ready while terminating',
        () => !isReady('sc-term-ready'),
        15_000,
      );
      const until = Date.now() + 4000;
      while (Date.now() < until) {
        const msgs = h.eventsFor(ns, 'sc-term-ready').map((e) => String(e.message));
        expect(msgs.filter((m) => m.includes('failed liveness probe'))).toEqual([]);
        expect(msgs.filter((m) => m.startsWith('Liveness probe failed'))).toEqual([]);
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(restarts('sc-term-ready', 'sidecar', true)).toBe(0);
    },
  ],
];

// Five groups (vitest runs at most 5 tests of a file at once); each runs its
// scenarios concurrently, so the whole file takes about as long as the slowest case.
describe.concurrent('kubelet e2e container_probe.go on nodeagent', () => {
  it('readiness: initial delay, failing, exec timeout, ready right after startup, unready while terminating', () =>
    runScenarios(
      pick(
        probingContainer,
        'with readiness probe should not be ready before initial delay',
        'with readiness probe that fails',
        'exec readiness probe timeout',
        'should be ready immediately after startupProbe succeeds',
        'while pod is in progress of terminating',
      ),
    ));

  it('exec liveness: restart / no restart, exec timeouts, probe-level terminationGracePeriodSeconds', () =>
    runScenarios(
      pick(
        probingContainer,
        'should be restarted with a exec',
        'should *not* be restarted with a exec',
        'exec liveness probe with timeout',
        'took longer than the timeout',
        'when LivenessProbe field is set',
        'when StartupProbe field is set',
      ),
    ));

  it('httpGet, tcpSocket and grpc liveness: restart / no restart, local and non-local redirects', () =>
    runScenarios(
      pick(
        probingContainer,
        'should be restarted with a /healthz http liveness probe',
        'monotonically increasing restart count',
        'tcp:8080',
        'should *not* be restarted with a /healthz http liveness probe',
        'local redirect http liveness probe',
        'non-local redirect',
        'should *not* be restarted with a GRPC',
        'should be restarted with a GRPC',
      ),
    ));

  it('startup probes: restart on failure, liveness held back, liveness after startup; restart policies (container_lifecycle_test.go)', () =>
    runScenarios([
      ...pick(
        probingContainer,
        'should be restarted startup probe fails',
        'startup probe delays it',
        'after startup probe enables it',
      ),
      ...containersLifecycle,
    ]));

  it('restartable init containers (sidecars): liveness, readiness, startup, termination', () =>
    runScenarios(probingSidecar));
});
