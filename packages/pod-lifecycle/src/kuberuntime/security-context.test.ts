import { describe, expect, it } from 'vitest';
import { container, pod } from './__fixtures__/pods.js';
import { InvalidPodSpecError } from './errors.js';
import {
  containerSecurityContext,
  defaultMaskedPaths,
  defaultReadonlyPaths,
  namespacesForPod,
  sandboxSecurityContext,
  verifyRunAsNonRoot,
} from './security-context.js';

describe('namespacesForPod', () => {
  it('POD network/IPC and CONTAINER pid by default; NODE for host*; POD pid when sharing', () => {
    expect(namespacesForPod(pod([container('a')]))).toEqual({
      network: 'POD',
      pid: 'CONTAINER',
      ipc: 'POD',
    });
    expect(
      namespacesForPod(pod([container('a')], { hostNetwork: true, hostPID: true, hostIPC: true })),
    ).toEqual({
      network: 'NODE',
      pid: 'NODE',
      ipc: 'NODE',
    });
    expect(namespacesForPod(pod([container('a')], { shareProcessNamespace: true })).pid).toBe(
      'POD',
    );
  });
});

describe('sandboxSecurityContext', () => {
  it('carries the pod security context and privileged', () => {
    const p = pod(
      [container('a', undefined, undefined, { securityContext: { privileged: true } })],
      {
        securityContext: {
          runAsUser: 1000,
          runAsGroup: 3000,
          fsGroup: 2000,
          supplementalGroups: [4000, 5000],
          seLinuxOptions: { level: 's0:c1' },
        },
        initContainers: [container('i')],
      },
    );
    expect(sandboxSecurityContext(p)).toEqual({
      namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
      privileged: true,
      seccomp: { profileType: 'RuntimeDefault' },
      runAsUser: { value: 1000 },
      runAsGroup: { value: 3000 },
      supplementalGroups: [2000, 4000, 5000],
      selinuxOptions: { user: '', role: '', type: '', level: 's0:c1' },
    });
    expect(sandboxSecurityContext(pod([container('a')])).privileged).toBe(false);
  });

  it('rejects bad IDs', () => {
    expect(() =>
      sandboxSecurityContext(pod([container('a')], { securityContext: { runAsUser: -1 } })),
    ).toThrow(/spec\.securityContext\.runAsUser: must be an integer/);
  });
});

describe('containerSecurityContext', () => {
  it('merges pod and container settings', () => {
    const p = pod(
      [
        container('a', undefined, undefined, {
          securityContext: {
            runAsUser: 1001,
            capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] },
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            seccompProfile: { type: 'Localhost', localhostProfile: 'profiles/audit.json' },
          },
        }),
      ],
      { securityContext: { runAsUser: 1000, runAsGroup: 3000, supplementalGroups: [7] } },
    );
    expect(
      containerSecurityContext(p, p.spec.containers[0]!, {
        seccompProfileRoot: '/var/lib/na/seccomp/',
      }),
    ).toEqual({
      namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
      seccomp: {
        profileType: 'Localhost',
        localhostRef: '/var/lib/na/seccomp/profiles/audit.json',
      },
      capabilities: { addCapabilities: ['NET_ADMIN'], dropCapabilities: ['ALL'] },
      readonlyRootfs: true,
      runAsUser: { value: 1001 },
      runAsGroup: { value: 3000 },
      supplementalGroups: [7],
      noNewPrivs: true,
      maskedPaths: [...defaultMaskedPaths],
      readonlyPaths: [...defaultReadonlyPaths],
    });
  });

  it('privileged: no masked paths; seccomp from the pod or Unconfined/RuntimeDefault', () => {
    const p = pod(
      [container('a', undefined, undefined, { securityContext: { privileged: true } })],
      {
        securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
      },
    );
    const sc = containerSecurityContext(p, p.spec.containers[0]!);
    expect(sc.privileged).toBe(true);
    expect(sc.maskedPaths).toBeUndefined();
    expect(sc.seccomp).toEqual({ profileType: 'RuntimeDefault' });
    const plain = pod([container('a')]);
    expect(containerSecurityContext(plain, plain.spec.containers[0]!).seccomp).toEqual({
      profileType: 'Unconfined',
    });
    expect(
      containerSecurityContext(plain, plain.spec.containers[0]!, { seccompDefault: true }).seccomp,
    ).toEqual({
      profileType: 'RuntimeDefault',
    });
  });

  it('image user fills runAsUser / runAsUsername; namespaces can come from the sandbox', () => {
    const p = pod([container('a')]);
    const c = p.spec.containers[0]!;
    expect(containerSecurityContext(p, c, { imageUser: { uid: 65534 } }).runAsUser).toEqual({
      value: 65534,
    });
    expect(
      containerSecurityContext(p, c, { imageUser: { username: 'nobody' } }).runAsUsername,
    ).toBe('nobody');
    expect(
      containerSecurityContext(p, c, {
        namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' },
      }).namespaceOptions,
    ).toEqual({ network: 'NODE', pid: 'CONTAINER', ipc: 'POD' });
  });

  it('runAsGroup without any user is a clear error', () => {
    const p = pod([container('a', undefined, undefined, { securityContext: { runAsGroup: 5 } })]);
    expect(() => containerSecurityContext(p, p.spec.containers[0]!)).toThrow(
      /runAsGroup needs runAsUser/,
    );
  });

  it('bad seccomp profiles are clear errors', () => {
    const p = pod([
      container('a', undefined, undefined, {
        securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: '../x' } },
      }),
    ]);
    expect(() => containerSecurityContext(p, p.spec.containers[0]!)).toThrow(
      /localhostProfile: must be a relative path/,
    );
  });
});

