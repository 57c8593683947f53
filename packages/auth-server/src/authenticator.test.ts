import type { IncomingMessage } from 'node:http';
import { FakeClock } from '@nodeagent/core/testing';
import { describe, expect, it } from 'vitest';
import { NodeRequestAuthenticator } from './authenticator.js';
import { subresourcesForPath } from './authorizer.js';
import type { AuthReviewClient, TokenReview } from './review-client.js';

function reqWith(token: string | undefined): IncomingMessage {
  return {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    socket: {},
  } as unknown as IncomingMessage;
}

function fakeClient(answer: (t: string) => TokenReview['status'] | Error) {
  const calls: string[] = [];
  const client: AuthReviewClient = {
    createTokenReview: (body) => {
      calls.push(body.spec.token);
      const a = answer(body.spec.token);
      return a instanceof Error
        ? Promise.reject(a)
        : Promise.resolve({ ...body, ...(a ? { status: a } : {}) });
    },
    createSubjectAccessReview: () => Promise.reject(new Error('unused')),
  };
  return { client, calls };
}

describe('NodeRequestAuthenticator token cache', () => {
  it('caches plainly unauthenticated answers for the TTL, not errors', async () => {
    const clock = new FakeClock();
    let fail = true;
    const { client, calls } = fakeClient((t) =>
      t === 'flaky' && fail
        ? new Error('connection refused')
        : t === 'good'
          ? { authenticated: true, user: { username: 'u', groups: ['g'] } }
          : { authenticated: false },
    );
    const a = new NodeRequestAuthenticator({ x509Enabled: false, webhook: { client }, clock });
    expect(await a.authenticate(reqWith('nope'))).toMatchObject({ ok: false });
    expect(await a.authenticate(reqWith('nope'))).toMatchObject({ ok: false });
    expect(calls).toEqual(['nope']);
    expect(await a.authenticate(reqWith('flaky'))).toMatchObject({ ok: false });
    fail = false;
    expect(await a.authenticate(reqWith('flaky'))).toMatchObject({ ok: false });
    expect(calls).toEqual(['nope', 'flaky', 'flaky']);
    expect(await a.authenticate(reqWith('good'))).toEqual({
      ok: true,
      method: 'token',
      user: { name: 'u', groups: ['g', 'system:authenticated'] },
    });
    await clock.advance(120_001);
    await a.authenticate(reqWith('nope'));
    expect(calls.filter((c) => c === 'nope')).toHaveLength(2);
  });

  it('shares one review between concurrent requests, and ignores tokens without the webhook', async () => {
    const clock = new FakeClock();
    const { client, calls } = fakeClient(() => ({ authenticated: true, user: { username: 'u' } }));
    const a = new NodeRequestAuthenticator({ x509Enabled: false, webhook: { client }, clock });
    await Promise.all([a.authenticate(reqWith('t')), a.authenticate(reqWith('t'))]);
    expect(calls).toEqual(['t']);
    const noWebhook = new NodeRequestAuthenticator({
      x509Enabled: false,
      anonymousEnabled: true,
      clock,
    });
    expect(await noWebhook.authenticate(reqWith('t'))).toMatchObject({
      ok: true,
      method: 'anonymous',
      user: { name: 'system:anonymous' },
    });
  });
});

describe('subresourcesForPath', () => {
  it('follows the kubelet mapping with and without fine-grained authz', () => {
    expect(subresourcesForPath('/pods')).toEqual(['pods', 'proxy']);
    expect(subresourcesForPath('/podsx')).toEqual(['proxy']);
    expect(subresourcesForPath('/healthz/syncloop')).toEqual(['healthz', 'proxy']);
    expect(subresourcesForPath('/checkpoint/ns/p/c')).toEqual(['checkpoint']);
    expect(subresourcesForPath('/statsx')).toEqual(['proxy']);
    expect(subresourcesForPath('/pods', false)).toEqual(['proxy']);
    expect(subresourcesForPath('/runningpods/', false)).toEqual(['proxy']);
  });
});
