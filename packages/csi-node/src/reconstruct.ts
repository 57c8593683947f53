import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@nodeagent/core';
import {
  csiPluginDirName,
  csiPluginName,
  globalMountDirName,
  publishMountDirName,
  readVolData,
  stagingTargetPath,
} from './vol-data.js';
import type { MountPointChecker, PublishedCsiVolume, StagedCsiVolume } from './volume-manager.js';

/** The CSI volumes found on disk (kubelet reconstruction input). */
export interface CsiVolumeDiskState {
  published: PublishedCsiVolume[];
  staged: StagedCsiVolume[];
}

async function dirs(path: string): Promise<string[]> {
  try {
    return (await readdir(path, { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

/**
 * Reads every `vol_data.json` under `<rootDir>/pods/<uid>/volumes/kubernetes.io~csi/<vol>/`
 * (published volumes) and `<rootDir>/plugins/kubernetes.io/csi/<driver>/<sha>/` (staged
 * volumes), as the kubelet's volume reconstruction does (`getVolumesFromPodDir` +
 * `loadVolumeData`). A volume whose `mount`/`globalmount` is a mount point is
 * `mounted`; otherwise `uncertain` (the next set-up publishes/stages it again, the next
 * teardown unpublishes/unstages it, both idempotent for the driver). Files that cannot
 * be parsed, or a staging directory whose name does not match the SHA-256 of its
 * handle, are skipped with a warning and left alone.
 */
export async function loadCsiVolumeState(
  rootDir: string,
  mounts: MountPointChecker,
  logger: Logger,
): Promise<CsiVolumeDiskState> {
  const published: PublishedCsiVolume[] = [];
  const staged: StagedCsiVolume[] = [];
  const podsDir = join(rootDir, 'pods');
  for (const uid of await dirs(podsDir)) {
    const pluginDir = join(podsDir, uid, 'volumes', csiPluginDirName);
    for (const vol of await dirs(pluginDir)) {
      const volDir = join(pluginDir, vol);
      const data = await readVolData(volDir);
      if (!data?.volumeHandle || !data.driverName) {
        logger.warn('Skipping a CSI volume directory without a valid vol_data.json', {
          path: volDir,
        });
        continue;
      }
      const targetPath = join(volDir, publishMountDirName);
      published.push({
        podUid: uid,
        specVolId: data.specVolID ?? vol,
        driverName: data.driverName,
        volumeHandle: data.volumeHandle,
        targetPath,
        state: (await mounts.isMountPoint(targetPath)) ? 'mounted' : 'uncertain',
      });
    }
  }
  const pluginRoot = join(rootDir, 'plugins', csiPluginName);
  for (const driver of await dirs(pluginRoot)) {
    for (const sha of await dirs(join(pluginRoot, driver))) {
      const dataDir = join(pluginRoot, driver, sha);
      const data = await readVolData(dataDir);
      if (!data?.volumeHandle || !data.driverName) continue; // not a staging dir (e.g. a driver's own files)
      const stagingPath = join(dataDir, globalMountDirName);
      if (stagingTargetPath(rootDir, data.driverName, data.volumeHandle) !== stagingPath) {
        logger.warn('Skipping a CSI staging directory that does not match its vol_data.json', {
          path: dataDir,
        });
        continue;
      }
      staged.push({
        driverName: data.driverName,
        volumeHandle: data.volumeHandle,
        stagingPath,
        state: (await mounts.isMountPoint(stagingPath)) ? 'mounted' : 'uncertain',
      });
    }
  }
  return { published, staged };
}
