import type { cri, k8s } from '@nodeagent/core';
import { InvalidPodSpecError } from './errors.js';
import { containerFieldPath } from './resource-lists.js';

/** Paths masked in every unprivileged container (kubelet securitycontext `defaultMaskedPaths`). */
export const defaultMaskedPaths: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** Paths read-only in every unprivileged container (kubelet securitycontext `defaultReadonlyPaths`). */
export const defaultReadonlyPaths: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/** Default directory of `Localhost` seccomp profiles (kubelet `<root-dir>/seccomp`). */
export const defaultSeccompProfileRoot = '/var/lib/kubelet/seccomp';

/**
 * The Linux namespaces of the pod's sandbox and containers (kubelet
 * `NamespacesForPod`): network and IPC `NODE` for hostNetwork / hostIPC, else `POD`;
 * PID `NODE` for hostPID, `POD` with shareProcessNamespace, else `CONTAINER`.
 */
export function namespacesForPod(pod: k8s.Pod): cri.NamespaceOptionInput {
  const spec = pod.spec;
  return {
    network: spec?.hostNetwork ? 'NODE' : 'POD',
    pid: spec?.hostPID ? 'NODE' : spec?.shareProcessNamespace ? 'POD' : 'CONTAINER',
    ipc: spec?.hostIPC ? 'NODE' : 'POD',
  };
}

/** Whether any container of the pod (init or app) is privileged (kubelet `HasPrivilegedContainer`). */
export function hasPrivilegedContainer(pod: k8s.Pod): boolean {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].some(
    (c) => c.securityContext?.privileged === true,
  );
}

function seccompOf(
  profile: k8s.SeccompProfile,
  root: string,
  field: string,
): cri.SecurityProfileInput {
  switch (profile.type) {
    case 'RuntimeDefault':
      return { profileType: 'RuntimeDefault' };
    case 'Unconfined':
      return { profileType: 'Unconfined' };
    case 'Localhost': {
      const ref = profile.localhostProfile ?? '';
      if (ref === '' || ref.startsWith('/') || ref.split('/').includes('..')) {
        throw new InvalidPodSpecError(
          `${field}.localhostProfile`,
          `must be a relative path without "..", got ${JSON.stringify(ref)}`,
        );
      }
      return { profileType: 'Localhost', localhostRef: `${root.replace(/\/+$/, '')}/${ref}` };
    }
    default:
      throw new InvalidPodSpecError(
        `${field}.type`,
        `unknown seccomp profile type ${JSON.stringify((profile as { type: unknown }).type)}`,
      );
  }
}

/**
 * The container's seccomp profile (kubelet `getSeccompProfile`): the container's
 * `seccompProfile`, else the pod's, else `RuntimeDefault` when `seccompDefault` is on,
 * else `Unconfined`. `Localhost` profiles resolve under `seccompProfileRoot`.
 */
export function containerSeccompProfile(
  pod: k8s.Pod,
  container: k8s.Container,
  options: { seccompDefault?: boolean; seccompProfileRoot?: string } = {},
): cri.SecurityProfileInput {
  const root = options.seccompProfileRoot ?? defaultSeccompProfileRoot;
  const base = containerFieldPath(pod, container);
  if (container.securityContext?.seccompProfile) {
    return seccompOf(
      container.securityContext.seccompProfile,
      root,
      `${base}.securityContext.seccompProfile`,
    );
  }
  if (pod.spec?.securityContext?.seccompProfile) {
    return seccompOf(
      pod.spec.securityContext.seccompProfile,
      root,
      'spec.securityContext.seccompProfile',
    );
  }
  return { profileType: options.seccompDefault ? 'RuntimeDefault' : 'Unconfined' };
}

function selinuxOf(o: k8s.SELinuxOptions | undefined): cri.SELinuxOptionInput | undefined {
  if (!o) return undefined;
  return { user: o.user ?? '', role: o.role ?? '', type: o.type ?? '', level: o.level ?? '' };
}

function supplementalGroupsOf(pod: k8s.Pod): number[] {
  const sc = pod.spec?.securityContext;
  const groups: number[] = [];
  if (sc?.fsGroup !== undefined) groups.push(sc.fsGroup);
  for (const g of sc?.supplementalGroups ?? []) groups.push(g);
  return groups;
}

function checkId(value: number | undefined, field: string): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < 0 || value > 2147483647) {
    throw new InvalidPodSpecError(
      field,
      `must be an integer between 0 and 2147483647, got ${String(value)}`,
    );
  }
}

