/**
 * Pull secrets as the kubelet reads and matches them: docker config parsing (auth
 * decoding, tokens, broken content skipped with a reason), image repository
 * normalization, keyring lookup (Docker Hub forms, ports, paths, wildcards,
 * specificity), secret retrieval, and the pull loop across credentials.
 */
import {
  NotFoundError,
  UnavailableError,
  type ImageService,
  type cri,
  type k8s,
} from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import {
  BasicDockerKeyring,
  ImagePullAttemptsError,
  decodeDockerConfigFieldAuth,
  getPullSecretsForPod,
  globMatch,
  isDefaultRegistryMatch,
  makeDockerKeyring,
  pullImageWithCredentials,
  readDockerConfigJson,
  readDockercfg,
  registryLocationMatches,
  repositoryToPull,
  toCriAuthConfig,
  type DockerConfigEntry,
} from './pull-credentials.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

function keyringOf(locations: Record<string, string>): BasicDockerKeyring {
  const k = new BasicDockerKeyring();
  k.add(Object.entries(locations).map(([loc, user]) => [loc, { username: user, password: 'pw' }]));
  return k;
}
const users = (entries: DockerConfigEntry[]): string[] => entries.map((e) => e.username);
const lookup = (k: BasicDockerKeyring, image: string): string[] =>
  users(k.lookup(repositoryToPull(image)));

describe('repositoryToPull (docker reference normalization)', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox'],
    ['busybox:1.36', 'docker.io/library/busybox'],
    ['library/busybox', 'docker.io/library/busybox'],
    ['docker.io/busybox', 'docker.io/library/busybox'],
    ['docker.io/x/y', 'docker.io/x/y'],
    ['docker.io/x/y:tag', 'docker.io/x/y'],
    ['index.docker.io/x/y', 'docker.io/x/y'],
    ['user/app:2', 'docker.io/user/app'],
    ['registry:5000/path/img', 'registry:5000/path/img'],
    ['registry:5000/path/img:tag', 'registry:5000/path/img'],
    ['registry.example.com/a/b/c@sha256:0123', 'registry.example.com/a/b/c'],
    ['localhost/img', 'localhost/img'],
    ['127.0.0.1:5000/nodeagent/busybox:1', '127.0.0.1:5000/nodeagent/busybox'],
    ['Host/img', 'Host/img'],
  ])('%s → %s', (image, repo) => {
    expect(repositoryToPull(image)).toBe(repo);
  });
});

describe('isDefaultRegistryMatch', () => {
  it.each([
    ['busybox', true],
    ['library/busybox', true],
    ['docker.io/library/busybox', true],
    ['index.docker.io/x', true],
    ['registry.example.com/x', false],
    ['registry:5000/x', false],
    ['', false],
  ])('%s → %s', (repo, expected) => {
    expect(isDefaultRegistryMatch(repo)).toBe(expected);
  });
});

describe('decodeDockerConfigFieldAuth', () => {
  it('decodes padded and unpadded base64 of user:pass; the password may hold colons', () => {
    expect(decodeDockerConfigFieldAuth(b64('alice:s3:cr:et'))).toEqual({
      username: 'alice',
      password: 's3:cr:et',
    });
    const unpadded = b64('bob:x').replace(/=+$/, '');
    expect(unpadded.endsWith('=')).toBe(false);
    expect(decodeDockerConfigFieldAuth(unpadded)).toEqual({ username: 'bob', password: 'x' });
  });
  it('rejects non-base64, bad padding and a value without a colon', () => {
    expect(decodeDockerConfigFieldAuth('not base64!')).toEqual({
      error: 'the auth field is not valid base64',
    });
    expect(decodeDockerConfigFieldAuth('abcde=')).toEqual({
      error: 'the auth field is not valid base64',
    });
    expect(decodeDockerConfigFieldAuth(b64('nocolon'))).toEqual({
      error: 'unable to parse auth field, must be formatted as base64(username:password)',
    });
  });
});

