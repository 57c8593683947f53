import type { Counter, Gauge, Histogram, MetricsRegistry } from '@nodeagent/core';

/** Image GC metrics (kubelet names where the kubelet has one). */
export interface ImageGcMetrics {
  /** `kubelet_image_garbage_collected_total{reason="age"|"space"}` (kubelet). */
  collected: Counter;
  /** `nodeagent_image_gc_freed_bytes_total{reason}`: bytes freed by deleted images. */
  freedBytes: Counter;
  /** `nodeagent_image_gc_duration_seconds{operation}`: pass duration. */
  duration: Histogram;
  /** `nodeagent_image_gc_passes_total{result="success"|"failure"}`. */
  passes: Counter;
  /** `nodeagent_image_gc_failures_total{reason="insufficient"|"delete_error"}`. */
  failures: Counter;
  /** `nodeagent_image_fs_usage_percent`: image-fs usage measured by the last pass. */
  usage: Gauge;
  /** `nodeagent_image_gc_tracked_images`: images known after the last detection. */
  images: Gauge;
}

const passBuckets = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300];

/** Creates (or fetches) the image GC metrics in `registry`. */
export function createImageGcMetrics(registry: MetricsRegistry): ImageGcMetrics {
  return {
    collected: registry.counter({
      name: 'kubelet_image_garbage_collected_total',
      help: 'Total number of images garbage collected by the image GC manager, by reason (age or space).',
      labelNames: ['reason'],
    }),
    freedBytes: registry.counter({
      name: 'nodeagent_image_gc_freed_bytes_total',
      help: 'Bytes freed by image garbage collection (sizes reported by the runtime), by reason.',
      labelNames: ['reason'],
    }),
    duration: registry.histogram({
      name: 'nodeagent_image_gc_duration_seconds',
      help: 'Duration in seconds of image garbage collection passes.',
      labelNames: ['operation'],
      buckets: passBuckets,
    }),
    passes: registry.counter({
      name: 'nodeagent_image_gc_passes_total',
      help: 'Image garbage collection passes, by result.',
      labelNames: ['result'],
    }),
    failures: registry.counter({
      name: 'nodeagent_image_gc_failures_total',
      help: 'Failed image garbage collection passes, by reason.',
      labelNames: ['reason'],
    }),
    usage: registry.gauge({
      name: 'nodeagent_image_fs_usage_percent',
      help: 'Image filesystem usage in percent, as measured by the last image GC pass.',
    }),
    images: registry.gauge({
      name: 'nodeagent_image_gc_tracked_images',
      help: 'Images tracked by the image GC manager after its last detection.',
    }),
  };
}

/** Container GC metrics. */
export interface ContainerGcMetrics {
  /** `nodeagent_container_gc_removed_total{kind="container"|"sandbox"|"pod_log_dir"}`. */
  removed: Counter;
  /** `nodeagent_container_gc_errors_total{kind}`: removals that failed. */
  errors: Counter;
  /** `nodeagent_container_gc_duration_seconds`: pass duration. */
  duration: Histogram;
}

/** Creates (or fetches) the container GC metrics in `registry`. */
export function createContainerGcMetrics(registry: MetricsRegistry): ContainerGcMetrics {
  return {
    removed: registry.counter({
      name: 'nodeagent_container_gc_removed_total',
      help: 'Dead containers, sandboxes and pod log directories removed by container GC.',
      labelNames: ['kind'],
    }),
    errors: registry.counter({
      name: 'nodeagent_container_gc_errors_total',
      help: 'Removals by container GC that failed, by kind.',
      labelNames: ['kind'],
    }),
    duration: registry.histogram({
      name: 'nodeagent_container_gc_duration_seconds',
      help: 'Duration in seconds of container garbage collection passes.',
      buckets: passBuckets,
    }),
  };
}
