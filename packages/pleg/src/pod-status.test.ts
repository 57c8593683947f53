import type { cri } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import { toRuntimeContainerStatus } from './pod-status.js';

function status(image: cri.ImageSpec | null): cri.ContainerStatus {
  return {
    id: 'c1',
    metadata: { name: 'app', attempt: 0 },
    state: 'CONTAINER_RUNNING',
    createdAt: 1,
    startedAt: 2,
    finishedAt: 0,
    exitCode: 0,
    image,
    imageRef: 'sha256:abc',
    reason: '',
    message: '',
    labels: {},
    annotations: {},
    mounts: [],
    logPath: '',
    resources: null,
    imageId: 'sha256:abc',
    user: null,
    stopSignal: 'RUNTIME_DEFAULT',
  };
}

const spec = (image: string, userSpecifiedImage: string): cri.ImageSpec => ({
  image,
  annotations: {},
  userSpecifiedImage,
  runtimeHandler: '',
  imageRef: '',
});

describe('toRuntimeContainerStatus', () => {
  it('reports the image as the user wrote it when the runtime gives it, else the runtime image', () => {
    expect(
      toRuntimeContainerStatus(status(spec('docker.io/library/busybox:1.36', 'busybox:1.36')), 'sb')
        .image,
    ).toBe('busybox:1.36');
    expect(
      toRuntimeContainerStatus(status(spec('docker.io/library/busybox:1.36', '')), 'sb').image,
    ).toBe('docker.io/library/busybox:1.36');
    expect(toRuntimeContainerStatus(status(null), 'sb').image).toBe('');
  });
});
