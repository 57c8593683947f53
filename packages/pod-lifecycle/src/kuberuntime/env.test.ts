import { describe, expect, it } from 'vitest';
import {
  NotFoundError,
  UnavailableError,
  isNodeAgentError,
  type ServiceLister,
  type k8s,
} from '@nodeagent/core';
import { container, pod } from './__fixtures__/pods.js';
import {
  fetchEnvObjects,
  isValidEnvVarName,
  makeEnvironmentVariables,
  type DownwardApiContext,
  type EnvObjectOptions,
  type EnvObjectSource,
} from './env.js';
import { InvalidPodSpecError, UnsupportedInStandaloneError } from './errors.js';

const ctx: DownwardApiContext = {
  podIPs: ['10.88.0.5', 'fd00::5'],
  hostIP: '192.168.1.10',
  nodeName: 'node-1',
};

function envOf(
  env: k8s.EnvVar[],
  extra: Partial<k8s.Container> = {},
  spec: Partial<k8s.PodSpec> = {},
  c: DownwardApiContext & EnvObjectOptions = ctx,
) {
  const p = pod(
    [
      container(
        'app',
        { cpu: '250m', memory: '64Mi' },
        { cpu: '1500m', memory: '128Mi' },
        { env, ...extra },
      ),
    ],
    spec,
    {
      labels: { app: 'web', tier: 'front' },
      annotations: { 'note/x': 'y' },
    },
  );
  return makeEnvironmentVariables(p, p.spec.containers[0]!, c);
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('makeEnvironmentVariables', () => {
  it('values, in order, with $(VAR) references to earlier variables', () => {
    expect(
      envOf([
        { name: 'A', value: 'a' },
        { name: 'B', value: '$(A)-b' },
        { name: 'C', value: '$(D)-$$(A)' }, // D defined later: stays
        { name: 'D', value: 'd' },
        { name: 'E' },
      ]),
    ).toEqual([
      { name: 'A', value: 'a' },
      { name: 'B', value: 'a-b' },
      { name: 'C', value: '$(D)-$(A)' },
      { name: 'D', value: 'd' },
      { name: 'E', value: '' },
    ]);
  });

  it('downward API fieldRefs', () => {
    const f = (fieldPath: string, apiVersion?: string): k8s.EnvVar => ({
      name: fieldPath,
      valueFrom: { fieldRef: apiVersion ? { fieldPath, apiVersion } : { fieldPath } },
    });
    const env = envOf(
      [
        f('metadata.name', 'v1'),
        f('metadata.namespace'),
        f('metadata.uid'),
        f("metadata.labels['app']"),
        f("metadata.annotations['note/x']"),
        f("metadata.labels['missing']"),
        f('spec.nodeName'),
        f('spec.serviceAccountName'),
        f('status.hostIP'),
        f('status.hostIPs'),
        f('status.podIP'),
        f('status.podIPs'),
      ],
      {},
      { serviceAccountName: 'sa' },
    );
    expect(Object.fromEntries(env.map((e) => [e.name, e.value]))).toEqual({
      'metadata.name': 'web',
      'metadata.namespace': 'team',
      'metadata.uid': '1234-abcd',
      "metadata.labels['app']": 'web',
      "metadata.annotations['note/x']": 'y',
      "metadata.labels['missing']": '',
      'spec.nodeName': 'node-1',
      'spec.serviceAccountName': 'sa',
      'status.hostIP': '192.168.1.10',
      'status.hostIPs': '192.168.1.10',
      'status.podIP': '10.88.0.5',
      'status.podIPs': '10.88.0.5,fd00::5',
    });
  });

  it('fieldRef values are not expanded; pod nodeName wins; host-network pods use the host IP', () => {
    const env = envOf(
      [
        { name: 'X', value: 'x' },
        { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      ],
      {},
      { hostNetwork: true, nodeName: 'from-spec' },
      { ...ctx, podIPs: [] },
    );
    expect(env).toEqual([
      { name: 'X', value: 'x' },
      { name: 'IP', value: '192.168.1.10' },
      { name: 'NODE', value: 'from-spec' },
    ]);
  });

  it('resourceFieldRefs with divisors (ceil), limits defaulting to node allocatable', () => {
    const r = (resource: string, divisor?: string, containerName?: string): k8s.EnvVar => ({
      name: `${resource}/${divisor ?? ''}/${containerName ?? ''}`,
      valueFrom: {
        resourceFieldRef: {
          resource,
          ...(divisor ? { divisor } : {}),
          ...(containerName ? { containerName } : {}),
        },
      },
    });
    const env = envOf(
      [
        r('limits.cpu'),
        r('limits.cpu', '1m'),
        r('requests.cpu', '1m'),
        r('requests.cpu'),
        r('limits.memory'),
        r('limits.memory', '1Mi'),
        r('requests.memory', '1M'),
        r('limits.ephemeral-storage'),
        r('limits.memory', '1Mi', 'app'),
      ],
      {},
      {},
      { ...ctx, nodeAllocatable: { ephemeralStorageBytes: 5000 } },
    );
    expect(env.map((e) => e.value)).toEqual([
      '2',
      '1500',
      '250',
      '1',
      '134217728',
      '128',
      '68',
      '5000',
      '128',
    ]);
  });

  it('resourceFieldRef errors are clear', () => {
    const bad = (ref: k8s.ResourceFieldSelector) =>
      thrown(() => envOf([{ name: 'R', valueFrom: { resourceFieldRef: ref } }], {}, {}, ctx));
    expect(bad({ resource: 'limits.gpu' }).message).toMatch(
      /unsupported container resource "limits.gpu"/,
    );
    expect(bad({ resource: 'cpu' }).message).toMatch(/unsupported container resource "cpu"/);
    expect(bad({ resource: 'limits.cpu', divisor: '1Mi' }).message).toMatch(
      /not a valid CPU divisor/,
    );
    expect(bad({ resource: 'limits.memory', divisor: '3' }).message).toMatch(
      /not a valid divisor for memory/,
    );
    expect(bad({ resource: 'limits.memory', divisor: 'x' }).message).toMatch(
      /divisor: quantity "x" is invalid/,
    );
    expect(bad({ resource: 'limits.memory', containerName: 'ghost' }).message).toMatch(
      /container "ghost" not found/,
    );
    expect(bad({ resource: 'limits.ephemeral-storage' }).message).toMatch(
      /node allocatable ephemeral-storage is unknown/,
    );
    expect(bad({ resource: 'limits.ephemeral-storage' })).toBeInstanceOf(InvalidPodSpecError);
  });

  it('unknown fieldRef paths and API versions are clear errors', () => {
    const err = thrown(() =>
      envOf([{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'spec.nope' } } }]),
    );
    expect(err).toBeInstanceOf(InvalidPodSpecError);
    expect(err.message).toContain('spec.containers{app}.env[X].valueFrom.fieldRef.fieldPath');
    expect(err.message).toContain('unsupported downward API field path "spec.nope"');
    expect(
      thrown(() =>
        envOf([{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'metadata.labels' } } }]),
      ).message,
    ).toMatch(/unsupported downward API field path/);
    expect(
      thrown(() =>
        envOf([{ name: 'X', valueFrom: { fieldRef: { fieldPath: "metadata.labels['']" } } }]),
      ).message,
    ).toMatch(/unsupported/);
    expect(
      thrown(() =>
        envOf([
          { name: 'X', valueFrom: { fieldRef: { fieldPath: 'metadata.name', apiVersion: 'v2' } } },
        ]),
      ).message,
    ).toMatch(/unsupported pod version "v2"/);
    expect(thrown(() => envOf([{ name: 'X', valueFrom: {} }])).message).toMatch(
      /must specify one of/,
    );
  });

  it('ConfigMap and Secret references are "not supported in standalone mode", not crashes', () => {
    const cm = thrown(() =>
      envOf([{ name: 'X', valueFrom: { configMapKeyRef: { name: 'c', key: 'k' } } }]),
    );
    expect(cm).toBeInstanceOf(UnsupportedInStandaloneError);
    expect(isNodeAgentError(cm, 'Unimplemented')).toBe(true);
    expect(cm.message).toContain('not supported in standalone mode');
    expect(cm.message).toContain('configMapKeyRef');
    const secret = thrown(() =>
      envOf([{ name: 'X', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }]),
    );
    expect(secret).toBeInstanceOf(UnsupportedInStandaloneError);
    const from = thrown(() => envOf([], { envFrom: [{ configMapRef: { name: 'c' } }] }));
    expect(from).toBeInstanceOf(UnsupportedInStandaloneError);
    expect(from.message).toContain('envFrom[0].configMapRef');
  });

  it('duplicate names: first position, last value (the kubelet map); bad names are errors', () => {
    expect(
      envOf([
        { name: 'A', value: '1' },
        { name: 'B', value: '$(A)' },
        { name: 'A', value: '2' },
        { name: 'C', value: '$(A)' },
      ]),
    ).toEqual([
      { name: 'A', value: '2' },
      { name: 'B', value: '1' },
      { name: 'C', value: '2' },
    ]);
    expect(thrown(() => envOf([{ name: '', value: 'x' }])).message).toMatch(/must not be empty/);
    expect(thrown(() => envOf([{ name: 'A=B', value: 'x' }])).message).toMatch(
      /must not contain '='/,
    );
  });
});

