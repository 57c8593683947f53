import { describe, expect, it } from 'vitest';
import { parseRuntimeEnv, runtimeScriptsDir } from './real-runtime.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const sample = `NODEAGENT_RUNTIME_DIR=/tmp/nodeagent-rt
NODEAGENT_CRI_ENDPOINT=unix:///tmp/nodeagent-rt/containerd.sock
NODEAGENT_CRI_SOCKET=/tmp/nodeagent-rt/containerd.sock
NODEAGENT_CONTAINERD_PID=
NODEAGENT_REGISTRY=127.0.0.1:5000
NODEAGENT_PAUSE_IMAGE=127.0.0.1:5000/nodeagent/pause:1
NODEAGENT_BUSYBOX_IMAGE=127.0.0.1:5000/nodeagent/busybox:1
NODEAGENT_BUSYBOX2_IMAGE=127.0.0.1:5000/nodeagent/busybox:2
NODEAGENT_CNI_BRIDGE=nodeagent0
NODEAGENT_CNI_SUBNET=10.209.0.0/24
NODEAGENT_CNI_GATEWAY=10.209.0.1
NODEAGENT_CGROUP_ROOT=/nodeagent
NODEAGENT_POD_LOG_DIR=/tmp/nodeagent-rt/pod-logs
`;

describe('parseRuntimeEnv', () => {
  it('reads the harness output into a typed environment', () => {
    expect(parseRuntimeEnv(`nodeagent-rt: progress on stdout is ignored\n${sample}`)).toEqual({
      runtimeDir: '/tmp/nodeagent-rt',
      criEndpoint: 'unix:///tmp/nodeagent-rt/containerd.sock',
      criSocket: '/tmp/nodeagent-rt/containerd.sock',
      registry: '127.0.0.1:5000',
      pauseImage: '127.0.0.1:5000/nodeagent/pause:1',
      busyboxImage: '127.0.0.1:5000/nodeagent/busybox:1',
      busybox2Image: '127.0.0.1:5000/nodeagent/busybox:2',
      cniBridge: 'nodeagent0',
      cniSubnet: '10.209.0.0/24',
      cniGateway: '10.209.0.1',
      cgroupRoot: '/nodeagent',
      podLogDir: '/tmp/nodeagent-rt/pod-logs',
    });
  });

  it('names a missing key', () => {
    expect(() => parseRuntimeEnv(sample.replace(/^NODEAGENT_CNI_BRIDGE=.*$/m, ''))).toThrow(
      'runtime harness did not report NODEAGENT_CNI_BRIDGE',
    );
  });

  it('finds the harness scripts shipped with the package', () => {
    const dir = runtimeScriptsDir();
    for (const script of ['up.sh', 'down.sh', 'restart-containerd.sh']) {
      expect(existsSync(join(dir, script))).toBe(true);
    }
  });
});
