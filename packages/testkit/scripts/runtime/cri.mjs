#!/usr/bin/env node
// A tiny CRI v1 client for checking the harness by hand and from scripts (the
// crictl of this repo; Debian has no cri-tools). gRPC over node:http2 on a unix
// socket, messages from proto/cri/runtime/v1/api.proto through protobufjs.
//
// usage: node scripts/runtime/cri.mjs [--endpoint unix:///path] [--timeout MS] METHOD [JSON]
//        node scripts/runtime/cri.mjs [--endpoint ...] teardown-all
//        node scripts/runtime/cri.mjs [--endpoint ...] wait-ready [--timeout MS]
//
//   METHOD  any RuntimeService/ImageService rpc name, e.g. Version, RunPodSandbox,
//           ListPodSandboxStats; JSON is the request in protobufjs camelCase form
//           ('-' reads it from stdin). Enums may be given by name ("NODE").
//   Unary calls print the response as one JSON object. Server-streaming calls
//   (GetContainerEvents, ...) print one JSON line per message and end after
//   --timeout ms (default 2000 for streams) with exit 0.
//   teardown-all  stops and removes every pod sandbox and container.
//   wait-ready    polls Status until RuntimeReady and NetworkReady are true.
//
// --endpoint defaults to $NODEAGENT_CRI_ENDPOINT. Exit codes: 0 ok, 1 gRPC error
// (stderr: "grpc error CODE_NAME (n): message"), 2 usage/setup error.
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';

const here = path.dirname(fileURLToPath(import.meta.url));
// The CRI proto lives at the monorepo root (packages/testkit/scripts/runtime → ../../../..).
// Outside the monorepo it is not there: down.sh then falls back to ctr.
const repoRoot = path.resolve(here, '../../../..');
const require = createRequire(import.meta.url);

const CODES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

class GrpcError extends Error {
  constructor(code, message) {
    super(`grpc error ${CODES[code] ?? code} (${code}): ${message}`);
    this.code = code;
    this.details = message;
  }
}

function fail(msg) {
  process.stderr.write(`cri.mjs: ${msg}\n`);
  process.exit(2);
}

let protobuf;
try {
  protobuf = require('protobufjs');
} catch {
  fail(`protobufjs is not installed (run 'npm ci' in ${repoRoot})`);
}
const root = new protobuf.Root();
root.loadSync(path.join(repoRoot, 'proto/cri/runtime/v1/api.proto'), { keepCase: false });
root.resolveAll();
const services = ['RuntimeService', 'ImageService'].map((n) =>
  root.lookupService(`runtime.v1.${n}`),
);

function findMethod(name) {
  for (const svc of services) {
    for (const [mname, m] of Object.entries(svc.methods)) {
      if (mname.toLowerCase() === name.toLowerCase())
        return { svc, m, path: `/runtime.v1.${svc.name}/${mname}` };
    }
  }
  return null;
}

function jsonReplacer(_k, v) {
  if (v && v.type === 'Buffer' && Array.isArray(v.data))
    return Buffer.from(v.data).toString('utf8');
  return v;
}