describe('makeEnvironmentVariables with ConfigMaps and Secrets (kubelet makeEnvironmentVariables)', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const configMaps: Record<string, k8s.ConfigMap> = {
    app: { metadata: { name: 'app' }, data: { MODE: 'fast', 'log.level': 'debug', PORT: '80' } },
  };
  const secrets: Record<string, k8s.Secret> = {
    creds: { metadata: { name: 'creds' }, data: { USER: b64('admin'), PASS: b64('s3cr=t') } },
  };
  const objects = {
    configMap(name: string) {
      const cm = configMaps[name];
      if (!cm) throw new NotFoundError(`configmap "${name}" not found`);
      return cm;
    },
    secret(name: string) {
      const s = secrets[name];
      if (!s) throw new NotFoundError(`secret "${name}" not found`);
      return s;
    },
  };
  function resolve(c: Partial<k8s.Container>, onInvalid?: (...a: unknown[]) => void) {
    const p = pod([container('app', undefined, undefined, c)]);
    return makeEnvironmentVariables(p, p.spec.containers[0]!, {
      ...ctx,
      envObjects: objects,
      ...(onInvalid ? { onInvalidEnvFromKeys: onInvalid } : {}),
    });
  }
  const asMap = (envs: { name: string; value: string }[]) =>
    Object.fromEntries(envs.map((e) => [e.name, e.value]));

  it('envFrom ConfigMap and Secret (decoded), with prefix; env overrides and may expand them', () => {
    const envs = resolve({
      envFrom: [{ configMapRef: { name: 'app' } }, { secretRef: { name: 'creds' }, prefix: 'DB_' }],
      env: [
        { name: 'MODE', value: 'slow' },
        { name: 'URL', value: 'http://$(DB_USER)@host:$(PORT)' },
        { name: 'ONE', valueFrom: { configMapKeyRef: { name: 'app', key: 'PORT' } } },
        { name: 'PW', valueFrom: { secretKeyRef: { name: 'creds', key: 'PASS' } } },
      ],
    });
    expect(asMap(envs)).toEqual({
      MODE: 'slow',
      'log.level': 'debug',
      PORT: '80',
      DB_USER: 'admin',
      DB_PASS: 's3cr=t',
      URL: 'http://admin@host:80',
      ONE: '80',
      PW: 's3cr=t',
    });
    // envFrom keys first (sorted per source), explicit env after; an overridden name keeps its place.
    expect(envs.map((e) => e.name)).toEqual([
      'MODE',
      'PORT',
      'log.level',
      'DB_PASS',
      'DB_USER',
      'URL',
      'ONE',
      'PW',
    ]);
  });

  it('missing objects and keys: kubelet messages, or skipped when optional', () => {
    expect(
      thrown(() =>
        resolve({
          env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k' } } }],
        }),
      ).message,
    ).toBe('configmap "nope" not found');
    expect(
      thrown(() =>
        resolve({
          env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'app', key: 'k' } } }],
        }),
      ).message,
    ).toBe("couldn't find key k in ConfigMap team/app");
    expect(
      thrown(() =>
        resolve({ env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'creds', key: 'k' } } }] }),
      ).message,
    ).toBe("couldn't find key k in Secret team/creds");
    expect(thrown(() => resolve({ envFrom: [{ secretRef: { name: 'gone' } }] })).message).toBe(
      'secret "gone" not found',
    );
    const envs = resolve({
      envFrom: [{ configMapRef: { name: 'gone', optional: true } }],
      env: [
        { name: 'A', valueFrom: { configMapKeyRef: { name: 'gone', key: 'k', optional: true } } },
        { name: 'B', valueFrom: { secretKeyRef: { name: 'creds', key: 'k', optional: true } } },
        { name: 'C', value: 'c' },
      ],
    });
    expect(envs).toEqual([{ name: 'C', value: 'c' }]);
  });

  it('an optional reference still fails when the object cannot be read (not NotFound)', () => {
    const failing = {
      configMap: () => {
        throw new UnavailableError('apiserver down');
      },
      secret: objects.secret,
    };
    const p = pod([
      container('app', undefined, undefined, {
        envFrom: [{ configMapRef: { name: 'app', optional: true } }],
      }),
    ]);
    expect(
      thrown(() =>
        makeEnvironmentVariables(p, p.spec.containers[0]!, { ...ctx, envObjects: failing }),
      ).message,
    ).toBe('apiserver down');
  });

  it('envFrom keys that cannot be variable names are skipped and reported', () => {
    configMaps['odd'] = { metadata: { name: 'odd' }, data: { 'a=b': '1', ok: '2', '': '3' } };
    const reported: unknown[][] = [];
    const envs = resolve({ envFrom: [{ configMapRef: { name: 'odd' } }] }, (...a) =>
      reported.push(a),
    );
    expect(envs).toEqual([{ name: 'ok', value: '2' }]);
    expect(reported).toEqual([['configMap', 'odd', ['', 'a=b']]]);
  });

  it('fetchEnvObjects reads each referenced object once through the managers', async () => {
    const calls: string[] = [];
    const managers = {
      configMaps: {
        getConfigMap: async (ns: string, name: string) => {
          calls.push(`cm ${ns}/${name}`);
          return objects.configMap(name);
        },
        registerPod() {},
        unregisterPod() {},
      },
      secrets: {
        getSecret: async (ns: string, name: string) => {
          calls.push(`secret ${ns}/${name}`);
          return objects.secret(name);
        },
        registerPod() {},
        unregisterPod() {},
      },
    };
    const c = container('app', undefined, undefined, {
      envFrom: [{ configMapRef: { name: 'app' } }, { secretRef: { name: 'missing' } }],
      env: [
        { name: 'A', valueFrom: { configMapKeyRef: { name: 'app', key: 'PORT' } } },
        { name: 'B', value: 'literal', valueFrom: { secretKeyRef: { name: 'ignored', key: 'k' } } },
      ],
    });
    const p = pod([c]);
    const fetched = await fetchEnvObjects(p, c, managers);
    expect(calls.sort()).toEqual(['cm team/app', 'secret team/missing']);
    expect(fetched.configMap('app').data?.['PORT']).toBe('80');
    expect(() => fetched.secret('missing')).toThrow('secret "missing" not found');
    expect(isValidEnvVarName('log.level')).toBe(true);
    expect(isValidEnvVarName('A=B')).toBe(false);
    expect(isValidEnvVarName('tab\there')).toBe(false);
  });
});