describe('readDockerConfigJson / readDockercfg', () => {
  it('reads auths with username/password, auth, email and tokens', () => {
    const text = JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hub:hubpw'), email: 'a@b.c' },
        'registry:5000': { username: 'u', password: 'p' },
        'quay.io': { auth: b64('q:qp'), identitytoken: 'idt', registrytoken: 'rt' },
      },
    });
    expect(readDockerConfigJson(text)).toEqual({
      problems: [],
      config: [
        ['https://index.docker.io/v1/', { username: 'hub', password: 'hubpw', email: 'a@b.c' }],
        ['registry:5000', { username: 'u', password: 'p' }],
        ['quay.io', { username: 'q', password: 'qp', identityToken: 'idt', registryToken: 'rt' }],
      ],
    });
  });

  it('a non-empty auth decides username and password (kubelet, docker CLI)', () => {
    const text = JSON.stringify({
      auths: { r: { username: 'given', password: 'given-pw', auth: b64('fromauth:authpw') } },
    });
    expect(readDockerConfigJson(text).config).toEqual([
      ['r', { username: 'fromauth', password: 'authpw' }],
    ]);
  });

  it('skips broken entries with a reason and keeps the others', () => {
    const text = JSON.stringify({
      auths: {
        bad: { auth: '%%%' },
        nocolon: { auth: b64('justuser') },
        notobj: 'x',
        good: { username: 'g', password: 'gp' },
      },
    });
    const parsed = readDockerConfigJson(text, 'src');
    expect(parsed.config).toEqual([['good', { username: 'g', password: 'gp' }]]);
    expect(parsed.problems).toEqual([
      'src: entry "bad": the auth field is not valid base64, ignoring it',
      'src: entry "nocolon": unable to parse auth field, must be formatted as base64(username:password), ignoring it',
      'src: entry "notobj" is not a JSON object, ignoring it',
    ]);
  });

  it('invalid JSON: nothing read, a reason that does not echo the content', () => {
    const parsed = readDockerConfigJson('{"auths": {"r": {"password": "hunter2"', 'src');
    expect(parsed).toEqual({ config: [], problems: ['src: not valid JSON'] });
    expect(readDockerConfigJson('[1]', 'src').problems).toEqual(['src: not a JSON object']);
    expect(readDockerConfigJson('{"auths": 3}', 'src').problems).toEqual([
      'src: the registry map is not a JSON object',
    ]);
    // No auths at all: valid, empty (as the kubelet's nil map).
    expect(readDockerConfigJson('{}')).toEqual({ config: [], problems: [] });
  });

  it('.dockercfg is the registry map itself', () => {
    const text = JSON.stringify({ 'registry:5000': { auth: b64('u:p'), email: 'e@x' } });
    expect(readDockercfg(text).config).toEqual([
      ['registry:5000', { username: 'u', password: 'p', email: 'e@x' }],
    ]);
    expect(readDockercfg('nope', 'c').problems).toEqual(['c: not valid JSON']);
  });
});

describe('globMatch (Go filepath.Match per host label)', () => {
  it.each([
    ['*', 'anything', true],
    ['*', '', true],
    ['a*', 'abc', true],
    ['a*', 'bc', false],
    ['?b', 'ab', true],
    ['?b', 'b', false],
    ['[a-c]x', 'bx', true],
    ['[a-c]x', 'dx', false],
    ['[^a-c]x', 'dx', true],
    ['\\*', '*', true],
    ['\\*', 'a', false],
    ['reg.istry', 'reg.istry', true],
    ['reg.istry', 'regXistry', false],
    ['[abc', 'a', false],
  ])('%s vs %s → %s', (pattern, name, expected) => {
    expect(globMatch(pattern, name)).toBe(expected);
  });
});

