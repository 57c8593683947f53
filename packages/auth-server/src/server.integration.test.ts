/**
 * The node API against the real containerd: container logs of a busybox container
 * printing numbered lines (tail, limit, timestamps, since, previous, follow), exec
 * through the server's stream proxy to containerd's streaming server (a raw
 * WebSocket upgrade speaking the CRI `v4.channel.k8s.io` protocol), runningpods and
 * healthz with a syncloop check.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { RealClock, type cri as api, type k8s } from '@nodeagent/core';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import { CertificateAuthority, type CertificateAndKey } from '@nodeagent/testkit';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pingHealthCheck, syncLoopHealthCheck } from './healthz.js';
import { NodeApiServer } from './server.js';

const env = realRuntime();
const suite = `auth-server-${randomUUID().slice(0, 8)}`;
const testLabel = { 'nodeagent.test/suite': suite };
const namespace = 'auth-server-test';
const podName = 'counter';
const uid = randomUUID();
const tmp = mkdtempSync(join(tmpdir(), 'auth-server-it-'));
let cri: CriClient;
let server: NodeApiServer;
let port = 0;
let serverCa = '';
let client: CertificateAndKey;
let sandboxId = '';
let plegOk = true;

const pod = {
  metadata: { name: podName, namespace, uid },
  spec: { containers: [{ name: 'app', image: env.busyboxImage }] },
  status: { phase: 'Running' },
} as k8s.Pod;

function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        ca: serverCa,
        cert: client.certPem,
        key: client.keyPem,
        agent: false,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function waitFor(cond: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function runContainer(attempt: number, script: string): Promise<string> {
  const config: api.PodSandboxConfigInput = {
    metadata: { name: podName, namespace, uid, attempt: 0 },
    logDirectory: `${env.podLogDir}/${namespace}_${podName}_${uid}`,
    labels: testLabel,
    linux: {
      securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } },
    },
  };
  if (sandboxId === '') ({ podSandboxId: sandboxId } = await cri.runPodSandbox({ config }));
  const { containerId } = await cri.createContainer({
    podSandboxId: sandboxId,
    sandboxConfig: config,
    config: {
      metadata: { name: 'app', attempt },
      image: { image: env.busyboxImage },
      command: ['sh', '-c', script],
      logPath: `app/${attempt}.log`,
      labels: testLabel,
    },
  });
  await cri.startContainer({ containerId });
  return containerId;
}

beforeAll(async () => {
  cri = createCriClient({ endpoint: env.criEndpoint });
  await cri.connect();
  await cri.pullImage({ image: { image: env.busyboxImage } });
  const ca = new CertificateAuthority('auth-server-it-clients');
  client = ca.issue({ commonName: 'it-admin', organizations: ['system:masters'] });
  server = new NodeApiServer({
    nodeName: 'it-node',
    address: '127.0.0.1',
    port: 0,
    rootDir: tmp,
    tls: { alternateIps: ['127.0.0.1'] },
    authentication: { clientCaPem: ca.certPem },
    authorization: { mode: 'AlwaysAllow' },
    podLogsDir: env.podLogDir,
    providers: {
      pods: () => [pod],
      runtime: cri,
      healthChecks: [
        pingHealthCheck,
        syncLoopHealthCheck({
          healthy: () => ({
            ok: plegOk,
            message: plegOk ? '' : 'pleg was last seen active 3m5s ago; threshold is 3m0s',
          }),
        }),
      ],
    },
    clock: new RealClock(),
  });
  await server.start();
  port = server.address().port;
  serverCa = server.servingCertificate?.certPem ?? '';
  // attempt 0: prints 1..5 and exits; attempt 1: prints 1..50 then keeps running
  const first = await runContainer(0, 'for i in 1 2 3 4 5; do echo "old $i"; done');
  await waitFor(
    async () =>
      (await cri.containerStatus({ containerId: first })).status?.state === 'CONTAINER_EXITED',
    'first container to exit',
  );
  await runContainer(
    1,
    'i=1; while [ $i -le 50 ]; do echo "line $i"; i=$((i+1)); done; echo "to stderr" >&2; sleep 1; echo late; sleep 3600',
  );
  await waitFor(
    async () => (await get(`/containerLogs/${namespace}/${podName}/app`)).body.includes('late'),
    'log lines',
  );
});

afterAll(async () => {
  await server?.stop();
  const { items } = await cri.listPodSandbox({ filter: { labelSelector: testLabel } });
  for (const sb of items) {
    await cri.stopPodSandbox({ podSandboxId: sb.id });
    await cri.removePodSandbox({ podSandboxId: sb.id });
  }
  cri.close();
  rmSync(`${env.podLogDir}/${namespace}_${podName}_${uid}`, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});

describe('container logs on containerd', () => {
  const base = `/containerLogs/${namespace}/${podName}/app`;

  it('returns the whole log, the tail, a byte limit and timestamps', async () => {
    const all = (await get(base)).body.split('\n');
    // stdout and stderr reach the file through separate pipes: only order within a stream is kept
    expect(all.filter((l) => l.startsWith('line ')).slice(0, 3)).toEqual([
      'line 1',
      'line 2',
      'line 3',
    ]);
    expect(all).toContain('to stderr');
    expect((await get(`${base}?tailLines=1`)).body).toBe('late\n');
    expect((await get(`${base}?tailLines=2`)).body.split('\n')).toHaveLength(3);
    expect((await get(`${base}?limitBytes=12&stream=Stdout`)).body).toBe('line 1\nline ');
    expect((await get(`${base}?stream=Stderr`)).body).toBe('to stderr\n');
    const ts = (await get(`${base}?timestamps=true&tailLines=1`)).body;
    expect(ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) late\n$/);
  });

  it('filters by sinceTime/sinceSeconds and reads the previous container', async () => {
    const ts = (await get(`${base}?timestamps=true&tailLines=1`)).body.split(' ')[0] ?? '';
    const lateSecond = new Date(Math.floor(Date.parse(ts) / 1000) * 1000)
      .toISOString()
      .replace('.000', '');
    const since = (await get(`${base}?sinceTime=${encodeURIComponent(lateSecond)}`)).body;
    expect(since.endsWith('late\n')).toBe(true);
    expect(since).not.toContain('line 1\n');
    expect((await get(`${base}?sinceSeconds=3600`)).body).toContain('line 50\n');
    expect((await get(`${base}?previous=true`)).body).toBe('old 1\nold 2\nold 3\nold 4\nold 5\n');
  });

  it('follows a running container until the client goes away', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: `${base}?follow=true&tailLines=1`,
          ca: serverCa,
          cert: client.certPem,
          key: client.keyPem,
          agent: false,
        },
        (res) => {
          let got = '';
          res.on('data', (d: Buffer) => {
            got += d.toString();
            if (got.includes('late\n')) {
              req.destroy();
              resolve(got);
            }
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(body).toBe('late\n');
  });
});

describe('exec through the stream proxy', () => {
  it('runs a command over a WebSocket upgrade (v4.channel.k8s.io)', async () => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      ca: serverCa,
      cert: client.certPem,
      key: client.keyPem,
    });
    await new Promise<void>((r) => socket.once('secureConnect', () => r()));
    const path = `/exec/${namespace}/${podName}/app?command=sh&command=-c&command=${encodeURIComponent('echo hello-from-exec; echo oops >&2')}&output=1&error=1`;
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n` +
        `Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n`,
    );
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])));
    await new Promise<void>((r) => socket.once('close', () => r()));
    const headEnd = buf.indexOf('\r\n\r\n');
    const head = buf.subarray(0, headEnd).toString();
    expect(head).toMatch(/^HTTP\/1.1 101/);
    expect(head.toLowerCase()).toContain('sec-websocket-protocol: v4.channel.k8s.io');
    // unmasked server frames: [fin|opcode][len][payload: channel byte + data]
    const channels: Record<number, string> = {};
    let off = headEnd + 4;
    while (off + 2 <= buf.length) {
      const opcode = (buf[off] ?? 0) & 0x0f;
      let len = (buf[off + 1] ?? 0) & 0x7f;
      off += 2;
      if (len === 126) {
        len = buf.readUInt16BE(off);
        off += 2;
      } else if (len === 127) {
        len = Number(buf.readBigUInt64BE(off));
        off += 8;
      }
      const payload = buf.subarray(off, off + len);
      off += len;
      if ((opcode === 1 || opcode === 2) && payload.length > 0) {
        const ch = payload[0] ?? 0;
        channels[ch] = (channels[ch] ?? '') + payload.subarray(1).toString();
      }
    }
    expect(channels[1]).toBe('hello-from-exec\n');
    expect(channels[2]).toBe('oops\n');
    expect(JSON.parse(channels[3] ?? '{}')).toMatchObject({ status: 'Success' });
  });

  it('refuses exec without an upgrade and for unknown containers', async () => {
    expect(await get(`/exec/${namespace}/${podName}/app?command=ls&output=1`)).toMatchObject({
      status: 400,
      body: 'Upgrade request required\n',
    });
    expect((await get(`/exec/${namespace}/${podName}/nope?command=ls&output=1`)).status).toBe(404);
    expect((await get(`/exec/${namespace}/${podName}/app?command=ls`)).status).toBe(400);
  });
});

describe('runningpods and healthz', () => {
  it('lists the running pod from the runtime', async () => {
    const list = JSON.parse((await get('/runningpods/')).body) as { items: k8s.Pod[] };
    const mine = list.items.find((p) => p.metadata.uid === uid);
    expect(mine?.metadata).toMatchObject({ name: podName, namespace });
    expect(mine?.spec.containers.map((c) => c.name)).toEqual(['app']);
  });

  it('reports syncloop health', async () => {
    expect((await get('/healthz')).body).toBe('ok');
    plegOk = false;
    expect(await get('/healthz/syncloop')).toMatchObject({
      status: 500,
      body: 'internal server error: pleg was last seen active 3m5s ago; threshold is 3m0s\n',
    });
    plegOk = true;
  });
});
