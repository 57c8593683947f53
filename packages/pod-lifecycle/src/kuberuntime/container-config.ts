import { isAbsolute, join, posix } from 'node:path';
import type { cri, k8s } from '@nodeagent/core';
import { makeEnvironmentVariables, type DownwardApiContext, type EnvObjectOptions } from './env.js';
import { InvalidPodSpecError, UnsupportedVolumeSourceError } from './errors.js';
import { containerMountsEtcHosts, makeHostsMount } from './etc-hosts.js';
import { expand, expandContainerCommandAndArgs, type EnvVarValue } from './expansion.js';
import {
  defaultTerminationMessagePath,
  newContainerAnnotations,
  newContainerLabels,
} from './labels.js';
import { containerFieldPath } from './resource-lists.js';
import { linuxContainerResources } from './resources.js';
import { requirePodIdentity, validateContainerPorts } from './sandbox-config.js';
import { containerSecurityContext, type ImageUser } from './security-context.js';
import { isReadOnlyVolume, volumeHostPath } from './volumes.js';

const utf8 = new TextEncoder();

/** Options of {@link makeContainerConfig}. */
export interface ContainerConfigOptions extends DownwardApiContext, EnvObjectOptions {
  /** How many times this container was restarted (0 first); CRI metadata attempt and log file name. */
  restartCount: number;
  /** Image reference resolved by the pull (`imageRef`); default the spec's `image`. */
  imageRef?: string;
  /**
   * The sandbox config the container will run in; its namespace options are reused so
   * sandbox and container agree.
   */
  sandboxConfig?: cri.PodSandboxConfigInput;
  /** Host path of each volume by name; missing ones are derived with `volumeHostPath(podDir, volume)`. */
  volumePaths?: Readonly<Record<string, string>>;
  /** The pod's directory (kubelet `<root-dir>/pods/<uid>`). */
  podDir: string;
  /** Node memory capacity in bytes (OOM score adjustment of Burstable containers). */
  memoryCapacityBytes: number;
  /** The image's user from CRI ImageStatus, for runAsNonRoot checks and as default runAsUser. */
  imageUser?: ImageUser;
  /**
   * A host file to mount at the container's `terminationMessagePath` (see
   * `terminationMessageFilePath`/`prepareTerminationMessageFile`); none when unset.
   */
  terminationMessageHostPath?: string;
  /**
   * The pod's kubelet-managed hosts file (`<podDir>/etc-hosts`, written beforehand with
   * `ensureHostsFile`), bind-mounted read-write at /etc/hosts unless the container
   * mounts a volume there itself (kubelet `makeMounts`/`makeHostsMount`). No /etc/hosts
   * mount when unset (see `needsHostsMount` for when the kubelet sets it).
   */
  etcHostsHostPath?: string;
  /** Kubelet `seccompDefault`; default false (Unconfined when the pod names no profile). */
  seccompDefault?: boolean;
  /** Directory of Localhost seccomp profiles; default /var/lib/kubelet/seccomp. */
  seccompProfileRoot?: string;
  /** Enforce CPU limits with CFS quota; default true. */
  cpuCFSQuota?: boolean;
  /** CFS period in microseconds; default 100000. */
  cpuCFSQuotaPeriodUs?: number;
}

/** The container log file relative to the sandbox log directory: `<container>/<restartCount>.log` (kubelet `buildContainerLogsPath`). */
export function containerLogPath(containerName: string, restartCount: number): string {
  return posix.join(containerName, `${restartCount}.log`);
}

function translatePropagation(
  mode: string | undefined,
  privileged: boolean,
  field: string,
): cri.MountPropagation {
  switch (mode) {
    case undefined:
    case 'None':
      return 'PROPAGATION_PRIVATE';
    case 'HostToContainer':
      return 'PROPAGATION_HOST_TO_CONTAINER';
    case 'Bidirectional':
      if (!privileged) {
        throw new InvalidPodSpecError(
          field,
          'Bidirectional mount propagation is available only to privileged containers',
        );
      }
      return 'PROPAGATION_BIDIRECTIONAL';
    default:
      throw new InvalidPodSpecError(
        field,
        `invalid MountPropagation mode ${JSON.stringify(mode)} (None, HostToContainer, Bidirectional)`,
      );
  }
}

