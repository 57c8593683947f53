/**
 * @nodeagent/static-pods — the kubelet's static pod sources: the manifest directory
 * (file source, watched with chokidar and re-read every 20 s) and the manifest URL
 * (http source, polled every 20 s), with the kubelet's static pod identity (name
 * `<name>-<node>`, UID from a hash of the manifest, node and source, config
 * annotations) and validation of every manifest.
 */
export {
  StaticPodFileSource,
  createFileSource,
  DEFAULT_FILE_CHECK_FREQUENCY_MS,
  WATCH_RETRY_PERIOD_MS,
  WATCH_MAX_RETRY_PERIOD_MS,
} from './file-source.js';
export type { FileSourceOptions } from './file-source.js';

export {
  StaticPodUrlSource,
  createHttpSource,
  DEFAULT_HTTP_CHECK_FREQUENCY_MS,
  DEFAULT_HTTP_TIMEOUT_MS,
} from './http-source.js';
export type { HttpSourceOptions } from './http-source.js';

export { INVALID_STATIC_POD_MANIFEST_REASON } from './pod-set-publisher.js';
export type { ManifestError, StaticPodSourceCommonOptions } from './pod-set-publisher.js';

export { decodeStaticPods, MAX_CONFIG_LENGTH } from './decode.js';
export type { DecodeOptions, DecodeResult } from './decode.js';

export { validatePodManifest, formatFieldPath } from './pod-validation.js';
export type { PodValidationResult } from './pod-validation.js';

export {
  applyStaticPodDefaults,
  generateStaticPodName,
  staticPodUid,
  deepHashObject,
  DEFAULT_NAMESPACE,
  STATIC_POD_TOLERATION,
} from './static-pod-identity.js';
export type { StaticPodDefaultsOptions, StaticPodOrigin } from './static-pod-identity.js';

export { registerStaticPods, StaticPodSources } from './register.js';
export type { StaticPodsOptions } from './register.js';
