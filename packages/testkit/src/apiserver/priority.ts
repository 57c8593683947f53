/**
 * kube-apiserver's `Priority` admission plugin for pods (plugin/pkg/admission/priority):
 * `spec.priority` (and `spec.preemptionPolicy`) come from `spec.priorityClassName`. The
 * test server knows the two built-in classes and no global default, so a pod without a
 * class gets priority 0.
 */
import { ApiStatusError } from './api-status.js';
import { isObject, type JsonObject } from './patch.js';

/** The built-in PriorityClasses (`scheduling.SystemPriorityClasses`). */
export const systemPriorityClasses: Readonly<Record<string, number>> = {
  'system-node-critical': 2_000_001_000,
  'system-cluster-critical': 2_000_000_000,
};

/**
 * The pod as the Priority plugin admits it on create: `spec.priority` from its class (0
 * without one), `spec.preemptionPolicy` defaulted to `PreemptLowerPriority`. The input
 * is not modified.
 * @throws ApiStatusError 403 for an unknown class, or a `spec.priority` that differs
 *   from what the class gives (the real plugin's messages).
 */
export function admitPodPriority(pod: JsonObject): JsonObject {
  const spec = isObject(pod.spec) ? pod.spec : {};
  const meta = isObject(pod.metadata) ? pod.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : '';
  const className = typeof spec.priorityClassName === 'string' ? spec.priorityClassName : '';
  const forbidden = (why: string): ApiStatusError =>
    new ApiStatusError(403, 'Forbidden', `pods "${name}" is forbidden: ${why}`, {
      name,
      kind: 'pods',
    });
  let priority = 0;
  if (className !== '') {
    const value = systemPriorityClasses[className];
    if (value === undefined) throw forbidden(`no PriorityClass with name ${className} was found`);
    priority = value;
  }
  if (typeof spec.priority === 'number' && spec.priority !== priority)
    throw forbidden(
      `the integer value of priority (${spec.priority}) must not be provided in pod spec; priority admission controller computed ${priority} from the given PriorityClass name`,
    );
  return {
    ...pod,
    spec: {
      ...spec,
      priority,
      preemptionPolicy:
        typeof spec.preemptionPolicy === 'string' ? spec.preemptionPolicy : 'PreemptLowerPriority',
    },
  };
}
