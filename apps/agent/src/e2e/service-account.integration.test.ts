/**
 * Service-account tokens end to end, as a real cluster gives them to every pod: pods
 * created over HTTP go through the test API server's ServiceAccount admission (the
 * `kube-api-access-<random>` projected volume: a pod-bound TokenRequest token, the
 * `kube-root-ca.crt` CA and the namespace), the agent requests the token through its
 * token manager and writes the volume; what the container reads is checked with
 * `cat`, and the token with the server's TokenReview.
 *
 * Mirrors test/e2e/auth/service_accounts.go: "should mount an API token into pods
 * [Conformance]", "should mount projected service account token [Conformance]",
 * "should allow opting out of API token automount [Conformance]", "should set
 * ownership and permission when RunAsUser or FsGroup is present [LinuxOnly]"; and the
 * kubelet's FailedMount for a token of a ServiceAccount that does not exist.
 */
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  containerStatus,
  obj,
  startApiModeHarness,
  uidOf,
  type ApiModeHarness,
  type Json,
} from './support/api-mode-harness.js';

const ns = 'e2e-sa';
const tokenDir = '/var/run/secrets/kubernetes.io/serviceaccount';

let h: ApiModeHarness;
let admin: { certPem: string; keyPem: string };

beforeAll(async () => {
  h = await startApiModeHarness({ nodeName: 'e2e-sa-node', namespaces: [ns] });
  admin = h.server.issueClientCertificate({ name: 'e2e-admin', groups: ['system:masters'] });
}, 60_000);

afterAll(async () => {
  // Delete every pod and let the agent tear them down (volumes unmounted) before it stops.
  await h?.deletePodsAndWait(ns);
  await h?.close();
}, 120_000);

/** A request to the API server as an administrator (kubectl), over its TLS port. */
function apiCall(
  method: string,
  path: string,
  body: unknown,
): Promise<{ status: number; body: Json }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${h.server.url}${path}`,
      {
        method,
        ca: h.server.caPem,
        cert: admin.certPem,
        key: admin.keyPem,
        headers: { 'Content-Type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: obj(JSON.parse(text)) }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** Creates a pod through the API (admission applies), bound to the node, host network. */
async function createPodOverApi(name: string, spec: Json): Promise<Json> {
  const r = await apiCall('POST', `/api/v1/namespaces/${ns}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { nodeName: h.nodeName, hostNetwork: true, terminationGracePeriodSeconds: 1, ...spec },
  });
  if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function running(name: string): Promise<string> {
  return h.waitFor(
    `${name} running`,
    async () => {
      const uid = uidOf(h.getPod(ns, name));
      const c = (await h.containersOf(uid)).find(
        (x) => x.metadata?.name === 'main' && x.state === 'CONTAINER_RUNNING',
      );
      return c?.id;
    },
    30_000,
  );
}

async function sh(id: string, script: string): Promise<{ out: string; code: number }> {
  const res = await h.cri.execSync({ containerId: id, cmd: ['sh', '-c', script], timeout: 10 });
  return {
    out: Buffer.from(res.stdout).toString('utf8') + Buffer.from(res.stderr).toString('utf8'),
    code: res.exitCode,
  };
}

function volumesOf(pod: Json): Json[] {
  const v = obj(pod.spec).volumes;
  return Array.isArray(v) ? v.map(obj) : [];
}

