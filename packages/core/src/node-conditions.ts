import { createToken, type InjectionToken } from './token.js';

/**
 * The node's resource pressure as the eviction manager sees it (kubelet
 * `evictionManager.IsUnderMemoryPressure` and friends). Each flag already includes
 * the eviction manager's pressure transition period (default 5 min): it stays true
 * that long after the last threshold was crossed.
 */
export interface NodePressure {
  memory: boolean;
  disk: boolean;
  pid: boolean;
}

/** Where node status reads MemoryPressure, DiskPressure and PIDPressure from. */
export interface NodePressureProvider {
  pressure(): NodePressure;
}
export const NodePressureProvider: InjectionToken<NodePressureProvider> =
  createToken<NodePressureProvider>('NodePressureProvider');

/** No pressure ever: for agents without an eviction manager. */
export const noNodePressure: NodePressureProvider = {
  pressure: () => ({ memory: false, disk: false, pid: false }),
};