describe('registryLocationMatches', () => {
  it.each([
    ['registry:5000', 'registry:5000/path/img', true],
    ['registry', 'registry:5000/path/img', false],
    ['registry:5001', 'registry:5000/path/img', false],
    ['registry:5000/path', 'registry:5000/path/img', true],
    ['registry:5000/other', 'registry:5000/path/img', false],
    ['*.example.com', 'a.example.com/x', true],
    ['*.example.com', 'example.com/x', false],
    ['*.example.com', 'a.b.example.com/x', false],
    ['*.*.example.com', 'a.b.example.com/x', true],
    ['example.com', 'example.com/x', true],
    ['[::1]:5000', '[::1]:5000/x', true],
  ])('%s covers %s → %s', (glob, target, expected) => {
    expect(registryLocationMatches(glob, target)).toBe(expected);
  });
});

describe('BasicDockerKeyring', () => {
  it('Docker Hub: the CLI key https://index.docker.io/v1/ serves every Hub form', () => {
    const k = keyringOf({ 'https://index.docker.io/v1/': 'hub' });
    for (const image of [
      'busybox',
      'busybox:latest',
      'library/busybox',
      'docker.io/library/busybox',
      'docker.io/x/y',
      'index.docker.io/x/y:1',
      'user/app',
    ]) {
      expect(lookup(k, image), image).toEqual(['hub']);
    }
    expect(lookup(k, 'registry.example.com/x')).toEqual([]);
    expect(lookup(k, 'registry:5000/x')).toEqual([]);
  });

  it('Docker Hub: a docker.io key matches the normalized repository directly', () => {
    const k = keyringOf({ 'docker.io': 'dio' });
    expect(lookup(k, 'busybox')).toEqual(['dio']);
    expect(lookup(k, 'x/y')).toEqual(['dio']);
    expect(lookup(k, 'quay.io/x')).toEqual([]);
  });

  it('host with port and path; scheme and /v1/ /v2/ suffixes normalized away', () => {
    const k = keyringOf({
      'http://registry:5000/v2/': 'scheme-v2',
      'registry:5000/path': 'path',
      'registry:5001': 'other-port',
    });
    expect(lookup(k, 'registry:5000/path/img:tag')).toEqual(['path', 'scheme-v2']);
    expect(lookup(k, 'registry:5000/img')).toEqual(['scheme-v2']);
    expect(lookup(k, 'registry/img')).toEqual([]);
    expect(lookup(k, 'registry:5001/img')).toEqual(['other-port']);
  });

  it('wildcard host globs match one label each', () => {
    const k = keyringOf({ '*.example.com': 'wild', 'example.com': 'apex' });
    expect(lookup(k, 'a.example.com/team/app')).toEqual(['wild']);
    expect(lookup(k, 'example.com/team/app')).toEqual(['apex']);
    expect(lookup(k, 'a.b.example.com/team/app')).toEqual([]);
  });

  it('most specific location first; every match is returned', () => {
    const k = keyringOf({
      'quay.io': 'host',
      'quay.io/coreos': 'org',
      'quay.io/coreos/etcd': 'repo',
      'quay.io/other': 'unrelated',
    });
    expect(lookup(k, 'quay.io/coreos/etcd:v3')).toEqual(['repo', 'org', 'host']);
    expect(lookup(k, 'quay.io/coreos/flannel')).toEqual(['org', 'host']);
    expect(lookup(k, 'quay.io/else/x')).toEqual(['host']);
  });

  it('matching Hub-wide credentials are only a fallback when nothing else matched', () => {
    const k = keyringOf({ 'index.docker.io': 'hub', 'docker.io/team': 'team' });
    expect(lookup(k, 'team/app')).toEqual(['team']);
    expect(lookup(k, 'other/app')).toEqual(['hub']);
  });

  it('several credentials for one location keep their order (rotation)', () => {
    const k = new BasicDockerKeyring();
    k.add([['registry:5000', { username: 'old', password: '1' }]]);
    k.add([['registry:5000', { username: 'new', password: '2' }]]);
    expect(lookup(k, 'registry:5000/x')).toEqual(['old', 'new']);
  });
});

