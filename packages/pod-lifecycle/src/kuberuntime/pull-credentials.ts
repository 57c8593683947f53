/**
 * Registry credentials from a pod's `imagePullSecrets`, and image pulls that try
 * them (the kubelet's `pkg/credentialprovider` keyring + `secrets.MakeDockerKeyring`,
 * `Kubelet.getPullSecretsForPod` and the kuberuntime `PullImage` loop).
 */
import {
  isNodeAgentError,
  type EventRecorder,
  type ImageService,
  type Logger,
  type SecretManager,
  type cri,
  type k8s,
} from '@nodeagent/core';

/** Secret type of a `~/.docker/config.json` (`{"auths": {...}}`) under {@link dockerConfigJsonKey}. */
export const dockerConfigJsonSecretType = 'kubernetes.io/dockerconfigjson';
/** Data key of a {@link dockerConfigJsonSecretType} Secret. */
export const dockerConfigJsonKey = '.dockerconfigjson';
/** Secret type of a legacy `~/.dockercfg` (the registry map itself) under {@link dockercfgKey}. */
export const dockercfgSecretType = 'kubernetes.io/dockercfg';
/** Data key of a {@link dockercfgSecretType} Secret. */
export const dockercfgKey = '.dockercfg';

/**
 * The key of Docker Hub's credentials (kubelet `defaultRegistryHost`): `index.docker.io`,
 * what `https://index.docker.io/v1/` (the docker CLI's key) normalizes to.
 */
export const defaultRegistryHost = 'index.docker.io';

/** One registry's credentials from a docker config (kubelet `DockerConfigEntry`). */
export interface DockerConfigEntry {
  username: string;
  password: string;
  email?: string;
  /** `identitytoken`: an OAuth refresh token the runtime exchanges for an access token. */
  identityToken?: string;
  /** `registrytoken`: a bearer token the runtime sends to the registry as-is. */
  registryToken?: string;
}

/** Registry location (`host[:port][/path]`, with or without scheme) → credentials, in file order. */
export type DockerConfig = ReadonlyArray<readonly [location: string, entry: DockerConfigEntry]>;

