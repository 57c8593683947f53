import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from 'node:https';
import { createSecureContext } from 'node:tls';

/** The TLS settings that make two agents interchangeable. */
const tlsKeys = [
  'ca',
  'cert',
  'key',
  'pfx',
  'passphrase',
  'rejectUnauthorized',
  'servername',
] as const;

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  return false;
}

/** The options of the TLS context itself (the rest are per connection). */
const secureContextKeys = ['ca', 'cert', 'key', 'pfx', 'passphrase'] as const;

/**
 * Reuses connections to the API server. @kubernetes/client-node builds a new
 * `https.Agent` for every request (it re-reads the credentials each time, which is how
 * a rotated client certificate takes effect), so every request paid a TCP and TLS
 * handshake. This keeps one keep-alive agent per distinct set of TLS settings: a
 * request whose fresh agent carries the same CA, certificate and key as the last one
 * goes through the kept agent instead; when the credentials change (rotation), a new
 * kept agent takes over and the old one closes its connections as they go idle.
 * The kept agent's connections share one TLS secure context (CA, certificate and key
 * parsed once), where every new connection would otherwise build its own.
 */
export class KeepAliveAgents {
  private https: { agent: HttpsAgent; options: HttpsAgentOptions } | undefined;
  private http: HttpAgent | undefined;
  private closed = false;

  /** The agent to use instead of `fresh` (the request's own, built by client-node). */
  reuse<T>(fresh: T): T {
    if (this.closed) return fresh;
    if (fresh instanceof HttpsAgent) {
      const options = (fresh as HttpsAgent & { options: HttpsAgentOptions }).options;
      const kept = this.https;
      if (kept && tlsKeys.every((k) => sameValue(kept.options[k], options[k]))) {
        return kept.agent as T;
      }
      if (kept) retire(kept.agent);
      const picked = pick(options);
      const agent = new HttpsAgent({
        ...picked,
        secureContext: createSecureContext(pickSecureContext(picked)),
        keepAlive: true,
      });
      this.https = { agent, options: pick(options) };
      return agent as T;
    }
    if (fresh instanceof HttpAgent) {
      this.http ??= new HttpAgent({ keepAlive: true });
      return this.http as T;
    }
    return fresh;
  }

  /** Closes every kept connection; later requests use their own agents. */
  close(): void {
    this.closed = true;
    if (this.https) this.https.agent.destroy();
    this.http?.destroy();
    this.https = undefined;
    this.http = undefined;
  }
}

function pick(options: HttpsAgentOptions): HttpsAgentOptions {
  const out: HttpsAgentOptions = {};
  for (const k of tlsKeys) {
    if (options[k] !== undefined) (out as Record<string, unknown>)[k] = options[k];
  }
  return out;
}

function pickSecureContext(options: HttpsAgentOptions): HttpsAgentOptions {
  const out: HttpsAgentOptions = {};
  for (const k of secureContextKeys) {
    if (options[k] !== undefined) (out as Record<string, unknown>)[k] = options[k];
  }
  return out;
}

/** Stops an agent from keeping connections: idle ones close now, busy ones when done. */
function retire(agent: HttpsAgent): void {
  agent.maxFreeSockets = 0;
  for (const sockets of Object.values(agent.freeSockets)) {
    for (const socket of sockets ?? []) socket.destroy();
  }
}
