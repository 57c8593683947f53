/**
 * @nodeagent/kube-client — the node agent's connection to the Kubernetes API server
 * through @kubernetes/client-node: kubeconfig and in-cluster loading, one
 * rate-limited set of API clients, a reflector that survives every watch failure,
 * the API pod source, ConfigMap/Secret managers and an API event recorder.
 */
export { TokenBucketRateLimiter } from './rate-limiter.js';
export {
  createKubeApi,
  defaultKubeApiBurst,
  defaultKubeApiQps,
  loadKubeConfig,
} from './kube-api.js';
export type { KubeApi, KubeApiOptions, KubeConfigSource } from './kube-api.js';