/** A docker config read from text, and what was skipped in it and why. */
export interface ParsedDockerConfig {
  config: DockerConfig;
  /** Human-readable reasons for ignored entries (never containing secret values). */
  problems: string[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const base64Chars = /^[A-Za-z0-9+/]*$/;

/**
 * Decodes a docker config `auth` field, base64 of `username:password` (kubelet
 * `decodeDockerConfigFieldAuth`: padded or unpadded standard base64).
 * @returns the pair, or a reason it is not one
 */
export function decodeDockerConfigFieldAuth(
  field: string,
): { username: string; password: string } | { error: string } {
  const trimmed = field.trim();
  const body = trimmed.replace(/={1,2}$/, '');
  const padded = body.length !== trimmed.length;
  if (!base64Chars.test(body) || (padded ? trimmed.length % 4 !== 0 : body.length % 4 === 1)) {
    return { error: 'the auth field is not valid base64' };
  }
  const decoded = Buffer.from(body, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) {
    return { error: 'unable to parse auth field, must be formatted as base64(username:password)' };
  }
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function optionalString(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * Reads the registry map of a docker config (the `auths` object of config.json, or a
 * whole legacy .dockercfg). As in the kubelet (`DockerConfigEntry.UnmarshalJSON`), a
 * non-empty `auth` field decides username and password; `identitytoken` and
 * `registrytoken` are kept for the runtime. An entry that is not an object or whose
 * `auth` does not decode is skipped with a reason (the kubelet rejects the whole
 * secret instead; skipping keeps the other entries usable).
 */
export function parseDockerConfigEntries(auths: unknown, source: string): ParsedDockerConfig {
  const problems: string[] = [];
  const config: Array<readonly [string, DockerConfigEntry]> = [];
  if (auths === undefined || auths === null) return { config, problems };
  if (!isRecord(auths)) {
    problems.push(`${source}: the registry map is not a JSON object`);
    return { config, problems };
  }
  for (const [location, raw] of Object.entries(auths)) {
    if (!isRecord(raw)) {
      problems.push(`${source}: entry "${location}" is not a JSON object, ignoring it`);
      continue;
    }
    let username = typeof raw['username'] === 'string' ? raw['username'] : '';
    let password = typeof raw['password'] === 'string' ? raw['password'] : '';
    const auth = typeof raw['auth'] === 'string' ? raw['auth'] : '';
    if (auth !== '') {
      const decoded = decodeDockerConfigFieldAuth(auth);
      if ('error' in decoded) {
        problems.push(`${source}: entry "${location}": ${decoded.error}, ignoring it`);
        continue;
      }
      ({ username, password } = decoded);
    }
    const email = optionalString(raw['email']);
    const identityToken = optionalString(raw['identitytoken']);
    const registryToken = optionalString(raw['registrytoken']);
    config.push([
      location,
      {
        username,
        password,
        ...(email !== undefined ? { email } : {}),
        ...(identityToken !== undefined ? { identityToken } : {}),
        ...(registryToken !== undefined ? { registryToken } : {}),
      },
    ]);
  }
  return { config, problems };
}

function parseJson(text: string, source: string): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    // The parser's message quotes the input, which may hold a password: not repeated.
    return { error: `${source}: not valid JSON` };
  }
}

/** Reads a `~/.docker/config.json` text (`{"auths": {...}}`; kubelet `DockerConfigJSON`). */
export function readDockerConfigJson(
  text: string,
  source = dockerConfigJsonKey,
): ParsedDockerConfig {
  const parsed = parseJson(text, source);
  if ('error' in parsed) return { config: [], problems: [parsed.error] };
  if (!isRecord(parsed.value)) return { config: [], problems: [`${source}: not a JSON object`] };
  return parseDockerConfigEntries(parsed.value['auths'], source);
}

/** Reads a legacy `~/.dockercfg` text (the registry map itself; kubelet `DockerConfig`). */
export function readDockercfg(text: string, source = dockercfgKey): ParsedDockerConfig {
  const parsed = parseJson(text, source);
  if ('error' in parsed) return { config: [], problems: [parsed.error] };
  return parseDockerConfigEntries(parsed.value, source);
}

// ------------------------------------------------------------------ matching

interface SchemelessUrl {
  /** Host with port as written (`registry:5000`). */
  host: string;
  /** `/path…` or ''. */
  path: string;
}

/** Splits `[scheme://]host[:port][/path]` the way Go's url.Parse does for these inputs. */
function parseSchemeless(value: string): SchemelessUrl {
  const rest = value.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//, '');
  const end = rest.search(/[?#]/);
  const noQuery = end >= 0 ? rest.slice(0, end) : rest;
  const slash = noQuery.indexOf('/');
  return slash < 0
    ? { host: noQuery, path: '' }
    : { host: noQuery.slice(0, slash), path: noQuery.slice(slash) };
}

/**
 * Host labels and port (kubelet `SplitURL` with Go's `net.SplitHostPort`: when the port
 * cannot be split off — no colon, several colons outside brackets — there is none).
 */
function splitHost(host: string): { labels: string[]; port: string } {
  let name = host;
  let port = '';
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end > 0 && host[end + 1] === ':') {
      name = host.slice(1, end);
      port = host.slice(end + 2);
    }
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0 && host.indexOf(':') === colon) {
      name = host.slice(0, colon);
      port = host.slice(colon + 1);
    }
  }
  return { labels: name.split('.'), port };
}

/**
 * Go `path/filepath.Match` for one host label: `*` any run of characters, `?` one,
 * `[...]` a class (`^` negates, `a-z` ranges), `\` escapes. A malformed pattern
 * matches nothing (the kubelet ignores the entry's error and moves on).
 */
export function globMatch(pattern: string, name: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      const next = pattern[++i];
      if (next === undefined) return false;
      re += escapeRegex(next);
    } else if (c === '[') {
      let j = i + 1;
      let cls = '';
      if (pattern[j] === '^') {
        cls += '^';
        j++;
      }
      let members = 0;
      for (; j < pattern.length && (pattern[j] !== ']' || members === 0); j++) {
        let ch = pattern[j]!;
        if (ch === '\\') {
          const esc = pattern[++j];
          if (esc === undefined) return false;
          ch = esc;
        }
        if (ch === '-' && members > 0 && pattern[j + 1] !== undefined && pattern[j + 1] !== ']') {
          cls += '-';
          continue;
        }
        cls += escapeRegex(ch);
        members++;
      }
      if (j >= pattern.length || members === 0) return false; // unterminated or empty class
      re += `[${cls}]`;
      i = j;
    } else re += escapeRegex(c);
  }
  try {
    return new RegExp(`${re}$`).test(name);
  } catch {
    return false;
  }
}

