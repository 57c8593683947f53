/**
 * Server-side printing: the `meta.k8s.io/v1` Table that kube-apiserver returns when
 * a client (kubectl get) asks for `application/json;as=Table;v=v1;g=meta.k8s.io`.
 * Columns follow pkg/printers/internalversion for the kinds served here.
 */
import { isObject, type Json, type JsonObject } from './patch.js';
import type { ResourceInfo } from './resources.js';

/** One column of a Table. */
interface ColumnDefinition {
  name: string;
  type: 'string' | 'integer' | 'date';
  format: string;
  description: string;
  priority: number;
}

/** Which object a Table row embeds (`includeObject`). */
export type IncludeObject = 'None' | 'Metadata' | 'Object';

function col(
  name: string,
  type: ColumnDefinition['type'],
  priority = 0,
  format = '',
): ColumnDefinition {
  return { name, type, format, description: name, priority };
}

/**
 * `duration.HumanDuration` of k8s.io/apimachinery: `45s`, `5m3s`, `3h`, `2d5h`, `1y30d`.
 */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < -1) return '<invalid>';
  if (s < 0) return '0s';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (h < 192) return h % 24 === 0 ? `${Math.floor(h / 24)}d` : `${Math.floor(h / 24)}d${h % 24}h`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24)}d`;
  const y = Math.floor(h / (24 * 365));
  if (y < 8) {
    const dy = Math.floor(h / 24) % 365;
    return dy === 0 ? `${y}y` : `${y}y${dy}d`;
  }
  return `${y}y`;
}

function obj(v: Json | undefined): JsonObject {
  return isObject(v) ? v : {};
}

function arr(v: Json | undefined): Json[] {
  return Array.isArray(v) ? v : [];
}

function s(v: Json | undefined, fallback = ''): string {
  return typeof v === 'string' ? v : fallback;
}

function age(o: JsonObject, now: number): string {
  const ts = s(obj(o.metadata).creationTimestamp);
  return ts === '' ? '<unknown>' : humanDuration(now - Date.parse(ts));
}

function podRow(pod: JsonObject, now: number): Json[] {
  const spec = obj(pod.spec);
  const status = obj(pod.status);
  const statuses = arr(status.containerStatuses).map(obj);
  const total = arr(spec.containers).length;
  const ready = statuses.filter((c) => c.ready === true).length;
  let restarts = 0;
  let reason = s(status.reason, s(status.phase, 'Unknown'));
  for (const c of statuses) {
    restarts += typeof c.restartCount === 'number' ? c.restartCount : 0;
    const state = obj(c.state);
    const waiting = s(obj(state.waiting).reason);
    const terminated = obj(state.terminated);
    if (waiting !== '') reason = waiting;
    else if (isObject(state.terminated)) {
      reason =
        s(terminated.reason) !== ''
          ? s(terminated.reason)
          : `ExitCode:${typeof terminated.exitCode === 'number' ? terminated.exitCode : 0}`;
    }
  }
  if (obj(pod.metadata).deletionTimestamp !== undefined) reason = 'Terminating';
  return [
    s(obj(pod.metadata).name),
    `${ready}/${total}`,
    reason,
    String(restarts),
    age(pod, now),
    s(status.podIP, '<none>'),
    s(spec.nodeName, '<none>'),
    s(status.nominatedNodeName, '<none>'),
    '<none>',
  ];
}

function nodeRow(node: JsonObject, now: number): Json[] {
  const labels = obj(obj(node.metadata).labels);
  const status = obj(node.status);
  const ready = arr(status.conditions)
    .map(obj)
    .find((c) => c.type === 'Ready');
  let state =
    ready === undefined
      ? 'Unknown'
      : ready.status === 'True'
        ? 'Ready'
        : ready.status === 'False'
          ? 'NotReady'
          : 'Unknown';
  if (obj(node.spec).unschedulable === true) state += ',SchedulingDisabled';
  const roles = Object.keys(labels)
    .filter((k) => k.startsWith('node-role.kubernetes.io/'))
    .map((k) => k.slice('node-role.kubernetes.io/'.length))
    .filter((r) => r !== '');
  const addr = (type: string): string =>
    s(
      arr(status.addresses)
        .map(obj)
        .find((a) => a.type === type)?.address,
      '<none>',
    );
  const info = obj(status.nodeInfo);
  return [
    s(obj(node.metadata).name),
    state,
    roles.length === 0 ? '<none>' : roles.sort().join(','),
    age(node, now),
    s(info.kubeletVersion),
    addr('InternalIP'),
    addr('ExternalIP'),
    s(info.osImage, '<unknown>'),
    s(info.kernelVersion, '<unknown>'),
    s(info.containerRuntimeVersion, '<unknown>'),
  ];
}

function eventRow(ev: JsonObject, now: number): Json[] {
  const io = obj(ev.involvedObject);
  const last = s(ev.lastTimestamp, s(ev.eventTime, s(obj(ev.metadata).creationTimestamp)));
  return [
    last === '' ? '<unknown>' : humanDuration(now - Date.parse(last)),
    s(ev.type),
    s(ev.reason),
    `${s(io.kind).toLowerCase()}/${s(io.name)}`,
    s(ev.message),
  ];
}

/** `printCertificateSigningRequest`: the condition column is Denied/Approved/Pending, then `,Failed`, `,Issued`. */
function csrRow(csr: JsonObject, now: number): Json[] {
  const spec = obj(csr.spec);
  const status = obj(csr.status);
  const types = arr(status.conditions)
    .map(obj)
    .filter((c) => c.status === 'True')
    .map((c) => s(c.type));
  let condition = types.includes('Denied')
    ? 'Denied'
    : types.includes('Approved')
      ? 'Approved'
      : 'Pending';
  if (types.includes('Failed')) condition += ',Failed';
  if (s(status.certificate) !== '') condition += ',Issued';
  const exp = spec.expirationSeconds;
  return [
    s(obj(csr.metadata).name),
    age(csr, now),
    s(spec.signerName),
    s(spec.username),
    typeof exp === 'number' ? humanDuration(exp * 1000) : '<none>',
    condition,
  ];
}

interface Printer {
  columns: ColumnDefinition[];
  row(o: JsonObject, now: number): Json[];
}

function printerFor(r: ResourceInfo): Printer {
  const name = col('Name', 'string', 0, 'name');
  const ageCol = col('Age', 'string');
  switch (r.plural) {
    case 'pods':
      return {
        columns: [
          name,
          col('Ready', 'string'),
          col('Status', 'string'),
          col('Restarts', 'string'),
          ageCol,
          col('IP', 'string', 1),
          col('Node', 'string', 1),
          col('Nominated Node', 'string', 1),
          col('Readiness Gates', 'string', 1),
        ],
        row: podRow,
      };
    case 'nodes':
      return {
        columns: [
          name,
          col('Status', 'string'),
          col('Roles', 'string'),
          ageCol,
          col('Version', 'string'),
          col('Internal-IP', 'string', 1),
          col('External-IP', 'string', 1),
          col('OS-Image', 'string', 1),
          col('Kernel-Version', 'string', 1),
          col('Container-Runtime', 'string', 1),
        ],
        row: nodeRow,
      };
    case 'events':
      return {
        columns: [
          col('Last Seen', 'string'),
          col('Type', 'string'),
          col('Reason', 'string'),
          col('Object', 'string'),
          col('Message', 'string'),
        ],
        row: eventRow,
      };
    case 'namespaces':
      return {
        columns: [name, col('Status', 'string'), ageCol],
        row: (o, now) => [s(obj(o.metadata).name), s(obj(o.status).phase), age(o, now)],
      };
    case 'configmaps':
      return {
        columns: [name, col('Data', 'integer'), ageCol],
        row: (o, now) => [
          s(obj(o.metadata).name),
          Object.keys(obj(o.data)).length + Object.keys(obj(o.binaryData)).length,
          age(o, now),
        ],
      };
    case 'secrets':
      return {
        columns: [name, col('Type', 'string'), col('Data', 'integer'), ageCol],
        row: (o, now) => [
          s(obj(o.metadata).name),
          s(o.type),
          Object.keys(obj(o.data)).length,
          age(o, now),
        ],
      };
    case 'leases':
      return {
        columns: [name, col('Holder', 'string'), ageCol],
        row: (o, now) => [s(obj(o.metadata).name), s(obj(o.spec).holderIdentity), age(o, now)],
      };
    case 'certificatesigningrequests':
      return {
        columns: [
          name,
          ageCol,
          col('SignerName', 'string'),
          col('Requestor', 'string'),
          col('RequestedDuration', 'string'),
          col('Condition', 'string'),
        ],
        row: csrRow,
      };
    default:
      return { columns: [name, ageCol], row: (o, now) => [s(obj(o.metadata).name), age(o, now)] };
  }
}

/** Whether an `Accept` header asks for a `meta.k8s.io/v1` Table (v1beta1 is answered with v1 too). */
export function wantsTable(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  return accept.split(',').some((part) => {
    const params = part.split(';').map((p) => p.trim());
    return params.includes('as=Table') && params.includes('g=meta.k8s.io');
  });
}

/**
 * Renders objects as a Table. `now` (epoch ms) computes the Age columns; each row
 * embeds the object as PartialObjectMetadata (default), the whole object, or nothing.
 */
export function toTable(
  r: ResourceInfo,
  objects: readonly JsonObject[],
  listMeta: JsonObject,
  now: number,
  include: IncludeObject,
): JsonObject {
  const p = printerFor(r);
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: p.columns.map((c) => ({ ...c })),
    rows: objects.map((o) => {
      const row: JsonObject = { cells: p.row(o, now) };
      if (include === 'Object') row.object = o;
      else if (include === 'Metadata') {
        row.object = {
          kind: 'PartialObjectMetadata',
          apiVersion: 'meta.k8s.io/v1',
          metadata: obj(o.metadata),
        };
      }
      return row;
    }),
  };
}
