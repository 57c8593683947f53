/** What the node status benchmark uses from the package (its public API). */
export { NodeLeaseController, NodeStatusManager, formatTime } from '../src/index.js';
export type { MachineInfo } from '../src/index.js';
export { strategicMergePatchOptions as strategicMergePatchOptionsForBench } from '../src/node-api.js';
