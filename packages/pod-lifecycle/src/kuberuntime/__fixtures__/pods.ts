import type { k8s } from '@nodeagent/core';

/** A container with the given requests/limits. */
export function container(
  name: string,
  requests?: k8s.ResourceList,
  limits?: k8s.ResourceList,
  extra: Partial<k8s.Container> = {},
): k8s.Container {
  const c: k8s.Container = { name, image: 'busybox:1', ...extra };
  if ((requests || limits) && !extra.resources) {
    c.resources = {};
    if (requests) c.resources.requests = requests;
    if (limits) c.resources.limits = limits;
  }
  return c;
}

/** A pod with the given containers. */
export function pod(
  containers: k8s.Container[],
  spec: Partial<k8s.PodSpec> = {},
  meta: Partial<k8s.ObjectMeta> = {},
): k8s.Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'team', uid: '1234-abcd', ...meta },
    spec: { containers, ...spec },
  };
}