function checkSubPath(subPath: string, field: string): void {
  if (isAbsolute(subPath))
    throw new InvalidPodSpecError(field, `must be a relative path, got ${JSON.stringify(subPath)}`);
  if (subPath.split('/').includes('..'))
    throw new InvalidPodSpecError(field, `must not contain '..', got ${JSON.stringify(subPath)}`);
}

/**
 * The container's CRI mounts (kubelet `makeMounts` + kuberuntime `makeMounts`): one
 * per volumeMount, from the volume's host path (emptyDir or hostPath) joined with
 * `subPath` (or `subPathExpr` expanded with the container's environment), read-only
 * and propagation as asked (Bidirectional only for privileged containers); then the
 * pod's hosts file at /etc/hosts when `etcHostsHostPath` is given and the container
 * mounts nothing there; then the termination message file when
 * `terminationMessageHostPath` is given.
 *
 * @throws InvalidPodSpecError for an unknown volume, a relative mountPath, a bad subPath
 *   or propagation; UnsupportedVolumeSourceError for a volume nodeagent cannot set up (csi, …).
 */
export function makeMounts(
  pod: k8s.Pod,
  container: k8s.Container,
  envs: readonly EnvVarValue[],
  options: Pick<
    ContainerConfigOptions,
    'volumePaths' | 'podDir' | 'terminationMessageHostPath' | 'etcHostsHostPath'
  >,
): cri.MountInput[] {
  const base = containerFieldPath(pod, container);
  const privileged = container.securityContext?.privileged === true;
  const volumes = new Map((pod.spec?.volumes ?? []).map((v) => [v.name, v]));
  const env = new Map(envs.map((e) => [e.name, e.value]));
  const seen = new Set<string>();
  const mounts: cri.MountInput[] = [];
  (container.volumeMounts ?? []).forEach((vm, i) => {
    const field = `${base}.volumeMounts[${i}]`;
    const volume = volumes.get(vm.name);
    if (!volume) {
      throw new InvalidPodSpecError(
        `${field}.name`,
        `cannot find volume ${JSON.stringify(vm.name)} to mount into container ${JSON.stringify(container.name)}`,
      );
    }
    let hostPath = options.volumePaths?.[vm.name] ?? volumeHostPath(options.podDir, volume);
    if (hostPath === undefined) {
      throw new UnsupportedVolumeSourceError(
        vm.name,
        Object.keys(volume).find((k) => k !== 'name'),
      );
    }
    if (!vm.mountPath || !posix.isAbsolute(vm.mountPath)) {
      throw new InvalidPodSpecError(
        `${field}.mountPath`,
        `must be an absolute path, got ${JSON.stringify(vm.mountPath)}`,
      );
    }
    const mountPath = posix.normalize(vm.mountPath).replace(/(.)\/+$/, '$1');
    if (seen.has(mountPath))
      throw new InvalidPodSpecError(`${field}.mountPath`, `${mountPath} is mounted more than once`);
    seen.add(mountPath);
    if (vm.subPath && vm.subPathExpr) {
      throw new InvalidPodSpecError(
        `${field}.subPathExpr`,
        'subPathExpr and subPath are mutually exclusive',
      );
    }
    let subPath = vm.subPath ?? '';
    if (vm.subPathExpr) {
      const missing: string[] = [];
      subPath = expand(vm.subPathExpr, (name) => {
        const value = env.get(name);
        if (value === undefined || value === '') missing.push(name);
        return value ?? '';
      });
      if (missing.length > 0) {
        throw new InvalidPodSpecError(
          `${field}.subPathExpr`,
          `missing value for ${missing.join(', ')}`,
        );
      }
    }
    if (subPath !== '') {
      checkSubPath(subPath, `${field}.${vm.subPathExpr ? 'subPathExpr' : 'subPath'}`);
      hostPath = join(hostPath, subPath);
    }
    mounts.push({
      containerPath: mountPath,
      hostPath,
      // ConfigMap, Secret, downward-API and projected volumes are always read-only (kubelet).
      readonly: vm.readOnly === true || isReadOnlyVolume(volume),
      propagation: translatePropagation(
        vm.mountPropagation,
        privileged,
        `${field}.mountPropagation`,
      ),
    });
  });
  if (options.etcHostsHostPath && !containerMountsEtcHosts(container)) {
    mounts.push(makeHostsMount(options.etcHostsHostPath));
  }
  const terminationPath = container.terminationMessagePath ?? defaultTerminationMessagePath;
  if (options.terminationMessageHostPath && terminationPath !== '' && !seen.has(terminationPath)) {
    mounts.push({ containerPath: terminationPath, hostPath: options.terminationMessageHostPath });
  }
  return mounts;
}

