export type {
  AdmissionNode,
  PodAdmitAttributes,
  PodAdmitHandler,
  PodAdmitResult,
} from './types.js';
export {
  PredicateAdmitHandler,
  admissionRequests,
  failureMessage,
  generalFilter,
  hostPortConflict,
  insufficientResources,
  isExtendedResourceName,
  matchesNodeAffinity,
  podRequestAmount,
  toleratesTaint,
} from './predicate.js';
export {
  CriticalPodAdmissionHandler,
  podsToPreempt,
  preemptable,
  preemptionDisruptionMessage,
  preemptionMessage,
  preemptionReason,
  subtractRequirements,
} from './preemption.js';
export type { AdmissionRequirement, CriticalPodAdmissionHandlerOptions } from './preemption.js';
export type { PredicateAdmitHandlerOptions, PredicateFailure } from './predicate.js';
export {
  SysctlAdmitHandler,
  normalizeSysctlName,
  safeSysctls,
  sysctlForbiddenReason,
  sysctlNamespace,
} from './sysctl.js';