describe('service account tokens (kubelet e2e auth/service_accounts.go)', () => {
  it('mounts the kube-api-access token, CA and namespace; opting out mounts none; file modes follow runAsUser/fsGroup', async () => {
    const withImage = (): Json => h.sleeper('main');
    const [mounted, optOut] = await Promise.all([
      createPodOverApi('sa-mounted', { containers: [withImage()] }),
      createPodOverApi('sa-opt-out', {
        automountServiceAccountToken: false,
        containers: [withImage()],
      }),
      createPodOverApi('sa-run-as-user', {
        securityContext: { runAsUser: 1000 },
        containers: [withImage()],
      }),
      createPodOverApi('sa-fs-group', {
        securityContext: { runAsUser: 1000, fsGroup: 2000 },
        containers: [withImage()],
      }),
    ]);
    // Admission: default ServiceAccount and the projected volume, mounted read-only.
    expect(obj(mounted.spec).serviceAccountName).toBe('default');
    const [volume] = volumesOf(mounted);
    expect(String(volume?.name)).toMatch(/^kube-api-access-[a-z0-9]{5}$/);
    expect(volumesOf(optOut)).toEqual([]);

    const [idMounted, idOptOut, idUser, idGroup] = await Promise.all(
      ['sa-mounted', 'sa-opt-out', 'sa-run-as-user', 'sa-fs-group'].map(running),
    );

    // "should mount an API token into pods": token, ca.crt and namespace are readable.
    const token = await sh(idMounted!, `cat ${tokenDir}/token`);
    expect(token.code).toBe(0);
    expect(token.out.split('.')).toHaveLength(3);
    const ca = await sh(idMounted!, `cat ${tokenDir}/ca.crt`);
    expect(ca.out).toBe(h.server.caPem);
    expect((await sh(idMounted!, `cat ${tokenDir}/namespace`)).out).toBe(ns);
    // Read-only mount, files 0644 (the volume's defaultMode).
    expect((await sh(idMounted!, `touch ${tokenDir}/x`)).code).not.toBe(0);
    expect((await sh(idMounted!, `stat -L -c '%a' ${tokenDir}/token`)).out.trim()).toBe('644');

    // The server's TokenReview accepts it: the pod's ServiceAccount, bound to the pod.
    const review = await apiCall('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token: token.out },
    });
    expect(review.status).toBe(201);
    const status = obj(review.body.status);
    expect(status.authenticated).toBe(true);
    expect(obj(status.user).username).toBe(`system:serviceaccount:${ns}:default`);
    expect(obj(obj(status.user).extra)).toMatchObject({
      'authentication.kubernetes.io/pod-name': ['sa-mounted'],
      'authentication.kubernetes.io/pod-uid': [uidOf(mounted)],
    });
    const tokenRequests = h.server.requests.filter(
      (r) => r.subresource === 'token' && r.namespace === ns,
    );
    expect(tokenRequests.every((r) => r.user === 'system:node:e2e-sa-node')).toBe(true);

    // "should allow opting out of API token automount".
    expect((await sh(idOptOut!, `ls ${tokenDir}`)).code).not.toBe(0);

    // "should set ownership and permission when RunAsUser or FsGroup is present".
    expect((await sh(idUser!, `stat -L -c '%a %u' ${tokenDir}/token`)).out.trim()).toBe('600 1000');
    expect((await sh(idUser!, `cat ${tokenDir}/token`)).code).toBe(0);
    expect((await sh(idGroup!, `stat -L -c '%a %u %g' ${tokenDir}/token`)).out.trim()).toBe(
      '640 1000 2000',
    );
  }, 30_000);

  it('a token for a ServiceAccount that does not exist: FailedMount naming it, pod stays ContainerCreating', async () => {
    // The API forbids creating such a pod...
    const forbidden = await apiCall('POST', `/api/v1/namespaces/${ns}/pods`, {
      metadata: { name: 'sa-ghost' },
      spec: {
        nodeName: h.nodeName,
        serviceAccountName: 'ghost',
        containers: [h.sleeper('main')],
      },
    });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.message).toBe(
      `pods "sa-ghost" is forbidden: error looking up service account ${ns}/ghost: serviceaccount "ghost" not found`,
    );
    // ...so write it as admission left a pod whose ServiceAccount was deleted since.
    const volumeName = 'kube-api-access-gh0st';
    const pod = h.createPod(ns, 'sa-ghost', {
      serviceAccountName: 'ghost',
      containers: [
        h.sleeper('main', {
          volumeMounts: [{ name: volumeName, readOnly: true, mountPath: tokenDir }],
        }),
      ],
      volumes: [
        {
          name: volumeName,
          projected: {
            defaultMode: 0o644,
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              {
                configMap: {
                  name: 'kube-root-ca.crt',
                  items: [{ key: 'ca.crt', path: 'ca.crt' }],
                },
              },
            ],
          },
        },
      ],
    });
    const uid = uidOf(pod);
    const event = await h.waitFor('FailedMount', () =>
      h.eventsFor(ns, 'sa-ghost', uid).find((e) => e.reason === 'FailedMount'),
    );
    expect(event.type).toBe('Warning');
    expect(event.message).toBe(
      `MountVolume.SetUp failed for volume "${volumeName}" : failed to fetch token: serviceaccounts "ghost" not found`,
    );
    const waiting = await h.waitFor('ContainerCreating', () => {
      const w = obj(obj(containerStatus(h.podStatus(ns, 'sa-ghost'), 'main')?.state).waiting);
      return w.reason === 'ContainerCreating' ? w : undefined;
    });
    expect(waiting.reason).toBe('ContainerCreating');
    expect(await h.sandboxesOf(uid)).toEqual([]);
  }, 20_000);
});
