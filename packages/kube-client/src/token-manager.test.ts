import { KubeConfig } from '@kubernetes/client-node';
import {
  NotFoundError,
  UnavailableError,
  type Logger,
  type Random,
  type TokenRequestSpec,
} from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { startTestApiServer, type TestApiServer } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKubeApi, type KubeApi } from './kube-api.js';
import {
  ApiServiceAccountTokenManager,
  maxTokenTtlMs,
  requiresTokenRefresh,
  type TokenRequestResult,
} from './token-manager.js';

const hour = 3600_000;
const noJitter: Random = { float: () => 0 };

describe('requiresTokenRefresh (kubelet requiresRefresh)', () => {
  const issued = Date.UTC(2026, 0, 1);
  it('refreshes a 1 h token once 80 % of its lifetime has passed', () => {
    const exp = issued + hour;
    expect(requiresTokenRefresh(issued + 0.8 * hour, exp, 3600, 0)).toBe(false);
    expect(requiresTokenRefresh(issued + 0.8 * hour + 1, exp, 3600, 0)).toBe(true);
    // A jitter of up to 10 s moves the refresh earlier.
    expect(requiresTokenRefresh(issued + 0.8 * hour - 9_000, exp, 3600, 10_000)).toBe(true);
    expect(requiresTokenRefresh(issued + 0.8 * hour - 11_000, exp, 3600, 10_000)).toBe(false);
  });

  it('refreshes any token older than 24 h, and one issued in the future', () => {
    const twoDays = 48 * 3600;
    const exp = issued + twoDays * 1000;
    // 80 % of 48 h is 38.4 h, but 24 h comes first.
    expect(requiresTokenRefresh(issued + maxTokenTtlMs, exp, twoDays, 0)).toBe(false);
    expect(requiresTokenRefresh(issued + maxTokenTtlMs + 1, exp, twoDays, 0)).toBe(true);
    expect(requiresTokenRefresh(issued - 1, issued + hour, 3600, 0)).toBe(true);
  });
});

