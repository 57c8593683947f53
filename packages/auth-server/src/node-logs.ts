import { createReadStream } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';

/** Kubelet's node log directory (`/var/log/`), served under `/logs/`. */
export const defaultNodeLogDir = '/var/log';

function htmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** What {@link serveNodeLog} answered, for logging. */
export type NodeLogOutcome = 'listing' | 'file' | 'redirect' | 'not-found' | 'bad-request';

/**
 * Serves `/logs/<rel>` from the node log directory like Go's `http.FileServer` under
 * the kubelet: a directory as an HTML listing (`<pre><a href="x">x</a></pre>`, sorted,
 * directories with a trailing `/`; a directory without its trailing slash is
 * redirected), a regular file as its bytes. Nothing outside the directory is ever
 * served: `..` segments are refused (400 `invalid URL path`), and a path whose real
 * location (after symlinks) leaves the directory, or that is not a regular file or
 * directory, is 404 — unlike Go's `http.Dir`, which follows symlinks out.
 * `rel` is the already percent-decoded path after `/logs/`.
 */
export async function serveNodeLog(
  root: string,
  rel: string,
  requestPath: string,
  res: ServerResponse,
): Promise<NodeLogOutcome> {
  const segments = rel.split('/');
  if (segments.some((s) => s === '..') || rel.includes('\0') || rel.includes('\\')) {
    sendText(res, 400, 'invalid URL path\n');
    return 'bad-request';
  }
  let rootReal: string;
  let real: string;
  try {
    rootReal = await realpath(root);
    real = await realpath(join(rootReal, ...segments.filter((s) => s !== '' && s !== '.')));
  } catch {
    sendText(res, 404, '404 page not found\n');
    return 'not-found';
  }
  if (real !== rootReal && !real.startsWith(rootReal + sep)) {
    sendText(res, 404, '404 page not found\n');
    return 'not-found';
  }
  const st = await stat(real).catch(() => undefined);
  if (st?.isDirectory()) {
    if (!requestPath.endsWith('/')) {
      const base = requestPath.slice(requestPath.lastIndexOf('/') + 1);
      res.writeHead(301, { Location: `${encodeURIComponent(base)}/`, 'Content-Length': 0 });
      res.end();
      return 'redirect';
    }
    const entries = await readdir(real, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    let body = '<!doctype html>\n<meta name="viewport" content="width=device-width">\n<pre>\n';
    for (const e of entries) {
      const name = e.isDirectory() ? `${e.name}/` : e.name;
      body += `<a href="${htmlEscape(encodeURIComponent(e.name) + (e.isDirectory() ? '/' : ''))}">${htmlEscape(name)}</a>\n`;
    }
    body += '</pre>\n';
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
    return 'listing';
  }
  if (!st?.isFile()) {
    sendText(res, 404, '404 page not found\n');
    return 'not-found';
  }
  res.writeHead(200, {
    'Content-Type': real.endsWith('.gz') ? 'application/gzip' : 'text/plain; charset=utf-8',
    'Content-Length': st.size,
    'X-Content-Type-Options': 'nosniff',
  });
  try {
    await pipeline(createReadStream(real, { end: Math.max(0, st.size - 1), start: 0 }), res);
  } catch {
    res.destroy();
  }
  return 'file';
}

/** Writes a plain-text answer (Go's `http.Error` shape). */
export function sendText(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}
