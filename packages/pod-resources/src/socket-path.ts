import { join } from 'node:path';

/** Directory of the PodResources socket under the kubelet root directory (kubelet `getPodResourcesDir`). */
export const podResourcesDirName = 'pod-resources';

/** File name of the socket (kubelet `podresources.Socket` + `.sock`). */
export const podResourcesSocketName = 'kubelet.sock';

/** Where a kubelet with the default `--root-dir` serves the PodResources API. */
export const defaultPodResourcesSocket = '/var/lib/kubelet/pod-resources/kubelet.sock';

/** `<rootDir>/pod-resources/kubelet.sock`: where the kubelet with this root directory serves the API. */
export function podResourcesSocketPath(rootDir: string): string {
  return join(rootDir, podResourcesDirName, podResourcesSocketName);
}