function secret(
  name: string,
  type: string,
  data: Record<string, string>,
  namespace = 'team',
): k8s.Secret {
  const encoded: Record<string, string> = {};
  for (const [key, v] of Object.entries(data)) encoded[key] = b64(v);
  return { metadata: { name, namespace }, type, data: encoded };
}
const configJson = (auths: Record<string, unknown>): string => JSON.stringify({ auths });

describe('makeDockerKeyring (kubelet secrets.MakeDockerKeyring)', () => {
  it('reads dockerconfigjson and dockercfg Secrets; other types are not pull secrets', () => {
    const { keyring, problems } = makeDockerKeyring([
      secret('json', 'kubernetes.io/dockerconfigjson', {
        '.dockerconfigjson': configJson({ 'registry:5000': { auth: b64('j:jp') } }),
      }),
      secret('cfg', 'kubernetes.io/dockercfg', {
        '.dockercfg': JSON.stringify({ 'registry:5000': { username: 'c', password: 'cp' } }),
      }),
      secret('opaque', 'Opaque', {
        '.dockerconfigjson': configJson({ 'registry:5000': { username: 'o', password: 'op' } }),
      }),
      // the type decides which key is read
      secret('mismatch', 'kubernetes.io/dockercfg', {
        '.dockerconfigjson': configJson({ 'registry:5000': { username: 'm', password: 'mp' } }),
      }),
    ]);
    expect(problems).toEqual([]);
    expect(keyring.lookup('registry:5000/x').map(toCriAuthConfig)).toEqual([
      { username: 'j', password: 'jp' },
      { username: 'c', password: 'cp' },
    ]);
  });

  it('a broken secret is skipped with a reason; the others still count', () => {
    const { keyring, problems } = makeDockerKeyring([
      secret('broken', 'kubernetes.io/dockerconfigjson', { '.dockerconfigjson': '{nope' }),
      secret('good', 'kubernetes.io/dockerconfigjson', {
        '.dockerconfigjson': configJson({ 'registry:5000': { username: 'g', password: 'gp' } }),
      }),
    ]);
    expect(problems).toEqual(['secret team/broken .dockerconfigjson: not valid JSON']);
    expect(users(keyring.lookup('registry:5000/x'))).toEqual(['g']);
  });

  it('no pull secrets: an empty keyring', () => {
    const { keyring } = makeDockerKeyring([]);
    expect(keyring.empty).toBe(true);
    expect(keyring.lookup('docker.io/library/busybox')).toEqual([]);
  });
});

describe('toCriAuthConfig', () => {
  it('username/password, tokens when present, never a server address', () => {
    expect(toCriAuthConfig({ username: 'u', password: 'p', email: 'e' })).toEqual({
      username: 'u',
      password: 'p',
    });
    expect(
      toCriAuthConfig({ username: '', password: '', identityToken: 'i', registryToken: 'r' }),
    ).toEqual({ username: '', password: '', identityToken: 'i', registryToken: 'r' });
  });
});

describe('getPullSecretsForPod', () => {
  const manager = {
    async getSecret(namespace: string, name: string): Promise<k8s.Secret> {
      if (name === 'down') throw new UnavailableError('api server unreachable');
      if (name !== 'present') throw new NotFoundError(`secret "${name}" not found`);
      return { metadata: { name, namespace } };
    },
    registerPod() {},
    unregisterPod() {},
  };
  it('reads the named Secrets in the pod namespace; skips empty names; lists failures', async () => {
    const pod: k8s.Pod = {
      metadata: { name: 'p', namespace: 'team', uid: 'u1' },
      spec: {
        containers: [],
        imagePullSecrets: [
          { name: 'present' },
          { name: '' },
          {},
          { name: 'gone' },
          { name: 'down' },
        ],
      },
    };
    const r = await getPullSecretsForPod(pod, manager);
    expect(r.secrets).toEqual([{ metadata: { name: 'present', namespace: 'team' } }]);
    expect(r.failed.map((f) => f.name)).toEqual(['gone', 'down']);
    expect(r.failed[0]!.error).toBeInstanceOf(NotFoundError);
  });
  it('no namespace means default', async () => {
    const pod: k8s.Pod = {
      metadata: { name: 'p', uid: 'u1' },
      spec: { containers: [], imagePullSecrets: [{ name: 'present' }] },
    };
    const r = await getPullSecretsForPod(pod, manager);
    expect(r.secrets[0]!.metadata.namespace).toBe('default');
  });
});

