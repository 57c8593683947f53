import { describe, expect, it } from 'vitest';
import {
  isNodeAgentError,
  type Service,
  type ServiceLister,
  type ServicePort,
} from '@nodeagent/core';
import { container, pod } from './__fixtures__/pods.js';
import {
  envVarsFromServices,
  serviceEnvVarName,
  serviceEnvironment,
  servicesNotSyncedMessage,
} from './service-env.js';

function svc(
  namespace: string,
  name: string,
  clusterIP: string | undefined,
  ports: ServicePort[] | undefined,
  type?: string,
): Service {
  return {
    metadata: { namespace, name, uid: `${namespace}/${name}` },
    spec: {
      ...(clusterIP !== undefined ? { clusterIP } : {}),
      ...(ports ? { ports } : {}),
      ...(type ? { type } : {}),
    },
  };
}

/** A lister over a fixed set of Services. */
function lister(services: Service[], synced = true): ServiceLister {
  return {
    listServices: (ns) => services.filter((s) => s.metadata.namespace === ns),
    hasSynced: () => synced,
  };
}

const kubernetes = svc('default', 'kubernetes', '10.96.0.1', [{ name: 'https', port: 443 }]);

describe('serviceEnvVarName (envvars makeEnvVariableName)', () => {
  it('upper-cases, maps - and . to _, and prefixes a leading digit', () => {
    expect(serviceEnvVarName('my-svc')).toBe('MY_SVC');
    expect(serviceEnvVarName('a.b-c')).toBe('A_B_C');
    expect(serviceEnvVarName('1st')).toBe('_1ST');
  });
});

describe('envVarsFromServices (envvars FromServices)', () => {
  it('host, first port, named ports, then docker link variables per port', () => {
    expect(
      envVarsFromServices([
        svc('ns', 'foo-bar', '10.96.0.7', [
          { name: 'http', port: 80 },
          { name: 'dns-udp', port: 53, protocol: 'UDP' },
          { name: 'sctp', port: 9000, protocol: 'SCTP' },
        ]),
      ]),
    ).toEqual([
      { name: 'FOO_BAR_SERVICE_HOST', value: '10.96.0.7' },
      { name: 'FOO_BAR_SERVICE_PORT', value: '80' },
      { name: 'FOO_BAR_SERVICE_PORT_HTTP', value: '80' },
      { name: 'FOO_BAR_SERVICE_PORT_DNS_UDP', value: '53' },
      { name: 'FOO_BAR_SERVICE_PORT_SCTP', value: '9000' },
      { name: 'FOO_BAR_PORT', value: 'tcp://10.96.0.7:80' },
      { name: 'FOO_BAR_PORT_80_TCP', value: 'tcp://10.96.0.7:80' },
      { name: 'FOO_BAR_PORT_80_TCP_PROTO', value: 'tcp' },
      { name: 'FOO_BAR_PORT_80_TCP_PORT', value: '80' },
      { name: 'FOO_BAR_PORT_80_TCP_ADDR', value: '10.96.0.7' },
      { name: 'FOO_BAR_PORT_53_UDP', value: 'udp://10.96.0.7:53' },
      { name: 'FOO_BAR_PORT_53_UDP_PROTO', value: 'udp' },
      { name: 'FOO_BAR_PORT_53_UDP_PORT', value: '53' },
      { name: 'FOO_BAR_PORT_53_UDP_ADDR', value: '10.96.0.7' },
      { name: 'FOO_BAR_PORT_9000_SCTP', value: 'sctp://10.96.0.7:9000' },
      { name: 'FOO_BAR_PORT_9000_SCTP_PROTO', value: 'sctp' },
      { name: 'FOO_BAR_PORT_9000_SCTP_PORT', value: '9000' },
      { name: 'FOO_BAR_PORT_9000_SCTP_ADDR', value: '10.96.0.7' },
    ]);
  });

  it('an unnamed single port with the protocol defaulted to TCP', () => {
    expect(envVarsFromServices([svc('ns', 'db', '10.96.0.9', [{ port: 5432 }])])).toEqual([
      { name: 'DB_SERVICE_HOST', value: '10.96.0.9' },
      { name: 'DB_SERVICE_PORT', value: '5432' },
      { name: 'DB_PORT', value: 'tcp://10.96.0.9:5432' },
      { name: 'DB_PORT_5432_TCP', value: 'tcp://10.96.0.9:5432' },
      { name: 'DB_PORT_5432_TCP_PROTO', value: 'tcp' },
      { name: 'DB_PORT_5432_TCP_PORT', value: '5432' },
      { name: 'DB_PORT_5432_TCP_ADDR', value: '10.96.0.9' },
    ]);
  });

  it('skips headless, ExternalName and IP-less Services', () => {
    expect(
      envVarsFromServices([
        svc('ns', 'headless', 'None', [{ port: 80 }]),
        svc('ns', 'ext', undefined, undefined, 'ExternalName'),
        svc('ns', 'empty', '', [{ port: 80 }]),
      ]),
    ).toEqual([]);
  });
});