/**
 * The CRI `ContainerConfig` of a pod's container (kubelet `generateContainerConfig`):
 * metadata (name, attempt = restartCount), image (`imageRef` with the spec's image as
 * `userSpecifiedImage`), command and args with `$(VAR)` expanded from the environment,
 * workingDir, envs ({@link makeEnvironmentVariables}), mounts ({@link makeMounts}),
 * labels and annotations (`io.kubernetes.container.*`, `io.kubernetes.pod.*`), log path
 * `<container>/<restartCount>.log` (relative to the sandbox's log directory),
 * stdin/stdinOnce/tty, and Linux resources and security context.
 *
 * @throws InvalidPodSpecError, UnsupportedVolumeSourceError, or the errors of
 *   `makeEnvironmentVariables` (missing ConfigMap/Secret or key) when the spec cannot be
 *   run (the kubelet's CreateContainerConfigError); never anything else for bad input.
 */
export function makeContainerConfig(
  pod: k8s.Pod,
  container: k8s.Container,
  options: ContainerConfigOptions,
): cri.ContainerConfigInput {
  const identity = requirePodIdentity(pod);
  const normalized: k8s.Pod = {
    ...pod,
    metadata: { ...pod.metadata, namespace: identity.namespace },
  };
  const base = containerFieldPath(normalized, container);
  if (!container.name) throw new InvalidPodSpecError(`${base}.name`, 'container has no name');
  if (!Number.isInteger(options.restartCount) || options.restartCount < 0) {
    throw new InvalidPodSpecError(
      '',
      `restartCount must be a non-negative integer, got ${options.restartCount}`,
    );
  }
  const image = options.imageRef || container.image;
  if (!image) throw new InvalidPodSpecError(`${base}.image`, 'container has no image');
  validateContainerPorts(container, base);

  const envs = makeEnvironmentVariables(normalized, container, options);
  const { command, args } = expandContainerCommandAndArgs(container, envs);
  const namespaceOptions =
    options.sandboxConfig?.linux?.securityContext?.namespaceOptions ?? undefined;
  const securityOptions: Parameters<typeof containerSecurityContext>[2] = {};
  if (namespaceOptions) securityOptions.namespaceOptions = namespaceOptions;
  if (options.imageUser) securityOptions.imageUser = options.imageUser;
  if (options.seccompDefault !== undefined) securityOptions.seccompDefault = options.seccompDefault;
  if (options.seccompProfileRoot !== undefined)
    securityOptions.seccompProfileRoot = options.seccompProfileRoot;
  const resourceOptions: Parameters<typeof linuxContainerResources>[2] = {
    memoryCapacityBytes: options.memoryCapacityBytes,
  };
  if (options.cpuCFSQuota !== undefined) resourceOptions.cpuCFSQuota = options.cpuCFSQuota;
  if (options.cpuCFSQuotaPeriodUs !== undefined)
    resourceOptions.cpuCFSQuotaPeriodUs = options.cpuCFSQuotaPeriodUs;

  const config: cri.ContainerConfigInput = {
    metadata: { name: container.name, attempt: options.restartCount },
    image: { image, userSpecifiedImage: container.image ?? image },
    command,
    args,
    workingDir: container.workingDir ?? '',
    // Bytes, not strings: protobufjs reads a string given for a `bytes` field as base64.
    envs: envs.map((e) => ({ key: e.name, value: utf8.encode(e.value) })),
    mounts: makeMounts(normalized, container, envs, options),
    labels: newContainerLabels(container, normalized),
    annotations: newContainerAnnotations(container, normalized, options.restartCount),
    logPath: containerLogPath(container.name, options.restartCount),
    stdin: container.stdin === true,
    stdinOnce: container.stdinOnce === true,
    tty: container.tty === true,
    linux: {
      resources: linuxContainerResources(normalized, container, resourceOptions),
      securityContext: containerSecurityContext(normalized, container, securityOptions),
    },
  };
  return config;
}