function escapeRegex(c: string): string {
  return c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

/**
 * Does the credential location `glob` cover the image repository `target`? (kubelet
 * `URLsMatch`): same port, same number of host labels, each label matching its glob,
 * and the location's path a string prefix of the repository's path.
 */
export function registryLocationMatches(glob: string, target: string): boolean {
  const g = parseSchemeless(glob);
  const t = parseSchemeless(target);
  const gh = splitHost(g.host);
  const th = splitHost(t.host);
  if (gh.port !== th.port) return false;
  if (gh.labels.length !== th.labels.length) return false;
  if (!t.path.startsWith(g.path)) return false;
  return gh.labels.every((label, i) => globMatch(label, th.labels[i]!));
}

/**
 * Will `repository` be pulled from Docker Hub? (kubelet `isDefaultRegistryMatch`): a
 * single path component, a first component of `docker.io`/`index.docker.io`, or one
 * without `.` or `:` (a user name, not a host).
 */
export function isDefaultRegistryMatch(repository: string): boolean {
  const slash = repository.indexOf('/');
  const first = slash < 0 ? repository : repository.slice(0, slash);
  if (first === '') return false;
  if (slash < 0) return true;
  if (first === 'docker.io' || first === 'index.docker.io') return true;
  return !/[.:]/.test(first);
}

/**
 * The repository an image reference pulls from, fully qualified, without tag or digest
 * (what the kubelet's `parsers.ParseImageName` hands to the keyring, docker's
 * normalization): `busybox` → `docker.io/library/busybox`, `user/app:1` →
 * `docker.io/user/app`, `registry:5000/path/img:tag` → `registry:5000/path/img`.
 */
export function repositoryToPull(image: string): string {
  const at = image.indexOf('@');
  let name = at >= 0 ? image.slice(0, at) : image;
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) name = name.slice(0, colon);
  const slash = name.indexOf('/');
  let domain: string;
  let remainder: string;
  const first = slash < 0 ? '' : name.slice(0, slash);
  if (
    slash < 0 ||
    (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)
  ) {
    domain = 'docker.io';
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(slash + 1);
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && !remainder.includes('/')) remainder = `library/${remainder}`;
  return `${domain}/${remainder}`;
}

/**
 * The keyring of a pod's pull secrets (kubelet `BasicDockerKeyring`): credentials by
 * normalized registry location (scheme dropped; a `/v1/` or `/v2/` path means the
 * host), looked up for an image repository most specific location first.
 */
export class BasicDockerKeyring {
  /** Locations, reverse-sorted so `quay.io/coreos` comes before `quay.io`. */
  private index: string[] = [];
  private readonly creds = new Map<string, DockerConfigEntry[]>();

  /** Adds a config's entries (kubelet `BasicDockerKeyring.Add`). */
  add(config: DockerConfig): void {
    for (const [location, entry] of config) {
      const { host, path } = parseSchemeless(location);
      let effectivePath = path;
      if (effectivePath.startsWith('/v2/') || effectivePath.startsWith('/v1/')) {
        effectivePath = effectivePath.slice(3);
      }
      const key = effectivePath !== '' && effectivePath !== '/' ? host + effectivePath : host;
      const list = this.creds.get(key);
      if (list) list.push(entry);
      else this.creds.set(key, [entry]);
    }
    this.index = [...this.creds.keys()].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  }

  /** No credentials at all? */
  get empty(): boolean {
    return this.creds.size === 0;
  }