describe('containerSecurityContext with an image that names no user (kubelet getImageUser)', () => {
  it('runs as uid 0, so runAsGroup alone is honoured (security_context.go runAsGroup)', () => {
    const p = pod([
      container('a', undefined, undefined, { securityContext: { runAsGroup: 2002 } }),
    ]);
    const sc = containerSecurityContext(p, p.spec.containers[0]!, { imageUser: {} });
    expect(sc.runAsUser).toEqual({ value: 0 });
    expect(sc.runAsGroup).toEqual({ value: 2002 });
    expect(sc.runAsUsername).toBeUndefined();
  });

  it('an explicit runAsUser or the image uid still wins', () => {
    const p = pod([container('a')], { securityContext: { runAsUser: 1001, runAsGroup: 7 } });
    expect(containerSecurityContext(p, p.spec.containers[0]!, { imageUser: {} }).runAsUser).toEqual(
      {
        value: 1001,
      },
    );
    const q = pod([container('a')]);
    expect(
      containerSecurityContext(q, q.spec.containers[0]!, { imageUser: { uid: 1234 } }).runAsUser,
    ).toEqual({ value: 1234 });
  });

  it('runAsGroup with the image unknown (no ImageStatus) is still refused', () => {
    const p = pod([
      container('a', undefined, undefined, { securityContext: { runAsGroup: 2002 } }),
    ]);
    expect(() => containerSecurityContext(p, p.spec.containers[0]!)).toThrow(/runAsGroup needs/);
  });
});

describe('verifyRunAsNonRoot messages', () => {
  it('name the pod as the kubelet formats it (name_namespace(uid)) and the container', () => {
    const p = pod([
      container('app', undefined, undefined, { securityContext: { runAsNonRoot: true } }),
    ]);
    const c = p.spec.containers[0]!;
    expect(() => verifyRunAsNonRoot(p, c, {})).toThrow(
      'container has runAsNonRoot and image will run as root (pod: "web_team(1234-abcd)", container: app)',
    );
    expect(() => verifyRunAsNonRoot(p, c, { username: 'app' })).toThrow(
      'container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root (pod: "web_team(1234-abcd)", container: app)',
    );
    const root = pod([
      container('app', undefined, undefined, {
        securityContext: { runAsNonRoot: true, runAsUser: 0 },
      }),
    ]);
    expect(() => verifyRunAsNonRoot(root, root.spec.containers[0]!)).toThrow(
      'container\'s runAsUser breaks non-root policy (pod: "web_team(1234-abcd)", container: app)',
    );
  });
});

describe('verifyRunAsNonRoot', () => {
  const nonRoot = (runAsUser?: number) =>
    pod([
      container('a', undefined, undefined, {
        securityContext: { runAsNonRoot: true, ...(runAsUser !== undefined ? { runAsUser } : {}) },
      }),
    ]);

  it('refuses uid 0 explicitly set', () => {
    const p = nonRoot(0);
    let err: unknown;
    try {
      containerSecurityContext(p, p.spec.containers[0]!);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidPodSpecError);
    expect((err as Error).message).toMatch(/runAsUser breaks non-root policy/);
  });

  it('refuses root and unverifiable images, accepts non-root', () => {
    const p = nonRoot();
    const c = p.spec.containers[0]!;
    expect(() => verifyRunAsNonRoot(p, c)).toThrow(/image will run as root/);
    expect(() => verifyRunAsNonRoot(p, c, { uid: 0 })).toThrow(/image will run as root/);
    expect(() => verifyRunAsNonRoot(p, c, { username: 'app' })).toThrow(/non-numeric user \(app\)/);
    expect(() => verifyRunAsNonRoot(p, c, { uid: 1000 })).not.toThrow();
    expect(() =>
      verifyRunAsNonRoot(nonRoot(1000), nonRoot(1000).spec.containers[0]!),
    ).not.toThrow();
    // pod-level runAsNonRoot applies too
    const podLevel = pod([container('a')], {
      securityContext: { runAsNonRoot: true, runAsUser: 0 },
    });
    expect(() => verifyRunAsNonRoot(podLevel, podLevel.spec.containers[0]!)).toThrow(
      /breaks non-root policy/,
    );
  });
});

describe('seccompDefault (kubelet getSeccompProfile with fallbackToRuntimeDefault)', () => {
  it('only fills in RuntimeDefault where neither the container nor the pod names a profile', () => {
    const p = pod(
      [
        container('none'),
        container('own', undefined, undefined, {
          securityContext: { seccompProfile: { type: 'Unconfined' } },
        }),
      ],
      { securityContext: { runAsUser: 1000 } },
    );
    const on = { seccompDefault: true };
    expect(containerSecurityContext(p, p.spec.containers[0]!, on).seccomp).toEqual({
      profileType: 'RuntimeDefault',
    });
    expect(containerSecurityContext(p, p.spec.containers[1]!, on).seccomp).toEqual({
      profileType: 'Unconfined',
    });
    const podLevel = pod([container('none')], {
      securityContext: { seccompProfile: { type: 'Unconfined' } },
    });
    expect(containerSecurityContext(podLevel, podLevel.spec.containers[0]!, on).seccomp).toEqual({
      profileType: 'Unconfined',
    });
    expect(
      containerSecurityContext(p, p.spec.containers[0]!, { seccompDefault: false }).seccomp,
    ).toEqual({ profileType: 'Unconfined' });
  });

  it('the sandbox is RuntimeDefault whatever the pod says', () => {
    const p = pod([container('a')], {
      securityContext: { seccompProfile: { type: 'Unconfined' } },
    });
    expect(sandboxSecurityContext(p).seccomp).toEqual({ profileType: 'RuntimeDefault' });
  });
});