/**
 * The sandbox's Linux security context (kubelet `generatePodSandboxLinuxConfig`):
 * namespaces ({@link namespacesForPod}), `privileged` when any container is, seccomp
 * `RuntimeDefault` for the sandbox process (kubelet forces it so pods may use
 * least-privileged profiles), and from the pod security context runAsUser, runAsGroup,
 * SELinux options and supplemental groups (fsGroup first).
 */
export function sandboxSecurityContext(pod: k8s.Pod): cri.LinuxSandboxSecurityContextInput {
  const sc = pod.spec?.securityContext;
  checkId(sc?.runAsUser, 'spec.securityContext.runAsUser');
  checkId(sc?.runAsGroup, 'spec.securityContext.runAsGroup');
  const out: cri.LinuxSandboxSecurityContextInput = {
    namespaceOptions: namespacesForPod(pod),
    privileged: hasPrivilegedContainer(pod),
    seccomp: { profileType: 'RuntimeDefault' },
  };
  if (sc?.runAsUser !== undefined) out.runAsUser = { value: sc.runAsUser };
  if (sc?.runAsGroup !== undefined) out.runAsGroup = { value: sc.runAsGroup };
  const groups = supplementalGroupsOf(pod);
  if (groups.length > 0) out.supplementalGroups = groups;
  const selinux = selinuxOf(sc?.seLinuxOptions);
  if (selinux) out.selinuxOptions = selinux;
  return out;
}

/**
 * The user an image runs as without `runAsUser` (from CRI `ImageStatus`: `uid`, or a
 * non-numeric `username`). The kubelet treats an image that names neither as root.
 */
export interface ImageUser {
  uid?: number;
  username?: string;
}

/**
 * The container's effective security context: the container's own fields over the
 * pod's (kubelet `DetermineEffectiveSecurityContext`) for runAsUser, runAsGroup,
 * runAsNonRoot and SELinux options.
 */
export function effectiveSecurityContext(
  pod: k8s.Pod,
  container: k8s.Container,
): k8s.SecurityContext {
  const podSc = pod.spec?.securityContext ?? {};
  const sc: k8s.SecurityContext = { ...(container.securityContext ?? {}) };
  if (sc.runAsUser === undefined && podSc.runAsUser !== undefined) sc.runAsUser = podSc.runAsUser;
  if (sc.runAsGroup === undefined && podSc.runAsGroup !== undefined)
    sc.runAsGroup = podSc.runAsGroup;
  if (sc.runAsNonRoot === undefined && podSc.runAsNonRoot !== undefined)
    sc.runAsNonRoot = podSc.runAsNonRoot;
  if (sc.seLinuxOptions === undefined && podSc.seLinuxOptions !== undefined)
    sc.seLinuxOptions = podSc.seLinuxOptions;
  return sc;
}

/** A pod as the kubelet's `format.Pod` quotes it in errors: `"name_namespace(uid)"`. */
function formatPodForError(pod: k8s.Pod): string {
  const m = pod.metadata ?? {};
  return JSON.stringify(`${m.name ?? ''}_${m.namespace ?? ''}(${m.uid ?? ''})`);
}

/**
 * Enforces `runAsNonRoot` (kubelet `verifyRunAsNonRoot`): with it set, an explicit
 * runAsUser 0 is refused; without runAsUser, an image running as uid 0 (or naming no
 * user at all, i.e. root) or as a non-numeric user name (cannot be verified) is refused.
 * @throws InvalidPodSpecError with the kubelet's reason.
 */
export function verifyRunAsNonRoot(
  pod: k8s.Pod,
  container: k8s.Container,
  imageUser: ImageUser = {},
): void {
  const sc = effectiveSecurityContext(pod, container);
  if (sc.runAsNonRoot !== true) return;
  const field = `${containerFieldPath(pod, container)}.securityContext`;
  if (sc.runAsUser !== undefined) {
    if (sc.runAsUser === 0) {
      throw new InvalidPodSpecError(
        `${field}.runAsUser`,
        `container's runAsUser breaks non-root policy (pod: ${formatPodForError(pod)}, container: ${container.name})`,
      );
    }
    return;
  }
  if (imageUser.uid === undefined && imageUser.username) {
    throw new InvalidPodSpecError(
      `${field}.runAsNonRoot`,
      `container has runAsNonRoot and image has non-numeric user (${imageUser.username}), cannot verify user is non-root (pod: ${formatPodForError(pod)}, container: ${container.name})`,
    );
  }
  if ((imageUser.uid ?? 0) === 0) {
    throw new InvalidPodSpecError(
      `${field}.runAsNonRoot`,
      `container has runAsNonRoot and image will run as root (pod: ${formatPodForError(pod)}, container: ${container.name})`,
    );
  }
}