describe('makeEnvironmentVariables with services (kubelet service links)', () => {
  const services: ServiceLister = {
    listServices: (ns) =>
      ns === 'team'
        ? [
            {
              metadata: { namespace: 'team', name: 'foo', uid: 'f' },
              spec: { clusterIP: '10.96.0.10', ports: [{ port: 8080 }] },
            },
          ]
        : [],
    hasSynced: () => true,
  };
  const objects: EnvObjectSource = {
    configMap: () => ({ metadata: { name: 'cm' }, data: { FOO_SERVICE_PORT: 'from-cm' } }),
    secret: () => {
      throw new NotFoundError('secret not found');
    },
  };

  it('container variables first, then the service variables they do not define', () => {
    const env = envOf([{ name: 'A', value: 'a' }], {}, {}, { ...ctx, services });
    expect(env).toEqual([
      { name: 'A', value: 'a' },
      { name: 'FOO_SERVICE_HOST', value: '10.96.0.10' },
      { name: 'FOO_SERVICE_PORT', value: '8080' },
      { name: 'FOO_PORT', value: 'tcp://10.96.0.10:8080' },
      { name: 'FOO_PORT_8080_TCP', value: 'tcp://10.96.0.10:8080' },
      { name: 'FOO_PORT_8080_TCP_PROTO', value: 'tcp' },
      { name: 'FOO_PORT_8080_TCP_PORT', value: '8080' },
      { name: 'FOO_PORT_8080_TCP_ADDR', value: '10.96.0.10' },
    ]);
  });

  it('explicit env and envFrom win over service variables; $(VAR) can read both', () => {
    const env = envOf(
      [
        { name: 'FOO_SERVICE_HOST', value: 'explicit' },
        {
          name: 'URL',
          value: 'http://$(FOO_SERVICE_HOST):$(FOO_SERVICE_PORT)/$(FOO_PORT_8080_TCP_ADDR)',
        },
      ],
      { envFrom: [{ configMapRef: { name: 'cm' } }] },
      {},
      { ...ctx, services, envObjects: objects },
    );
    const byName = new Map(env.map((e) => [e.name, e.value]));
    expect(byName.get('FOO_SERVICE_HOST')).toBe('explicit');
    expect(byName.get('FOO_SERVICE_PORT')).toBe('from-cm');
    expect(byName.get('URL')).toBe('http://explicit:from-cm/10.96.0.10');
    // Each name once; container variables keep their place before the service ones.
    expect(env.filter((e) => e.name === 'FOO_SERVICE_HOST')).toHaveLength(1);
    expect(env.map((e) => e.name).slice(0, 3)).toEqual([
      'FOO_SERVICE_PORT',
      'FOO_SERVICE_HOST',
      'URL',
    ]);
  });

  it('enableServiceLinks false: no namespace service variables', () => {
    const env = envOf([], {}, { enableServiceLinks: false }, { ...ctx, services });
    expect(env).toEqual([]);
  });

  it('an unsynced lister is the kubelet CreateContainerConfigError message', () => {
    const err = thrown(() =>
      envOf(
        [{ name: 'A', value: 'a' }],
        {},
        {},
        { ...ctx, services: { ...services, hasSynced: () => false } },
      ),
    );
    expect(isNodeAgentError(err, 'Unavailable')).toBe(true);
    expect(err.message).toBe(
      'services have not yet been read at least once, cannot construct envvars',
    );
  });

  it('without a lister (standalone) there are no service variables', () => {
    expect(envOf([{ name: 'A', value: 'a' }])).toEqual([{ name: 'A', value: 'a' }]);
  });
});