  /**
   * Every credential whose location covers `repository` (a {@link repositoryToPull}
   * result), most specific location first; Docker Hub's credentials
   * ({@link defaultRegistryHost}) when nothing else matched and the repository is on
   * Docker Hub (kubelet `BasicDockerKeyring.Lookup`).
   */
  lookup(repository: string): DockerConfigEntry[] {
    const found: DockerConfigEntry[] = [];
    for (const key of this.index) {
      if (registryLocationMatches(key, repository)) found.push(...(this.creds.get(key) ?? []));
    }
    if (found.length > 0) return found;
    if (isDefaultRegistryMatch(repository)) return [...(this.creds.get(defaultRegistryHost) ?? [])];
    return [];
  }
}

function decodeSecretValue(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  return Buffer.from(value, 'base64').toString('utf8');
}

function secretName(secret: k8s.Secret): string {
  return `${secret.metadata.namespace ?? ''}/${secret.metadata.name ?? ''}`;
}

/**
 * Builds the keyring of pull secrets (kubelet `secrets.MakeDockerKeyring`): Secrets of
 * type {@link dockerConfigJsonSecretType} with a non-empty {@link dockerConfigJsonKey}
 * and of type {@link dockercfgSecretType} with a non-empty {@link dockercfgKey}; other
 * Secrets are not pull secrets and are skipped silently. Unreadable JSON or entries
 * are skipped with a reason in `problems`.
 */
export function makeDockerKeyring(secrets: readonly k8s.Secret[]): {
  keyring: BasicDockerKeyring;
  problems: string[];
} {
  const keyring = new BasicDockerKeyring();
  const problems: string[] = [];
  for (const secret of secrets) {
    const source = `secret ${secretName(secret)}`;
    const configJson = decodeSecretValue(secret.data?.[dockerConfigJsonKey]);
    const cfg = decodeSecretValue(secret.data?.[dockercfgKey]);
    let parsed: ParsedDockerConfig | undefined;
    if (secret.type === dockerConfigJsonSecretType && configJson !== undefined) {
      parsed = readDockerConfigJson(configJson, `${source} ${dockerConfigJsonKey}`);
    } else if (secret.type === dockercfgSecretType && cfg !== undefined) {
      parsed = readDockercfg(cfg, `${source} ${dockercfgKey}`);
    }
    if (!parsed) continue;
    keyring.add(parsed.config);
    problems.push(...parsed.problems);
  }
  return { keyring, problems };
}

/** CRI `AuthConfig` of one credential, as the kubelet sends it (no server address). */
export function toCriAuthConfig(entry: DockerConfigEntry): cri.AuthConfigInput {
  return {
    username: entry.username,
    password: entry.password,
    ...(entry.identityToken !== undefined ? { identityToken: entry.identityToken } : {}),
    ...(entry.registryToken !== undefined ? { registryToken: entry.registryToken } : {}),
  };
}

// ------------------------------------------------------------------ secrets

/** The pod's pull secrets that could be read, and the names that could not. */
export interface PodPullSecrets {
  secrets: k8s.Secret[];
  /** Names of `imagePullSecrets` the SecretManager could not return, with why. */
  failed: Array<{ name: string; error: unknown }>;
}

/**
 * Reads the Secrets named in `spec.imagePullSecrets` from the pod's namespace (kubelet
 * `getPullSecretsForPod`): empty names are skipped; a Secret that cannot be read is
 * listed in `failed` and the pull goes on without it.
 */
export async function getPullSecretsForPod(
  pod: k8s.Pod,
  secretManager: SecretManager,
): Promise<PodPullSecrets> {
  const namespace = pod.metadata.namespace || 'default';
  const result: PodPullSecrets = { secrets: [], failed: [] };
  for (const ref of pod.spec?.imagePullSecrets ?? []) {
    const name = ref.name ?? '';
    if (name === '') continue;
    try {
      result.secrets.push(await secretManager.getSecret(namespace, name));
    } catch (error) {
      result.failed.push({ name, error });
    }
  }
  return result;
}

// ------------------------------------------------------------------ pulling