describe('serviceEnvironment (kubelet getServiceEnvVarMap)', () => {
  const services = [
    kubernetes,
    svc('default', 'other-default', '10.96.0.3', [{ port: 1 }]),
    svc('team', 'foo', '10.96.0.10', [{ port: 8080 }]),
    svc('team', 'headless', 'None', [{ port: 80 }]),
    svc('team', 'ext', undefined, undefined, 'ExternalName'),
    svc('elsewhere', 'bar', '10.96.0.11', [{ port: 9090 }]),
  ];
  const names = (m: Map<string, string>): string[] =>
    [...m.keys()].filter((k) => k.endsWith('_SERVICE_HOST'));

  it('the pod namespace services plus the master kubernetes Service (links on by default)', () => {
    const p = pod([container('app')]);
    const env = serviceEnvironment(p, lister(services));
    expect(names(env)).toEqual(['FOO_SERVICE_HOST', 'KUBERNETES_SERVICE_HOST']);
    expect(env.get('FOO_SERVICE_HOST')).toBe('10.96.0.10');
    expect(env.get('KUBERNETES_SERVICE_PORT_HTTPS')).toBe('443');
    expect(env.get('KUBERNETES_PORT')).toBe('tcp://10.96.0.1:443');
  });

  it('enableServiceLinks false keeps only the master services of default', () => {
    const p = pod([container('app')], { enableServiceLinks: false });
    expect(names(serviceEnvironment(p, lister(services)))).toEqual(['KUBERNETES_SERVICE_HOST']);
    const inDefault = pod(
      [container('app')],
      { enableServiceLinks: false },
      { namespace: 'default' },
    );
    expect(names(serviceEnvironment(inDefault, lister(services)))).toEqual([
      'KUBERNETES_SERVICE_HOST',
    ]);
  });

  it('a pod in default with links sees all of default', () => {
    const p = pod([container('app')], {}, { namespace: 'default' });
    expect(names(serviceEnvironment(p, lister(services)))).toEqual([
      'KUBERNETES_SERVICE_HOST',
      'OTHER_DEFAULT_SERVICE_HOST',
    ]);
  });

  it('a namespace service named kubernetes wins over the master one', () => {
    const own = svc('team', 'kubernetes', '10.96.0.50', [{ port: 6443 }]);
    const env = serviceEnvironment(pod([container('app')]), lister([kubernetes, own]));
    expect(env.get('KUBERNETES_SERVICE_HOST')).toBe('10.96.0.50');
    const off = serviceEnvironment(
      pod([container('app')], { enableServiceLinks: false }),
      lister([kubernetes, own]),
    );
    expect(off.get('KUBERNETES_SERVICE_HOST')).toBe('10.96.0.1');
  });

  it('no lister (standalone): no variables', () => {
    expect(serviceEnvironment(pod([container('app')]), undefined).size).toBe(0);
  });

  it('an unsynced lister fails API pods with the kubelet message; static pods do not wait', () => {
    const unsynced = lister(services, false);
    let err: unknown;
    try {
      serviceEnvironment(pod([container('app')]), unsynced);
    } catch (e) {
      err = e;
    }
    expect(isNodeAgentError(err, 'Unavailable')).toBe(true);
    expect((err as Error).message).toBe(servicesNotSyncedMessage);
    expect(() =>
      serviceEnvironment(
        pod([container('app')], {}, { annotations: { 'kubernetes.io/config.source': 'api' } }),
        unsynced,
      ),
    ).toThrow(servicesNotSyncedMessage);
    const staticPod = pod(
      [container('app')],
      {},
      { annotations: { 'kubernetes.io/config.source': 'file' } },
    );
    expect(names(serviceEnvironment(staticPod, unsynced))).toEqual([
      'FOO_SERVICE_HOST',
      'KUBERNETES_SERVICE_HOST',
    ]);
  });
});
