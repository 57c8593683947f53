import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the real runtime harness put things; what integration tests need to know. */
export interface RealRuntimeEnv {
  /** The private directory holding containerd's root, state, socket, logs and CNI config. */
  runtimeDir: string;
  /** `unix:///…/containerd.sock`. */
  criEndpoint: string;
  /** The socket path itself. */
  criSocket: string;
  /** `127.0.0.1:<port>` of the local registry. */
  registry: string;
  /** The sandbox (pause) image containerd is configured with. */
  pauseImage: string;
  /** A busybox image with sh, sleep, httpd, nc, wget… */
  busyboxImage: string;
  /** A second, distinct busybox image (for image GC tests). */
  busybox2Image: string;
  /** Name of the test run's own CNI bridge. */
  cniBridge: string;
  /** Subnet of that bridge; pod IPs come from it. */
  cniSubnet: string;
  /** The bridge's own address (the pods' gateway). */
  cniGateway: string;
  /** Parent cgroup for test pods (`cgroupParent` under it is removed by down.sh). */
  cgroupRoot: string;
  /** Directory for pod log directories. */
  podLogDir: string;
}

export interface RealRuntimeOptions {
  /** Private directory; default `$NODEAGENT_RUNTIME_DIR` or `/tmp/nodeagent-rt`. */
  runtimeDir?: string;
  /** Port of the local registry on 127.0.0.1; default `$NODEAGENT_REGISTRY_PORT` or 5000. */
  registryPort?: number;
  /** Install missing Debian packages when root (default true). */
  install?: boolean;
}

const envKeys: Record<keyof RealRuntimeEnv, string> = {
  runtimeDir: 'NODEAGENT_RUNTIME_DIR',
  criEndpoint: 'NODEAGENT_CRI_ENDPOINT',
  criSocket: 'NODEAGENT_CRI_SOCKET',
  registry: 'NODEAGENT_REGISTRY',
  pauseImage: 'NODEAGENT_PAUSE_IMAGE',
  busyboxImage: 'NODEAGENT_BUSYBOX_IMAGE',
  busybox2Image: 'NODEAGENT_BUSYBOX2_IMAGE',
  cniBridge: 'NODEAGENT_CNI_BRIDGE',
  cniSubnet: 'NODEAGENT_CNI_SUBNET',
  cniGateway: 'NODEAGENT_CNI_GATEWAY',
  cgroupRoot: 'NODEAGENT_CGROUP_ROOT',
  podLogDir: 'NODEAGENT_POD_LOG_DIR',
};

/** The directory of the harness's shell scripts (shipped with this package). */
export function runtimeScriptsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // src/runtime or dist/runtime → <package>/scripts/runtime
  const dir = resolve(here, '../../scripts/runtime');
  if (!existsSync(join(dir, 'up.sh'))) {
    throw new Error(`nodeagent runtime harness scripts not found in ${dir}`);
  }
  return dir;
}

function scriptEnv(options: RealRuntimeOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (options.runtimeDir) env.NODEAGENT_RUNTIME_DIR = options.runtimeDir;
  if (options.registryPort !== undefined)
    env.NODEAGENT_REGISTRY_PORT = String(options.registryPort);
  return env;
}

/** Runs one harness script; resolves to its stdout. Progress goes to our stderr. */
export function runHarnessScript(
  script: string,
  args: readonly string[],
  options: RealRuntimeOptions = {},
): Promise<string> {
  const path = join(runtimeScriptsDir(), script);
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [path, ...args], {
      env: scriptEnv(options),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolvePromise(stdout);
      else reject(new Error(`${script} ${args.join(' ')} failed (${signal ?? `exit ${code}`})`));
    });
  });
}

/** Parses the `KEY=VALUE` lines the harness prints (and writes to `<dir>/env`). */
export function parseRuntimeEnv(text: string): RealRuntimeEnv {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) values.set(m[1], m[2]);
  }
  const env: Partial<RealRuntimeEnv> = {};
  for (const [field, key] of Object.entries(envKeys) as Array<[keyof RealRuntimeEnv, string]>) {
    const value = values.get(key);
    if (value === undefined || value === '') {
      throw new Error(`runtime harness did not report ${key}`);
    }
    env[field] = value;
  }
  return env as RealRuntimeEnv;
}

/**
 * Brings up the real runtime (containerd + runc + CNI, a registry on 127.0.0.1 and
 * the test images) in a private directory, or finds it already up. Idempotent.
 */
export async function startRealRuntime(options: RealRuntimeOptions = {}): Promise<RealRuntimeEnv> {
  const args = options.install === false ? ['--no-install'] : [];
  return parseRuntimeEnv(await runHarnessScript('up.sh', args, options));
}

/**
 * Tears the runtime down: every sandbox and container, containerd and its shims,
 * mounts, network namespaces, the bridge and the registry. With `keepImages` the
 * registry's files stay on disk so the next start is fast.
 */
export async function stopRealRuntime(
  options: RealRuntimeOptions & { keepImages?: boolean } = {},
): Promise<void> {
  await runHarnessScript('down.sh', options.keepImages ? ['--keep-images'] : [], options);
}

/** Stops only the containerd process (shims, containers and the registry keep running). */
export async function stopContainerd(options: RealRuntimeOptions = {}): Promise<void> {
  await runHarnessScript('restart-containerd.sh', ['--stop'], options);
}

/** Starts containerd again after {@link stopContainerd}; resolves when its socket answers. */
export async function startContainerd(options: RealRuntimeOptions = {}): Promise<void> {
  await runHarnessScript('restart-containerd.sh', ['--start'], options);
}