/** An error's text as pod-lifecycle reports it (a NodeAgentError's detail: the runtime's own words). */
function errorMessage(err: unknown): string {
  if (isNodeAgentError(err)) return err.detail ?? err.message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * All credentials failed: the errors of every attempt, in order. Its message is the
 * kubelet's `utilerrors.NewAggregate` text: the distinct messages joined by `, ` in
 * brackets (one distinct message alone, without brackets).
 */
export class ImagePullAttemptsError extends Error {
  override readonly name = 'ImagePullAttemptsError';
  constructor(readonly errors: readonly unknown[]) {
    const distinct = [...new Set(errors.map(errorMessage))];
    super(distinct.length === 1 ? distinct[0]! : `[${distinct.join(', ')}]`);
  }
}

/**
 * Pulls `image` trying each credential in order until one works (kubelet kuberuntime
 * `PullImage`); with no credentials, one anonymous pull. A single failed attempt
 * rethrows its own error; several throw {@link ImagePullAttemptsError}. An aborted
 * signal stops the loop with that attempt's error.
 */
export async function pullImageWithCredentials(
  images: ImageService,
  request: { image: string; sandboxConfig?: cri.PodSandboxConfigInput },
  credentials: readonly cri.AuthConfigInput[],
  options: { signal?: AbortSignal } = {},
): Promise<cri.PullImageResponse> {
  const base: cri.PullImageRequestInput = {
    image: { image: request.image },
    ...(request.sandboxConfig ? { sandboxConfig: request.sandboxConfig } : {}),
  };
  const callOptions = options.signal ? { signal: options.signal } : {};
  if (credentials.length === 0) return images.pullImage(base, callOptions);
  const errors: unknown[] = [];
  for (const auth of credentials) {
    try {
      return await images.pullImage({ ...base, auth }, callOptions);
    } catch (err) {
      errors.push(err);
      if (options.signal?.aborted) break;
    }
  }
  if (errors.length === 1) throw errors[0];
  throw new ImagePullAttemptsError(errors);
}

/** What {@link pullImageForPod} needs. */
export interface PullImageForPodOptions {
  images: ImageService;
  secrets: SecretManager;
  pod: k8s.Pod;
  image: string;
  sandboxConfig?: cri.PodSandboxConfigInput;
  signal?: AbortSignal;
  logger?: Logger;
  recorder?: EventRecorder;
  /** The pod's object reference for the FailedToRetrieveImagePullSecret event. */
  podRef?: k8s.ObjectReference;
}

/**
 * Pulls a container's image with the pod's pull secrets, as the kubelet does: reads
 * `imagePullSecrets` (unreadable ones: the info log "Unable to retrieve pull secret,
 * the image pull may not succeed." and a Warning `FailedToRetrieveImagePullSecret`
 * event), builds the keyring, looks up the image's repository and tries the matching
 * credentials most specific first; anonymously when none match. Pull secrets whose
 * content cannot be read are logged as warnings and skipped.
 */
export async function pullImageForPod(
  options: PullImageForPodOptions,
): Promise<cri.PullImageResponse> {
  const { pod, image, logger, recorder } = options;
  let credentials: cri.AuthConfigInput[] = [];
  if ((pod.spec?.imagePullSecrets ?? []).length > 0) {
    const { secrets, failed } = await getPullSecretsForPod(pod, options.secrets);
    const podName = `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
    for (const f of failed) {
      logger?.info('Unable to retrieve pull secret, the image pull may not succeed.', {
        pod: podName,
        secret: `${pod.metadata.namespace || 'default'}/${f.name}`,
        err: errorMessage(f.error),
      });
    }
    if (failed.length > 0 && recorder && options.podRef) {
      recorder.event(
        options.podRef,
        'Warning',
        'FailedToRetrieveImagePullSecret',
        `Unable to retrieve some image pull secrets (${failed.map((f) => f.name).join(', ')}); attempting to pull the image may not succeed.`,
      );
    }
    const { keyring, problems } = makeDockerKeyring(secrets);
    for (const problem of problems) {
      logger?.warn('Ignoring unreadable image pull secret content', { pod: podName, problem });
    }
    credentials = keyring.lookup(repositoryToPull(image)).map(toCriAuthConfig);
    if (credentials.length === 0) {
      logger?.debug('Pulling image without credentials', { pod: podName, image });
    }
  }
  return pullImageWithCredentials(
    options.images,
    { image, ...(options.sandboxConfig ? { sandboxConfig: options.sandboxConfig } : {}) },
    credentials,
    options.signal ? { signal: options.signal } : {},
  );
}
