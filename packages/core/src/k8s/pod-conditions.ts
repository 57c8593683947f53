/**
 * Pod condition types the kubelet owns (kubelet `kubetypes.PodConditionsByKubelet`
 * plus PodReadyToStartContainers): their value always comes from the node agent.
 * Every other condition on a pod (readiness gates, DisruptionTarget, …) belongs to
 * the control plane or to other controllers and is kept as the API server has it.
 */
export const podConditionsByKubelet: readonly string[] = [
  'PodScheduled',
  'PodReadyToStartContainers',
  'Initialized',
  'ContainersReady',
  'Ready',
];

/** Whether the node agent owns pod conditions of this type. */
export function isPodConditionByKubelet(type: string): boolean {
  return podConditionsByKubelet.includes(type);
}
