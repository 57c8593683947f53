/**
 * Certificate benchmark (not run in CI), against the in-process testkit API server
 * (TLS, loopback, auto CSR signing):
 *  1. API requests authenticated with the bootstrapped kubeconfig, whose certificate
 *     and key are files (`kubelet-client-current.pem`, read again on every request, so
 *     a rotation is picked up without a restart), against the bare baseline of the
 *     same certificate embedded in the kubeconfig;
 *  2. a whole rotation (`CertificateManager.rotate()`: key, CSR, watch, store, symlink
 *     swap) against the bare baseline of creating the same CSR and reading it back
 *     until it carries the certificate.
 * Prints medians/p99 and ratios and writes /work/main/.bench-results/kube-client-certificates.json.
 *
 *   cd packages/kube-client && npx tsx bench/certificate.bench.ts
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { RealClock } from '@nodeagent/core';
import { createCertificateSigningRequest, startTestApiServer } from '@nodeagent/testkit';
import { bootstrapClientCertificate } from '../src/certificate-bootstrap.js';
import { CertificateManager } from '../src/certificate-manager.js';
import { createKubeApi, loadKubeConfig } from '../src/kube-api.js';

const requests = 300;
const rotations = 30;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}
function summary(values: number[]): { median: number; p99: number } {
  const s = [...values].sort((a, b) => a - b);
  return { median: quantile(s, 0.5), p99: quantile(s, 0.99) };
}
async function time(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function main(): Promise<void> {
  const clock = new RealClock();
  const dir = mkdtempSync(join(tmpdir(), 'nodeagent-cert-bench-'));
  const server = await startTestApiServer({
    tls: true,
    csrSigning: 'auto',
    tokens: {
      'abcdef.0123456789abcdef': {
        name: 'system:bootstrap:abcdef',
        groups: ['system:bootstrappers'],
      },
    },
  });
  try {
    writeFileSync(
      join(dir, 'bootstrap.kubeconfig'),
      server.kubeconfig({ token: 'abcdef.0123456789abcdef' }),
    );
    await bootstrapClientCertificate({
      kubeconfigPath: join(dir, 'kubelet.conf'),
      bootstrapKubeconfigPath: join(dir, 'bootstrap.kubeconfig'),
      certDir: join(dir, 'pki'),
      nodeName: 'bench',
      clock,
    });
    const fileApi = createKubeApi(loadKubeConfig({ kubeconfigPath: join(dir, 'kubelet.conf') }), {
      clock,
      qps: 0,
    });
    const pem = readFileSync(join(dir, 'pki', 'kubelet-client-current.pem'), 'utf8');
    const embedded = new KubeConfig();
    embedded.loadFromString(server.kubeconfig({ certPem: pem, keyPem: pem }));
    const embeddedApi = createKubeApi(embedded, { clock, qps: 0 });
    for (let i = 0; i < 20; i++) {
      await fileApi.core.listNode();
      await embeddedApi.core.listNode();
    }
    const fileTimes: number[] = [];
    const embeddedTimes: number[] = [];
    for (let i = 0; i < requests; i++) {
      embeddedTimes.push(await time(() => embeddedApi.core.listNode()));
      fileTimes.push(await time(() => fileApi.core.listNode()));
    }
    const manager = new CertificateManager({
      kind: 'client',
      nodeName: 'bench',
      certDir: join(dir, 'pki'),
      api: fileApi,
      clock,
    });
    const rotateTimes: number[] = [];
    const bareTimes: number[] = [];
    for (let i = 0; i < rotations; i++) {
      bareTimes.push(
        await time(async () => {
          const { csrPem } = createCertificateSigningRequest({
            commonName: 'system:node:bench',
            organizations: ['system:nodes'],
          });
          const created = await embeddedApi.certificates.createCertificateSigningRequest({
            body: {
              metadata: { generateName: 'csr-' },
              spec: {
                request: Buffer.from(csrPem).toString('base64'),
                signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
                usages: ['digital signature', 'client auth'],
              },
            },
          });
          for (;;) {
            const csr = await embeddedApi.certificates.readCertificateSigningRequest({
              name: created.metadata?.name ?? '',
            });
            if (csr.status?.certificate) break;
          }
        }),
      );
      rotateTimes.push(await time(() => manager.rotate()));
    }
    await manager.stop();
    const file = summary(fileTimes);
    const bare = summary(embeddedTimes);
    const rot = summary(rotateTimes);
    const base = summary(bareTimes);
    const result = {
      requests,
      rotations,
      embeddedCredentialsRequestMs: bare,
      fileCredentialsRequestMs: file,
      requestMedianRatio: file.median / bare.median,
      bareCsrRoundTripMs: base,
      managerRotationMs: rot,
      rotationMedianRatio: rot.median / base.median,
    };
    console.log(
      `listNode, cert embedded (baseline): median ${bare.median.toFixed(3)} ms, p99 ${bare.p99.toFixed(3)} ms`,
    );
    console.log(
      `listNode, cert from kubelet-client-current.pem: median ${file.median.toFixed(3)} ms, p99 ${file.p99.toFixed(3)} ms, ratio ${result.requestMedianRatio.toFixed(2)}x`,
    );
    console.log(
      `bare CSR create + poll (baseline): median ${base.median.toFixed(2)} ms, p99 ${base.p99.toFixed(2)} ms`,
    );
    console.log(
      `CertificateManager.rotate(): median ${rot.median.toFixed(2)} ms, p99 ${rot.p99.toFixed(2)} ms, ratio ${result.rotationMedianRatio.toFixed(2)}x`,
    );
    const out = resolve(
      dirname(fileURLToPath(import.meta.url)),
      '../../../.bench-results/kube-client-certificates.json',
    );
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