export class CriClient {
  constructor(endpoint) {
    const sock = endpoint.replace(/^unix:\/\//, '');
    this.session = http2.connect('http://localhost', { createConnection: () => net.connect(sock) });
    this.session.on('error', () => {});
  }

  close() {
    this.session.close();
  }

  /** call(method, request, {timeoutMs, onMessage}) -> array of decoded responses */
  call(name, request = {}, { timeoutMs = 30000, onMessage } = {}) {
    const found = findMethod(name);
    if (!found) throw new Error(`no CRI method named ${name}`);
    const { m, path: rpcPath } = found;
    const reqType = m.resolvedRequestType;
    const resType = m.resolvedResponseType;
    const body = Buffer.from(reqType.encode(reqType.fromObject(request)).finish());
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    const streaming = !!m.responseStream;
    return new Promise((resolve, reject) => {
      const out = [];
      let buf = Buffer.alloc(0);
      let status = null;
      let message = '';
      let timedOut = false;
      const req = this.session.request({
        ':method': 'POST',
        ':path': rpcPath,
        'content-type': 'application/grpc',
        te: 'trailers',
        ...(streaming ? {} : { 'grpc-timeout': `${Math.max(1, Math.ceil(timeoutMs))}m` }),
      });
      const timer = setTimeout(
        () => {
          timedOut = true;
          req.close(http2.constants.NGHTTP2_CANCEL);
        },
        timeoutMs + (streaming ? 0 : 1000),
      );
      const takeStatus = (h) => {
        if (h['grpc-status'] !== undefined) {
          status = Number(h['grpc-status']);
          message = decodeURIComponent(String(h['grpc-message'] ?? ''));
        }
      };
      req.on('response', takeStatus);
      req.on('trailers', takeStatus);
      req.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 5) {
          const len = buf.readUInt32BE(1);
          if (buf.length < 5 + len) break;
          const msg = resType.toObject(resType.decode(buf.subarray(5, 5 + len)), {
            longs: Number,
            enums: String,
            bytes: Buffer,
            defaults: true,
            arrays: true,
            objects: true,
          });
          buf = buf.subarray(5 + len);
          out.push(msg);
          if (onMessage) onMessage(msg);
        }
      });
      req.on('error', (e) => {
        if (!timedOut) {
          clearTimeout(timer);
          reject(e);
        }
      });
      req.on('close', () => {
        clearTimeout(timer);
        if (timedOut) {
          if (streaming) resolve(out);
          else reject(new GrpcError(4, `client timeout after ${timeoutMs} ms`));
        } else if (status === 0) resolve(out);
        else if (status === null) reject(new GrpcError(14, 'stream closed without grpc-status'));
        else reject(new GrpcError(status, message));
      });
      req.end(frame);
    });
  }

  async unary(name, request, opts) {
    const [res] = await this.call(name, request, opts);
    return res;
  }
}

async function teardownAll(c, timeoutMs) {
  const { items: pods } = await c.unary('ListPodSandbox', {}, { timeoutMs });
  for (const p of pods) {
    try {
      await c.unary('StopPodSandbox', { podSandboxId: p.id }, { timeoutMs });
    } catch (e) {
      process.stderr.write(`StopPodSandbox ${p.id}: ${e.message}\n`);
    }
    await c.unary('RemovePodSandbox', { podSandboxId: p.id }, { timeoutMs });
  }
  const { containers } = await c.unary('ListContainers', {}, { timeoutMs });
  for (const ctr of containers) {
    await c.unary('RemoveContainer', { containerId: ctr.id }, { timeoutMs });
  }
  return { removedPodSandboxes: pods.length, removedContainers: containers.length };
}

async function waitReady(c, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await c.unary('Status', {}, { timeoutMs: 2000 });
      const conds = Object.fromEntries(
        (last.status?.conditions ?? []).map((x) => [x.type, x.status]),
      );
      if (conds.RuntimeReady && conds.NetworkReady) return last;
    } catch (e) {
      last = { error: e.message };
    }
    if (Date.now() > deadline)
      throw new Error(`runtime not ready after ${timeoutMs} ms: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main(argv) {
  let endpoint = process.env.NODEAGENT_CRI_ENDPOINT;
  let timeoutMs;
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--endpoint') endpoint = argv[++i];
    else if (argv[i] === '--timeout') timeoutMs = Number(argv[++i]);
    else rest.push(argv[i]);
  }
  const [method, json] = rest;
  if (!method)
    fail(
      'usage: cri.mjs [--endpoint unix:///path] [--timeout MS] METHOD [JSON] | teardown-all | wait-ready',
    );
  if (!endpoint) fail('no --endpoint and no NODEAGENT_CRI_ENDPOINT');
  const c = new CriClient(endpoint);
  try {
    if (method === 'teardown-all') {
      console.log(JSON.stringify(await teardownAll(c, timeoutMs ?? 60000)));
      return 0;
    }
    if (method === 'wait-ready') {
      console.log(JSON.stringify(await waitReady(c, timeoutMs ?? 30000)));
      return 0;
    }
    const found = findMethod(method);
    if (!found) fail(`unknown CRI method ${method}`);
    const text = json === '-' ? readFileSync(0, 'utf8') : json;
    const request = text ? JSON.parse(text) : {};
    if (found.m.responseStream) {
      await c.call(method, request, {
        timeoutMs: timeoutMs ?? 2000,
        onMessage: (m) => console.log(JSON.stringify(m, jsonReplacer)),
      });
    } else {
      const res = await c.unary(method, request, { timeoutMs: timeoutMs ?? 60000 });
      console.log(JSON.stringify(res, jsonReplacer, 2));
    }
    return 0;
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    return e instanceof GrpcError ? 1 : 2;
  } finally {
    c.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
