import { PodAnnotation } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import { decodeStaticPods, MAX_CONFIG_LENGTH, type DecodeOptions } from './decode.js';

const fileOrigin: DecodeOptions = {
  origin: { kind: 'file', path: '/etc/kubernetes/manifests/web.yaml' },
  nodeName: 'Node-1',
};

const GOOD_YAML = `
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
spec:
  containers:
    - name: nginx
      image: nginx:1.27
      ports:
        - containerPort: 80
          name: http
      resources:
        requests: { cpu: 100m, memory: 64Mi }
        limits: { cpu: 1, memory: 128Mi }
      livenessProbe:
        httpGet: { path: /healthz, port: http }
`;

function podYaml(container: string, extraSpec = ''): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
${extraSpec}  containers:
${container}`;
}

function reasonOf(data: string, options: DecodeOptions = fileOrigin): string {
  const result = decodeStaticPods(data, options);
  if (result.ok) throw new Error('expected the manifest to be rejected');
  return result.reason;
}

describe('decodeStaticPods', () => {
  it('decodes a YAML pod and gives it the static identity', () => {
    const result = decodeStaticPods(GOOD_YAML, fileOrigin);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const [pod] = result.pods;
    expect(pod?.metadata.name).toBe('web-node-1');
    expect(pod?.metadata.namespace).toBe('default');
    expect(pod?.spec.nodeName).toBe('Node-1');
    expect(pod?.metadata.uid).toMatch(/^[0-9a-f]{32}$/);
    expect(pod?.metadata.annotations?.[PodAnnotation.ConfigHash]).toBe(pod?.metadata.uid);
    expect(pod?.metadata.annotations?.[PodAnnotation.ConfigSource]).toBe('file');
    expect(pod?.spec.tolerations).toEqual([{ operator: 'Exists', effect: 'NoExecute' }]);
    expect(pod?.status).toEqual({ phase: 'Pending' });
    // YAML numbers become quantity strings.
    expect(pod?.spec.containers[0]?.resources?.limits?.['cpu']).toBe('1');
  });

  it('decodes JSON the same as the equivalent YAML', () => {
    const json = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', labels: { app: 'web' } },
      spec: {
        containers: [
          {
            name: 'nginx',
            image: 'nginx:1.27',
            ports: [{ containerPort: 80, name: 'http' }],
            resources: {
              requests: { cpu: '100m', memory: '64Mi' },
              limits: { cpu: '1', memory: '128Mi' },
            },
            livenessProbe: { httpGet: { path: '/healthz', port: 'http' } },
          },
        ],
      },
    });
    const a = decodeStaticPods(GOOD_YAML, fileOrigin);
    const b = decodeStaticPods(json, fileOrigin);
    expect(a.ok && b.ok).toBe(true);
    if (a.ok && b.ok) expect(b.pods[0]?.metadata.uid).toBe(a.pods[0]?.metadata.uid);
  });

  it('keeps a UID given in the manifest', () => {
    const result = decodeStaticPods(
      `apiVersion: v1\nkind: Pod\nmetadata: { name: a, uid: my-uid, namespace: kube-system }\nspec: { containers: [{ name: c, image: busybox }] }\n`,
      fileOrigin,
    );
    expect(result.ok && result.pods[0]?.metadata.uid).toBe('my-uid');
    expect(result.ok && result.pods[0]?.metadata.namespace).toBe('kube-system');
    expect(result.ok && result.pods[0]?.metadata.annotations?.[PodAnnotation.ConfigHash]).toBe(
      'my-uid',
    );
  });

  it('rejects invalid YAML with the parser message', () => {
    expect(reasonOf('apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n')).toMatch(
      /^invalid YAML or JSON: /,
    );
    expect(reasonOf('{"apiVersion": "v1", "kind": "Pod",')).toMatch(/^invalid YAML or JSON: /);
  });

  it('rejects several YAML documents in one file', () => {
    expect(reasonOf(`${GOOD_YAML}\n---\n${GOOD_YAML}`)).toMatch(/^invalid YAML or JSON: /);
  });

  it('rejects empty files and non-objects', () => {
    expect(reasonOf('')).toBe('manifest is empty');
    expect(reasonOf('   \n# only a comment\n')).toMatch(/not a Kubernetes object|empty/);
    expect(reasonOf('- a\n- b\n')).toMatch(/^not a Kubernetes object/);
    expect(reasonOf('just a string')).toMatch(/^not a Kubernetes object/);
  });

  it('rejects objects that are not a v1 Pod', () => {
    expect(reasonOf('apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {}\n')).toBe(
      'not a v1 Pod (kind is "Deployment", apiVersion is "apps/v1")',
    );
    expect(reasonOf('apiVersion: v2\nkind: Pod\nmetadata: {name: x}\n')).toBe(
      'not a v1 Pod (kind is "Pod", apiVersion is "v2")',
    );
    expect(reasonOf('metadata: {name: x}\nspec: {containers: []}\n')).toBe(
      'not a v1 Pod (kind is missing, apiVersion is missing)',
    );
    // A PodList is only accepted from the manifest URL.
    expect(reasonOf('apiVersion: v1\nkind: PodList\nitems: []\n')).toMatch(/^not a v1 Pod/);
  });

  it('rejects manifests larger than 10 MiB', () => {
    const huge = `${GOOD_YAML}\n# ${'x'.repeat(MAX_CONFIG_LENGTH)}\n`;
    expect(reasonOf(huge)).toMatch(/larger than the limit of 10485760 bytes/);
  });

  it('reports a missing name, missing containers, empty image with their field paths', () => {
    expect(
      reasonOf(
        'apiVersion: v1\nkind: Pod\nmetadata: {}\nspec: {containers: [{name: c, image: i}]}\n',
      ),
    ).toBe('invalid pod: metadata.name: Required');
    expect(
      reasonOf('apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: []}\n'),
    ).toBe('invalid pod: spec.containers: Required');
    expect(reasonOf('apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {}\n')).toBe(
      'invalid pod: spec.containers: Required',
    );
    expect(reasonOf(podYaml('    - name: c\n'))).toBe(
      'invalid pod: spec.containers[0].image: Required',
    );
    expect(reasonOf(podYaml('    - name: c\n      image: ""\n'))).toBe(
      'invalid pod: spec.containers[0].image: Required',
    );
    expect(reasonOf(podYaml('    - name: c\n      image: " busybox"\n'))).toBe(
      'invalid pod: spec.containers[0].image: must not have leading or trailing whitespace',
    );
    expect(reasonOf('apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n')).toBe(
      'invalid pod: spec: Required',
    );
  });

  it('rejects invalid and duplicate container names', () => {
    expect(reasonOf(podYaml('    - name: Web_1\n      image: i\n'))).toMatch(
      /^invalid pod: spec\.containers\[0\]\.name: a lowercase RFC 1123 label/,
    );
    expect(reasonOf(podYaml(`    - name: ${'a'.repeat(64)}\n      image: i\n`))).toMatch(
      /spec\.containers\[0\]\.name: must be no more than 63 characters/,
    );
    expect(reasonOf(podYaml('    - {name: c, image: i}\n    - {name: c, image: i}\n'))).toBe(
      'invalid pod: spec.containers[1].name: Duplicate value: "c"',
    );
    expect(
      reasonOf(
        podYaml('    - {name: c, image: i}\n', '  initContainers:\n    - {name: c, image: i}\n'),
      ),
    ).toBe('invalid pod: spec.containers[0].name: Duplicate value: "c"');
  });

  it('refuses ephemeral containers in a manifest (ValidatePodCreate: only added to a running pod)', () => {
    expect(
      reasonOf(
        podYaml(
          '    - {name: c, image: i}\n',
          '  ephemeralContainers:\n    - {name: debugger, image: i}\n',
        ),
      ),
    ).toBe('invalid pod: spec.ephemeralContainers: Forbidden: cannot be set on create');
    expect(
      decodeStaticPods(
        podYaml('    - {name: c, image: i}\n', '  ephemeralContainers: []\n'),
        fileOrigin,
      ).ok,
    ).toBe(true);
  });

  it('rejects invalid pod names, including the generated one', () => {
    expect(
      reasonOf(
        'apiVersion: v1\nkind: Pod\nmetadata: {name: My_Pod}\nspec: {containers: [{name: c, image: i}]}\n',
      ),
    ).toMatch(/^invalid pod: metadata\.name: a lowercase RFC 1123 subdomain/);
    expect(
      reasonOf(
        `apiVersion: v1\nkind: Pod\nmetadata: {name: ${'a'.repeat(250)}}\nspec: {containers: [{name: c, image: i}]}\n`,
      ),
    ).toMatch(/metadata\.name: static pod name .* must be no more than 253 characters/);
  });

  it('rejects invalid restart policies', () => {
    expect(
      reasonOf(podYaml('    - {name: c, image: i}\n', '  restartPolicy: Sometimes\n')),
    ).toMatch(
      /^invalid pod: spec\.restartPolicy: Invalid enum value\. Expected 'Always' \| 'OnFailure' \| 'Never', received 'Sometimes'/,
    );
    expect(reasonOf(podYaml('    - {name: c, image: i, restartPolicy: Always}\n'))).toBe(
      'invalid pod: spec.containers[0].restartPolicy: may not be set for non-init containers',
    );
  });

  it('rejects invalid port numbers, protocols and names', () => {
    expect(
      reasonOf(podYaml('    - name: c\n      image: i\n      ports: [{containerPort: 0}]\n')),
    ).toBe(
      'invalid pod: spec.containers[0].ports[0].containerPort: must be between 1 and 65535, inclusive',
    );
    expect(
      reasonOf(podYaml('    - name: c\n      image: i\n      ports: [{containerPort: 70000}]\n')),
    ).toBe(
      'invalid pod: spec.containers[0].ports[0].containerPort: must be between 1 and 65535, inclusive',
    );
    expect(
      reasonOf(podYaml('    - name: c\n      image: i\n      ports: [{containerPort: "80"}]\n')),
    ).toBe(
      'invalid pod: spec.containers[0].ports[0].containerPort: Expected number, received string',
    );
    expect(
      reasonOf(
        podYaml(
          '    - name: c\n      image: i\n      ports: [{containerPort: 80, protocol: HTTP}]\n',
        ),
      ),
    ).toMatch(/^invalid pod: spec\.containers\[0\]\.ports\[0\]\.protocol: Invalid enum value/);
    expect(
      reasonOf(
        podYaml(
          '    - name: c\n      image: i\n      ports: [{containerPort: 80, name: "8080"}]\n',
        ),
      ),
    ).toBe('invalid pod: spec.containers[0].ports[0].name: must contain at least one letter (a-z)');
    expect(
      reasonOf(
        podYaml(
          '    - name: c\n      image: i\n      ports: [{containerPort: 80, hostPort: 81}]\n',
          '  hostNetwork: true\n',
        ),
      ),
    ).toBe(
      'invalid pod: spec.containers[0].ports[0].hostPort: must match `containerPort` when `hostNetwork` is true',
    );
  });

  it('rejects probes with no handler, several handlers or bad fields', () => {
    expect(
      reasonOf(podYaml('    - name: c\n      image: i\n      livenessProbe: {periodSeconds: 5}\n')),
    ).toBe('invalid pod: spec.containers[0].livenessProbe: must specify a handler type');
    expect(
      reasonOf(
        podYaml(
          '    - name: c\n      image: i\n      readinessProbe: {exec: {command: ["true"]}, tcpSocket: {port: 80}}\n',
        ),
      ),
    ).toBe(
      'invalid pod: spec.containers[0].readinessProbe.tcpSocket: may not specify more than 1 handler type',
    );
    expect(
      reasonOf(
        podYaml(
          '    - name: c\n      image: i\n      livenessProbe: {tcpSocket: {port: 80}, successThreshold: 2}\n',
        ),
      ),
    ).toBe('invalid pod: spec.containers[0].livenessProbe.successThreshold: must be 1');
    expect(
      reasonOf(
        podYaml('    - name: c\n      image: i\n      startupProbe: {httpGet: {port: 0}}\n'),
      ),
    ).toBe(
      'invalid pod: spec.containers[0].startupProbe.httpGet.port: must be between 1 and 65535, inclusive',
    );
    expect(
      reasonOf(
        podYaml(
          '    - name: c\n      image: i\n      livenessProbe: {grpc: {port: 80}, periodSeconds: -1}\n',
        ),
      ),
    ).toBe(
      'invalid pod: spec.containers[0].livenessProbe.periodSeconds: Number must be greater than or equal to 0',
    );
    expect(
      reasonOf(
        podYaml(
          '    - {name: c, image: i}\n',
          '  initContainers:\n    - {name: init, image: i, readinessProbe: {tcpSocket: {port: 1}}}\n',
        ),
      ),
    ).toBe(
      'invalid pod: spec.initContainers[0].readinessProbe: may not be set for init containers without restartPolicy=Always',
    );
    expect(
      reasonOf(podYaml('    - name: c\n      image: i\n      lifecycle: {preStop: {}}\n')),
    ).toBe('invalid pod: spec.containers[0].lifecycle.preStop: must specify a handler type');
  });

  it('accepts a sidecar (restartable init container) with probes', () => {
    const result = decodeStaticPods(
      podYaml(
        '    - {name: c, image: i}\n',
        '  initContainers:\n    - {name: side, image: i, restartPolicy: Always, readinessProbe: {tcpSocket: {port: 1}}}\n',
      ),
      fileOrigin,
    );
    expect(result.ok).toBe(true);
  });

  it('rejects invalid resource quantities and requests above limits', () => {
    expect(
      reasonOf(
        podYaml('    - name: c\n      image: i\n      resources: {limits: {memory: 12 parsecs}}\n'),
      ),
    ).toMatch(
      /^invalid pod: spec\.containers\[0\]\.resources\.limits\.memory: quantities must match/,
    );
    expect(
      reasonOf(podYaml('    - name: c\n      image: i\n      resources: {requests: {cpu: -1}}\n')),
    ).toBe(
      'invalid pod: spec.containers[0].resources.requests.cpu: must be greater than or equal to 0',
    );
    expect(
      reasonOf(
        podYaml(
          '    - name: c\n      image: i\n      resources: {requests: {memory: 1Gi}, limits: {memory: 512Mi}}\n',
        ),
      ),
    ).toBe(
      'invalid pod: spec.containers[0].resources.requests.memory: must be less than or equal to memory limit of 512Mi',
    );
  });

  it('rejects volume mounts of unknown volumes, volumes without a source, API references', () => {
    expect(
      reasonOf(
        podYaml(
          '    - name: c\n      image: i\n      volumeMounts: [{name: data, mountPath: /data}]\n',
        ),
      ),
    ).toBe('invalid pod: spec.containers[0].volumeMounts[0].name: Not found: "data"');
    expect(reasonOf(podYaml('    - {name: c, image: i}\n', '  volumes: [{name: data}]\n'))).toBe(
      'invalid pod: spec.volumes[0]: must specify a volume type',
    );
    expect(
      reasonOf(
        podYaml('    - {name: c, image: i}\n', '  volumes: [{name: s, secret: {secretName: x}}]\n'),
      ),
    ).toBe('invalid pod: spec.volumes[0].secret: static pods may not reference secrets');
    expect(
      reasonOf(
        podYaml(
          '    - name: c\n      image: i\n      env: [{name: A, valueFrom: {configMapKeyRef: {name: m, key: k}}}]\n',
        ),
      ),
    ).toBe(
      'invalid pod: spec.containers[0].env[0].valueFrom.configMapKeyRef: static pods may not reference configmaps',
    );
    expect(reasonOf(podYaml('    - {name: c, image: i}\n', '  serviceAccountName: robot\n'))).toBe(
      'invalid pod: spec.serviceAccountName: static pods may not reference serviceaccounts',
    );
  });

  it('rejects values of the wrong type with the field path', () => {
    expect(reasonOf(podYaml('    - name: c\n      image: i\n      command: echo hi\n'))).toBe(
      'invalid pod: spec.containers[0].command: Expected array, received string',
    );
    expect(
      reasonOf(podYaml('    - name: c\n      image: i\n      env: [{name: FLAG, value: yes}]\n')),
    ).toBe('invalid pod: spec.containers[0].env[0].value: Expected string, received boolean');
    expect(
      reasonOf(
        'apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: {"bad key!": x}}\nspec: {containers: [{name: c, image: i}]}\n',
      ),
    ).toMatch(/^invalid pod: metadata\.labels\[bad key!\]: invalid label key/);
  });

  it('lists every problem of a manifest', () => {
    const reason = reasonOf(podYaml('    - name: C\n    - name: d\n      image: ""\n'));
    expect(reason).toContain('spec.containers[0].name:');
    expect(reason).toContain('spec.containers[0].image: Required');
    expect(reason).toContain('spec.containers[1].image: Required');
  });

  it('adds the NoExecute toleration once, replacing a matching one', () => {
    const result = decodeStaticPods(
      podYaml(
        '    - {name: c, image: i}\n',
        '  tolerations:\n    - {operator: Exists, effect: NoExecute, tolerationSeconds: 30}\n    - {key: k, operator: Equal, value: v, effect: NoSchedule}\n',
      ),
      fileOrigin,
    );
    expect(result.ok && result.pods[0]?.spec.tolerations).toEqual([
      { operator: 'Exists', effect: 'NoExecute' },
      { key: 'k', operator: 'Equal', value: 'v', effect: 'NoSchedule' },
    ]);
  });

  describe('manifest URL bodies', () => {
    const urlOrigin: DecodeOptions = {
      origin: { kind: 'url', url: 'http://127.0.0.1/pods' },
      nodeName: 'node-1',
      allowPodList: true,
    };

    it('accepts a PodList (items without kind) and marks the pods as http, without the toleration', () => {
      const result = decodeStaticPods(
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'PodList',
          items: [
            { metadata: { name: 'a' }, spec: { containers: [{ name: 'c', image: 'i' }] } },
            {
              apiVersion: 'v1',
              kind: 'Pod',
              metadata: { name: 'b' },
              spec: { containers: [{ name: 'c', image: 'i' }] },
            },
          ],
        }),
        urlOrigin,
      );
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      expect(result.pods.map((p) => p.metadata.name)).toEqual(['a-node-1', 'b-node-1']);
      expect(result.pods[0]?.metadata.annotations?.[PodAnnotation.ConfigSource]).toBe('http');
      expect(result.pods[0]?.spec.tolerations).toBeUndefined();
    });

    it('rejects the whole list when one pod is invalid', () => {
      const reason = reasonOf(
        'apiVersion: v1\nkind: PodList\nitems:\n  - {metadata: {name: a}, spec: {containers: [{name: c, image: i}]}}\n  - {metadata: {name: b}, spec: {containers: [{name: c}]}}\n',
        urlOrigin,
      );
      expect(reason).toBe('invalid pod: items[1].spec.containers[0].image: Required');
      expect(
        reasonOf('apiVersion: v1\nkind: PodList\nitems:\n  - {kind: Service}\n', urlOrigin),
      ).toMatch(/^invalid pod list: items\[0\]: not a v1 Pod/);
    });
  });
});
