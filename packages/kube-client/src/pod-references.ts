import type { k8s } from '@nodeagent/core';

/** `imagePullSecrets` is not (yet) in core's PodSpec type; it is read when present. */
type SpecWithPullSecrets = k8s.PodSpec & { imagePullSecrets?: { name?: string }[] };

function allContainers(pod: k8s.Pod): k8s.Container[] {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
}

function add(names: Set<string>, name: string | undefined): void {
  if (name !== undefined && name !== '') names.add(name);
}

/**
 * Names of the ConfigMaps a pod references, in its namespace (kubelet
 * `podutil.VisitPodConfigmapNames`): `configMap` volumes, projected `configMap`
 * sources, env `valueFrom.configMapKeyRef` and `envFrom.configMapRef` of init and
 * regular containers.
 */
export function podConfigMapNames(pod: k8s.Pod): Set<string> {
  const names = new Set<string>();
  for (const c of allContainers(pod)) {
    for (const e of c.envFrom ?? []) add(names, e.configMapRef?.name);
    for (const e of c.env ?? []) add(names, e.valueFrom?.configMapKeyRef?.name);
  }
  for (const v of pod.spec.volumes ?? []) {
    add(names, v.configMap?.name);
    for (const s of v.projected?.sources ?? []) add(names, s.configMap?.name);
  }
  return names;
}

/**
 * Names of the Secrets a pod references, in its namespace (kubelet
 * `podutil.VisitPodSecretNames`): `imagePullSecrets`, `secret` volumes, projected
 * `secret` sources, CSI `nodePublishSecretRef`, env `valueFrom.secretKeyRef` and
 * `envFrom.secretRef` of init and regular containers.
 */
export function podSecretNames(pod: k8s.Pod): Set<string> {
  const names = new Set<string>();
  for (const s of (pod.spec as SpecWithPullSecrets).imagePullSecrets ?? []) add(names, s.name);
  for (const c of allContainers(pod)) {
    for (const e of c.envFrom ?? []) add(names, e.secretRef?.name);
    for (const e of c.env ?? []) add(names, e.valueFrom?.secretKeyRef?.name);
  }
  for (const v of pod.spec.volumes ?? []) {
    add(names, v.secret?.secretName);
    for (const s of v.projected?.sources ?? []) add(names, s.secret?.name);
    add(names, v.csi?.nodePublishSecretRef?.name);
  }
  return names;
}
