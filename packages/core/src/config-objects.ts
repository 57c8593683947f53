import type { ConfigMap, Pod, Secret } from './k8s/types.js';
import { NotFoundError } from './errors.js';
import { createToken, type InjectionToken } from './token.js';

/**
 * Read access to the ConfigMaps pods reference in volumes and env (kubelet
 * `configmap.Manager`). Pods are registered while they run so an implementation can
 * watch exactly the objects they name (the kubelet's default `Watch` change
 * detection strategy) and drop them when no pod needs them any more.
 */
export interface ConfigMapManager {
  /**
   * The ConfigMap `namespace/name`.
   * @throws NotFoundError when it does not exist; UnavailableError when it cannot be read now.
   */
  getConfigMap(namespace: string, name: string): Promise<ConfigMap>;
  /** Starts tracking the ConfigMaps the pod references (idempotent, replaces an older version). */
  registerPod(pod: Pod): void;
  /** Stops tracking what only this pod referenced. */
  unregisterPod(pod: Pod): void;
}
export const ConfigMapManager: InjectionToken<ConfigMapManager> =
  createToken<ConfigMapManager>('ConfigMapManager');

/** Read access to the Secrets pods reference (kubelet `secret.Manager`); see {@link ConfigMapManager}. */
export interface SecretManager {
  /**
   * The Secret `namespace/name`.
   * @throws NotFoundError when it does not exist; UnavailableError when it cannot be read now.
   */
  getSecret(namespace: string, name: string): Promise<Secret>;
  registerPod(pod: Pod): void;
  unregisterPod(pod: Pod): void;
}
export const SecretManager: InjectionToken<SecretManager> =
  createToken<SecretManager>('SecretManager');

/**
 * The managers of an agent without an API server (standalone): there are no
 * ConfigMaps or Secrets, so every lookup fails with a NotFoundError saying so — a pod
 * that marks its reference `optional` still starts, as on a kubelet.
 */
export const standaloneConfigMapManager: ConfigMapManager = {
  getConfigMap: (namespace, name) =>
    Promise.reject(
      new NotFoundError(
        `configmap "${name}" not found in namespace "${namespace}": no API server in standalone mode`,
      ),
    ),
  registerPod() {},
  unregisterPod() {},
};

/** {@link standaloneConfigMapManager} for Secrets. */
export const standaloneSecretManager: SecretManager = {
  getSecret: (namespace, name) =>
    Promise.reject(
      new NotFoundError(
        `secret "${name}" not found in namespace "${namespace}": no API server in standalone mode`,
      ),
    ),
  registerPod() {},
  unregisterPod() {},
};
