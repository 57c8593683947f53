import type { cri } from '@nodeagent/core';

/**
 * Normalizes an image reference the way containerd's reference parser does for
 * Docker-style names: `busybox` → `docker.io/library/busybox:latest`,
 * `foo/bar:1` → `docker.io/foo/bar:1`; image IDs (`sha256:…`) stay as they are.
 */
export function normalizeImageRef(ref: string): string {
  if (ref === '' || /^sha256:[0-9a-f]+$/.test(ref)) return ref;
  let name = ref;
  let suffix = '';
  const at = name.indexOf('@');
  if (at >= 0) {
    suffix = name.slice(at);
    name = name.slice(0, at);
  }
  const lastSlash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > lastSlash) {
    suffix = name.slice(colon) + suffix;
    name = name.slice(0, colon);
  } else if (suffix === '') {
    suffix = ':latest';
  }
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  if (slash < 0) {
    name = `docker.io/library/${name}`;
  } else if (!first.includes('.') && !first.includes(':') && first !== 'localhost') {
    name = `docker.io/${name}`;
  }
  return name + suffix;
}

/** Every name an image answers to: its ID, its repo tags and digests (normalized too). */
export function imageNames(image: cri.Image): string[] {
  const out = [image.id];
  for (const ref of [...image.repoTags, ...image.repoDigests]) {
    out.push(ref);
    const n = normalizeImageRef(ref);
    if (n !== ref) out.push(n);
  }
  return out;
}

/**
 * The set of image references used by `containers` (any state: a container not yet
 * removed keeps its image): image ID, image ref and the image as requested, each
 * also normalized.
 */
export function imagesInUse(containers: readonly cri.Container[]): Set<string> {
  const used = new Set<string>();
  const add = (ref: string | undefined): void => {
    if (!ref) return;
    used.add(ref);
    used.add(normalizeImageRef(ref));
  };
  for (const c of containers) {
    add(c.imageId);
    add(c.imageRef);
    add(c.image?.image);
  }
  return used;
}
