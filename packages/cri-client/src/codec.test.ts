import { describe, expect, it } from 'vitest';
import { criMethodCodecs, criSchema, decodeOptions } from './codec.js';

describe('CRI codecs', () => {
  it('covers every RPC of both services with its gRPC path', () => {
    const codecs = criMethodCodecs();
    expect(codecs.get('listContainers')?.path).toBe('/runtime.v1.RuntimeService/ListContainers');
    expect(codecs.get('pullImage')?.path).toBe('/runtime.v1.ImageService/PullImage');
    expect(codecs.get('getContainerEvents')?.responseStream).toBe(true);
    expect(codecs.get('version')?.operation).toBe('RuntimeService/Version');
    for (const required of [
      'version',
      'runPodSandbox',
      'stopPodSandbox',
      'removePodSandbox',
      'podSandboxStatus',
      'listPodSandbox',
      'createContainer',
      'startContainer',
      'stopContainer',
      'removeContainer',
      'listContainers',
      'containerStatus',
      'updateContainerResources',
      'reopenContainerLog',
      'execSync',
      'exec',
      'attach',
      'portForward',
      'containerStats',
      'listContainerStats',
      'podSandboxStats',
      'listPodSandboxStats',
      'status',
      'getContainerEvents',
      'listImages',
      'imageStatus',
      'pullImage',
      'removeImage',
      'imageFsInfo',
    ]) {
      expect(codecs.has(required), required).toBe(true);
    }
  });

  it('round-trips a request: camelCase fields, enum names, maps, 64-bit numbers, bytes', () => {
    const codecs = criMethodCodecs();
    const create = codecs.get('createContainer')!;
    const bytes = create.serialize({
      podSandboxId: 'sb1',
      config: {
        metadata: { name: 'app', attempt: 2 },
        image: { image: 'busybox' },
        command: ['sh', '-c', 'true'],
        labels: { a: 'b' },
        linux: { resources: { memoryLimitInBytes: 9_007_199_254_740_000 } },
        mounts: [
          { containerPath: '/x', hostPath: '/y', propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
        ],
      },
    });
    const requestType = criSchema().lookupType('runtime.v1.CreateContainerRequest');
    const decoded = requestType.toObject(requestType.decode(bytes), decodeOptions);
    expect(decoded.podSandboxId).toBe('sb1');
    expect(decoded.config.metadata).toEqual({ name: 'app', attempt: 2 });
    expect(decoded.config.command).toEqual(['sh', '-c', 'true']);
    expect(decoded.config.labels).toEqual({ a: 'b' });
    expect(decoded.config.linux.resources.memoryLimitInBytes).toBe(9_007_199_254_740_000);
    expect(decoded.config.mounts[0].propagation).toBe('PROPAGATION_HOST_TO_CONTAINER');

    const exec = codecs.get('execSync')!;
    const out = exec.deserialize(
      Buffer.from(
        // ExecSyncResponse: stdout=1 (bytes "hi"), stderr=2 (empty), exit_code=3 (7)
        [0x0a, 0x02, 0x68, 0x69, 0x18, 0x07],
      ),
    ) as { stdout: Uint8Array; stderr: Uint8Array; exitCode: number };
    expect(Buffer.from(out.stdout).toString()).toBe('hi');
    expect(out.stderr.length).toBe(0);
    expect(out.exitCode).toBe(7);
  });

  it('decodes absent fields as defaults: empty lists and maps, zero numbers, null messages', () => {
    const status = criMethodCodecs().get('containerStatus')!;
    const out = status.deserialize(Buffer.alloc(0)) as Record<string, unknown>;
    expect(out).toEqual({ status: null, info: {} });
    const list = criMethodCodecs().get('listContainers')!;
    expect(list.deserialize(Buffer.alloc(0))).toEqual({ containers: [] });
  });
});