describe('ApiServiceAccountTokenManager with a fake TokenRequest', () => {
  let clock: FakeClock;
  let calls: { namespace: string; name: string; spec: TokenRequestSpec }[];
  let fail: Error | undefined;
  let logged: string[];
  const logger: Logger = {
    debug() {},
    info() {},
    warn() {},
    error(msg: string) {
      logged.push(msg);
    },
    child() {
      return logger;
    },
  };

  function manager(): ApiServiceAccountTokenManager {
    return new ApiServiceAccountTokenManager({
      clock,
      random: noJitter,
      logger,
      requestToken: (namespace, name, spec): Promise<TokenRequestResult> => {
        calls.push({ namespace, name, spec });
        if (fail) return Promise.reject(fail);
        const expirationSeconds = spec.expirationSeconds ?? 3600;
        return Promise.resolve({
          spec: { ...spec, expirationSeconds },
          status: {
            token: `t${calls.length}`,
            expirationTimestamp: new Date(clock.now() + expirationSeconds * 1000).toISOString(),
          },
        });
      },
    });
  }
  const bound = (uid: string): TokenRequestSpec => ({
    expirationSeconds: 3600,
    boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web', uid },
  });

  beforeEach(() => {
    clock = new FakeClock();
    calls = [];
    fail = undefined;
    logged = [];
  });

  it('caches per ServiceAccount, audience, expiration and bound pod, and refreshes after 80 %', async () => {
    const m = manager();
    expect((await m.getServiceAccountToken('ns', 'default', bound('u1'))).token).toBe('t1');
    expect((await m.getServiceAccountToken('ns', 'default', bound('u1'))).token).toBe('t1');
    expect(calls).toHaveLength(1);
    expect((await m.getServiceAccountToken('ns', 'default', bound('u2'))).token).toBe('t2');
    expect(
      (await m.getServiceAccountToken('ns', 'default', { ...bound('u1'), audiences: ['vault'] }))
        .token,
    ).toBe('t3');
    expect((await m.getServiceAccountToken('ns', 'other', bound('u1'))).token).toBe('t4');
    await clock.advance(0.8 * hour);
    expect((await m.getServiceAccountToken('ns', 'default', bound('u1'))).token).toBe('t1');
    await clock.advance(1);
    expect((await m.getServiceAccountToken('ns', 'default', bound('u1'))).token).toBe('t5');
    expect(calls[0]?.spec).toEqual(bound('u1'));
  });

  it('shares one request between concurrent callers', async () => {
    const m = manager();
    const [a, b] = await Promise.all([
      m.getServiceAccountToken('ns', 'default', bound('u1')),
      m.getServiceAccountToken('ns', 'default', bound('u1')),
    ]);
    expect(a.token).toBe('t1');
    expect(b.token).toBe('t1');
    expect(calls).toHaveLength(1);
  });

  it('keeps a valid token when a refresh fails, and fails once it has expired', async () => {
    const m = manager();
    await m.getServiceAccountToken('ns', 'default', bound('u1'));
    await clock.advance(0.9 * hour);
    fail = new UnavailableError('apiserver down');
    expect((await m.getServiceAccountToken('ns', 'default', bound('u1'))).token).toBe('t1');
    expect(logged).toEqual(["Couldn't update token"]);
    await clock.advance(0.1 * hour - 30_000);
    expect((await m.getServiceAccountToken('ns', 'default', bound('u1'))).token).toBe('t1');
    // Expired, and not yet dropped by the once-a-minute cleanup.
    await clock.advance(31_000);
    await expect(m.getServiceAccountToken('ns', 'default', bound('u1'))).rejects.toThrow(
      /^token .* expired and refresh failed: apiserver down$/,
    );
    fail = undefined;
    expect((await m.getServiceAccountToken('ns', 'default', bound('u1'))).token).toBe('t5');
  });

  it('surfaces a first failure as "failed to fetch token", NotFound kept', async () => {
    const m = manager();
    fail = new NotFoundError('serviceaccounts "ghost" not found');
    const err = await m.getServiceAccountToken('ns', 'ghost', bound('u1')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toBe('failed to fetch token: serviceaccounts "ghost" not found');
  });

  it('forgets the tokens of a removed pod, and expired ones after the gc period', async () => {
    const m = manager();
    await m.getServiceAccountToken('ns', 'default', bound('u1'));
    await m.getServiceAccountToken('ns', 'default', bound('u2'));
    await m.getServiceAccountToken('ns', 'default', { expirationSeconds: 600 });
    m.deleteServiceAccountToken('u1');
    expect(m.size).toBe(2);
    await clock.advance(601_000);
    await m.getServiceAccountToken('ns', 'default', bound('u2'));
    // The 600 s token expired and was dropped; u2's was refreshed in place.
    expect(m.size).toBe(1);
  });
});

describe('ApiServiceAccountTokenManager against the test API server', () => {
  let clock: FakeClock;
  let server: TestApiServer;
  let api: KubeApi;

  beforeEach(async () => {
    clock = new FakeClock();
    server = await startTestApiServer({ clock, tls: true });
    const kc = new KubeConfig();
    kc.loadFromString(
      server.kubeconfig(
        server.issueClientCertificate({ name: 'system:node:n1', groups: ['system:nodes'] }),
      ),
    );
    api = createKubeApi(kc, { clock, qps: 0 });
  });

  afterEach(async () => {
    api.close();
    await server.stop();
  });

  it('requests pod-bound tokens, refreshes them, and reports the server error', async () => {
    const pod = server.store.create(server.store.resource('pods'), 'default', {
      metadata: { name: 'web' },
      spec: { serviceAccountName: 'default', containers: [{ name: 'c', image: 'busybox' }] },
    });
    const uid = String((pod.metadata as Record<string, unknown>).uid);
    const m = new ApiServiceAccountTokenManager({ api, clock, random: noJitter });
    const spec: TokenRequestSpec = {
      expirationSeconds: 3607,
      boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web', uid },
    };
    const first = await m.getServiceAccountToken('default', 'default', spec);
    expect(first.expirationTimestamp).toBe('2026-01-01T01:00:07Z');
    expect(first.token.split('.')).toHaveLength(3);
    expect(server.requests.filter((r) => r.subresource === 'token')).toHaveLength(1);
    expect(server.requests.at(-1)).toMatchObject({
      method: 'POST',
      path: '/api/v1/namespaces/default/serviceaccounts/default/token',
      user: 'system:node:n1',
      status: 201,
    });
    // The last 20 % of 3607 s is 721 s (integer seconds): refreshed after 2886 s.
    await clock.advance(2886_000);
    expect((await m.getServiceAccountToken('default', 'default', spec)).token).toBe(first.token);
    await clock.advance(1);
    const second = await m.getServiceAccountToken('default', 'default', spec);
    expect(second.token).not.toBe(first.token);
    expect(second.expirationTimestamp).toBe('2026-01-01T01:48:13Z');
    const err = await m
      .getServiceAccountToken('default', 'ghost', spec)
      .catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toHaveProperty(
      'message',
      'failed to fetch token: serviceaccounts "ghost" not found',
    );
    const wrongUid = await m
      .getServiceAccountToken('default', 'default', {
        ...spec,
        boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web', uid: 'x' },
      })
      .catch((e: unknown) => e as Error);
    expect(wrongUid).toBeInstanceOf(UnavailableError);
    expect((wrongUid as Error).message).toMatch(
      /^failed to fetch token: Operation cannot be fulfilled on Pod "web": the UID in the bound object reference \(x\)/,
    );
  });
});
