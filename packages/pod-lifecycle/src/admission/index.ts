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
  toleratesTaint,
} from './predicate.js';
export type { PredicateAdmitHandlerOptions, PredicateFailure } from './predicate.js';
export {
  SysctlAdmitHandler,
  normalizeSysctlName,
  safeSysctls,
  sysctlForbiddenReason,
  sysctlNamespace,
} from './sysctl.js';
