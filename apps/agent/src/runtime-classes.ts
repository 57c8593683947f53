/**
 * The RuntimeClass lookup of API-server mode (kubelet `runtimeclass.Manager`): a pod's
 * `runtimeClassName` resolves to the CRI handler of that RuntimeClass
 * (`node.k8s.io/v1`), read from the API server when the pod's sandbox is created.
 */
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { resolveToken, type TokenResolver } from '@nodeagent/core';
import { KubeApiClient } from '@nodeagent/kube-client';

/** What the lookup needs of client-node's KubeConfig (the agent's API credentials). */
export interface RuntimeClassApiConfig {
  getCurrentCluster(): { server: string } | null;
  applyToHTTPSOptions(opts: RequestOptions): Promise<void>;
}

/** Default timeout of one RuntimeClass GET, ms. */
export const defaultRuntimeClassLookupTimeoutMs = 10_000;

/**
 * Resolves RuntimeClass names to runtime handlers with a GET of
 * `/apis/node.k8s.io/v1/runtimeclasses/<name>` per sandbox creation (the kubelet reads
 * an informer cache; a GET is as fresh and sandboxes are rare). Errors follow the
 * kubelet's `LookupRuntimeHandler`: a missing RuntimeClass is the API's NotFound
 * (`runtimeclass.node.k8s.io "<name>" not found`), other failures are
 * `failed to lookup RuntimeClass <name>: <cause>`.
 */
export class ApiRuntimeClassLookup {
  constructor(
    private readonly config: RuntimeClassApiConfig,
    private readonly timeoutMs = defaultRuntimeClassLookupTimeoutMs,
  ) {}

  /** The handler of RuntimeClass `name` ('' for an empty name: the default handler). */
  async lookupRuntimeHandler(name: string): Promise<string> {
    if (name === '') return '';
    const server = this.config.getCurrentCluster()?.server;
    if (!server) throw new Error(`failed to lookup RuntimeClass ${name}: no API server`);
    const url = new URL(`/apis/node.k8s.io/v1/runtimeclasses/${encodeURIComponent(name)}`, server);
    const options: RequestOptions = { method: 'GET', headers: { Accept: 'application/json' } };
    await this.config.applyToHTTPSOptions(options);
    let res: { status: number; body: string };
    try {
      res = await this.get(url, options);
    } catch (err) {
      throw new Error(
        `failed to lookup RuntimeClass ${name}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    if (res.status === 404) throw new Error(`runtimeclass.node.k8s.io "${name}" not found`);
    if (res.status !== 200)
      throw new Error(`failed to lookup RuntimeClass ${name}: HTTP ${res.status}`);
    const parsed = JSON.parse(res.body) as { handler?: unknown };
    return typeof parsed.handler === 'string' ? parsed.handler : '';
  }

  private get(url: URL, options: RequestOptions): Promise<{ status: number; body: string }> {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { ...options, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });
  }
}

/**
 * The `runtimeHandlerFor` option of pod-lifecycle in API-server mode: RuntimeClass
 * lookups with the agent's API client credentials (resolved on first use).
 */
export function apiRuntimeHandlerFor(
  container: TokenResolver,
): (runtimeClassName: string) => Promise<string> {
  let lookup: ApiRuntimeClassLookup | undefined;
  return (name) => {
    lookup ??= new ApiRuntimeClassLookup(resolveToken(container, KubeApiClient).config);
    return lookup.lookupRuntimeHandler(name);
  };
}