/** Options of {@link containerSecurityContext}. */
export interface ContainerSecurityOptions {
  /** The image's user, when known (see {@link ImageUser}); used for runAsNonRoot and as the default runAsUser. */
  imageUser?: ImageUser;
  /** Namespaces to use; default {@link namespacesForPod} (pass the sandbox's to keep them identical). */
  namespaceOptions?: cri.NamespaceOptionInput;
  /** Kubelet `seccompDefault`: RuntimeDefault instead of Unconfined when no profile is set. Default false. */
  seccompDefault?: boolean;
  /** Directory of Localhost seccomp profiles; default /var/lib/kubelet/seccomp. */
  seccompProfileRoot?: string;
}

/**
 * The container's CRI Linux security context (kubelet `determineEffectiveSecurityContext`):
 * capabilities add/drop passed as written (e.g. `NET_ADMIN`; containerd adds the `CAP_`
 * prefix), privileged, readonlyRootfs, runAsUser/runAsGroup (pod-level as default; the
 * image's numeric uid when neither sets one; else runAsUsername), SELinux options,
 * supplemental groups (fsGroup first), `noNewPrivs` when allowPrivilegeEscalation is
 * false, seccomp ({@link containerSeccompProfile}), namespaces, and the default masked
 * and read-only /proc and /sys paths unless privileged or procMount `Unmasked`.
 *
 * @throws InvalidPodSpecError for runAsNonRoot violations and bad IDs or profiles.
 */
export function containerSecurityContext(
  pod: k8s.Pod,
  container: k8s.Container,
  options: ContainerSecurityOptions = {},
): cri.LinuxContainerSecurityContextInput {
  const base = `${containerFieldPath(pod, container)}.securityContext`;
  const sc = effectiveSecurityContext(pod, container);
  checkId(sc.runAsUser, `${base}.runAsUser`);
  checkId(sc.runAsGroup, `${base}.runAsGroup`);
  verifyRunAsNonRoot(pod, container, options.imageUser);
  const own = container.securityContext ?? {};
  const out: cri.LinuxContainerSecurityContextInput = {
    namespaceOptions: options.namespaceOptions ?? namespacesForPod(pod),
    seccomp: containerSeccompProfile(pod, container, options),
  };
  if (own.capabilities) {
    out.capabilities = {
      addCapabilities: [...(own.capabilities.add ?? [])],
      dropCapabilities: [...(own.capabilities.drop ?? [])],
    };
  }
  if (own.privileged) out.privileged = true;
  if (own.readOnlyRootFilesystem) out.readonlyRootfs = true;
  if (sc.runAsUser !== undefined) {
    out.runAsUser = { value: sc.runAsUser };
  } else if (options.imageUser?.uid !== undefined) {
    out.runAsUser = { value: options.imageUser.uid };
  } else if (options.imageUser?.username) {
    out.runAsUsername = options.imageUser.username;
  } else if (options.imageUser) {
    // kubelet getImageUser: an image that names no user runs as root (uid 0).
    out.runAsUser = { value: 0 };
  }
  if (sc.runAsGroup !== undefined) {
    if (out.runAsUser === undefined && out.runAsUsername === undefined) {
      throw new InvalidPodSpecError(
        `${base}.runAsGroup`,
        'runAsGroup needs runAsUser (or an image user) to be known',
      );
    }
    out.runAsGroup = { value: sc.runAsGroup };
  }
  const selinux = selinuxOf(sc.seLinuxOptions);
  if (selinux) out.selinuxOptions = selinux;
  const groups = supplementalGroupsOf(pod);
  if (groups.length > 0) out.supplementalGroups = groups;
  if (own.allowPrivilegeEscalation === false) out.noNewPrivs = true;
  if (!own.privileged && own.procMount !== 'Unmasked') {
    out.maskedPaths = [...defaultMaskedPaths];
    out.readonlyPaths = [...defaultReadonlyPaths];
  }
  return out;
}