describe('pullImageWithCredentials (kubelet PullImage loop)', () => {
  function images(accept: (auth: cri.AuthConfigInput | null | undefined) => string | undefined) {
    const calls: Array<cri.PullImageRequestInput | undefined> = [];
    const service = {
      pullImage: async (req?: cri.PullImageRequestInput) => {
        calls.push(req);
        const err = accept(req?.auth);
        if (err !== undefined) throw new Error(err);
        return { imageRef: 'sha256:abc' };
      },
    } as unknown as ImageService;
    return { service, calls };
  }

  it('no credentials: one anonymous pull, no auth field', async () => {
    const { service, calls } = images(() => undefined);
    await pullImageWithCredentials(service, { image: 'busybox' }, []);
    expect(calls).toEqual([{ image: { image: 'busybox' } }]);
  });

  it('tries credentials in order until one works', async () => {
    const { service, calls } = images((auth) =>
      auth?.password === 'right' ? undefined : '401 Unauthorized',
    );
    const r = await pullImageWithCredentials(
      service,
      { image: 'registry:5000/x', sandboxConfig: { metadata: { name: 'p' } } },
      [
        { username: 'u', password: 'wrong' },
        { username: 'u', password: 'right' },
        { username: 'u', password: 'never-tried' },
      ],
    );
    expect(r.imageRef).toBe('sha256:abc');
    expect(calls.map((c) => c?.auth?.password)).toEqual(['wrong', 'right']);
    expect(calls[0]?.sandboxConfig).toEqual({ metadata: { name: 'p' } });
  });

  it('one credential failing rethrows its own error', async () => {
    const { service } = images(() => 'pull access denied');
    const err = await pullImageWithCredentials(service, { image: 'x' }, [
      { username: 'u', password: 'p' },
    ]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(ImagePullAttemptsError);
    expect((err as Error).message).toBe('pull access denied');
  });

  it('all failing: the aggregate message of distinct errors', async () => {
    let n = 0;
    const { service } = images(() => (++n === 2 ? 'timeout' : '401 Unauthorized'));
    const err = await pullImageWithCredentials(service, { image: 'x' }, [
      { username: 'a', password: '1' },
      { username: 'b', password: '2' },
      { username: 'c', password: '3' },
    ]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImagePullAttemptsError);
    expect((err as ImagePullAttemptsError).errors).toHaveLength(3);
    expect((err as Error).message).toBe('[401 Unauthorized, timeout]');

    const same = images(() => '401 Unauthorized');
    const err2 = await pullImageWithCredentials(same.service, { image: 'x' }, [
      { username: 'a', password: '1' },
      { username: 'b', password: '2' },
    ]).catch((e: unknown) => e);
    expect((err2 as Error).message).toBe('401 Unauthorized');
  });

  it('an aborted sync stops trying further credentials', async () => {
    const controller = new AbortController();
    const { service, calls } = images(() => {
      controller.abort();
      return 'cancelled';
    });
    await expect(
      pullImageWithCredentials(
        service,
        { image: 'x' },
        [
          { username: 'a', password: '1' },
          { username: 'b', password: '2' },
        ],
        { signal: controller.signal },
      ),
    ).rejects.toThrow('cancelled');
    expect(calls).toHaveLength(1);
  });
});
