/**
 * Generates TypeScript from the project's protocol files (CRI, CSI, plugin registration).
 *
 *   npm run proto          write the generated files
 *   npm run proto:check    fail (exit 1) when the committed files are out of date
 *
 * Outputs:
 * - packages/core/src/cri/types.ts: the CRI message and enum types, and a typed
 *   method table per service. Pure types plus enum constants: no runtime dependency,
 *   so `@nodeagent/core` stays free of third-party code.
 * - packages/cri-client/src/generated/descriptor.ts: the protobufjs JSON descriptor
 *   and the gRPC method table that the client builds its codecs from.
 * - packages/csi-node/src/generated/{csi,pluginregistration}-{types,descriptor}.ts:
 *   the same pair for CSI v1 (`csi.v1`, Identity + Node) and the kubelet plugin
 *   registration API (`pluginregistration`).
 * - packages/testkit/src/csi-driver/generated/descriptor.ts: both descriptors again,
 *   for the test CSI driver (testkit cannot depend on csi-node, which tests with it).
 * - Message types from outside the package (google.protobuf wrappers) are emitted
 *   under their full name with `_` separators, e.g. `google_protobuf_BoolValue`.
 *
 * Mapping (it matches how the client decodes: protobufjs `toObject` with
 * `{ longs: Number, enums: String, bytes: Buffer, defaults: true, arrays: true, objects: true }`):
 * - every scalar, repeated and map field is always present on decoded messages;
 *   an absent sub-message decodes as `null`;
 * - 64-bit integers are JS numbers (nanosecond timestamps lose sub-microsecond precision);
 * - enums are their value names as string literals;
 * - `FooInput` is the shape accepted when encoding: every field optional.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** One proto file and the TypeScript generated from it. */
interface Target {
  readonly protoFile: string;
  readonly packageName: string;
  /** Title line of the types file, e.g. `CRI v1 (runtime.v1) message, enum and service types.` */
  readonly typesTitle: string;
  readonly typesOut: string;
  /** Title line of the descriptor files. */
  readonly descriptorTitle: string;
  readonly descriptorOuts: readonly string[];
  /** Exported name of the descriptor constant, and its JSDoc. */
  readonly descriptorConst: string;
  readonly descriptorDoc: string;
  /** Exported name of the method info interface, and its JSDoc. */
  readonly methodInfo: string;
  readonly methodInfoDoc: string;
}

const targets: readonly Target[] = [
  {
    protoFile: join(repoRoot, 'proto/cri/runtime/v1/api.proto'),
    packageName: 'runtime.v1',
    typesTitle: 'CRI v1 (runtime.v1) message, enum and service types.',
    typesOut: join(repoRoot, 'packages/core/src/cri/types.ts'),
    descriptorTitle: 'protobufjs JSON descriptor and gRPC method table for CRI v1.',
    descriptorOuts: [join(repoRoot, 'packages/cri-client/src/generated/descriptor.ts')],
    descriptorConst: 'criDescriptor',
    descriptorDoc: 'The CRI v1 schema, as a protobufjs JSON descriptor (field names in camelCase).',
    methodInfo: 'CriMethodInfo',
    methodInfoDoc: 'One gRPC method of a CRI service.',
  },
  {
    protoFile: join(repoRoot, 'proto/csi/v1/csi.proto'),
    packageName: 'csi.v1',
    typesTitle: 'CSI v1 (csi.v1, Identity + Node) message, enum and service types.',
    typesOut: join(repoRoot, 'packages/csi-node/src/generated/csi-types.ts'),
    descriptorTitle: 'protobufjs JSON descriptor and gRPC method table for CSI v1.',
    descriptorOuts: [
      join(repoRoot, 'packages/csi-node/src/generated/csi-descriptor.ts'),
      join(repoRoot, 'packages/testkit/src/csi-driver/generated/csi-descriptor.ts'),
    ],
    descriptorConst: 'csiDescriptor',
    descriptorDoc: 'The CSI v1 schema, as a protobufjs JSON descriptor (field names in camelCase).',
    methodInfo: 'CsiMethodInfo',
    methodInfoDoc: 'One gRPC method of a CSI service.',
  },
  {
    protoFile: join(repoRoot, 'proto/pluginregistration/v1/api.proto'),
    packageName: 'pluginregistration',
    typesTitle: 'Kubelet plugin registration v1 (pluginregistration) message and service types.',
    typesOut: join(repoRoot, 'packages/csi-node/src/generated/pluginregistration-types.ts'),
    descriptorTitle:
      'protobufjs JSON descriptor and gRPC method table for kubelet plugin registration v1.',
    descriptorOuts: [
      join(repoRoot, 'packages/csi-node/src/generated/pluginregistration-descriptor.ts'),
      join(repoRoot, 'packages/testkit/src/csi-driver/generated/pluginregistration-descriptor.ts'),
    ],
    descriptorConst: 'pluginRegistrationDescriptor',
    descriptorDoc:
      'The plugin registration schema, as a protobufjs JSON descriptor (field names in camelCase).',
    methodInfo: 'PluginRegistrationMethodInfo',
    methodInfoDoc: 'One gRPC method of the plugin registration service.',
  },
  {
    protoFile: join(repoRoot, 'packages/pod-resources/proto/podresources/v1/api.proto'),
    packageName: 'v1',
    typesTitle: 'Kubelet PodResources v1 (v1.PodResourcesLister) message and service types.',
    typesOut: join(repoRoot, 'packages/pod-resources/src/generated/types.ts'),
    descriptorTitle:
      'protobufjs JSON descriptor and gRPC method table for kubelet PodResources v1.',
    descriptorOuts: [join(repoRoot, 'packages/pod-resources/src/generated/descriptor.ts')],
    descriptorConst: 'podResourcesDescriptor',
    descriptorDoc:
      'The PodResources v1 schema, as a protobufjs JSON descriptor (field names in camelCase).',
    methodInfo: 'PodResourcesMethodInfo',
    methodInfoDoc: 'One gRPC method of the PodResourcesLister service.',
  },
];

const header = (target: Target, what: string): string =>
  `// Code generated by scripts/gen-proto.ts from ${relative(repoRoot, target.protoFile)}. DO NOT EDIT.\n` +
  `// ${what}\n` +
  `// Regenerate with \`npm run proto\`; CI runs \`npm run proto:check\`.\n\n`;

function loadRoot(target: Target): protobuf.Root {
  const root = new protobuf.Root();
  root.loadSync(target.protoFile, { keepCase: false, alternateCommentMode: true });
  root.resolveAll();
  return root;
}

function isInside(obj: protobuf.ReflectionObject, pkg: protobuf.Namespace): boolean {
  for (let cur: protobuf.ReflectionObject | null = obj; cur; cur = cur.parent) {
    if (cur === pkg) return true;
  }
  return false;
}

/** Name of a nested type relative to the package, with `_` between nesting levels. */
function localName(obj: protobuf.ReflectionObject, pkg: protobuf.Namespace): string {
  if (!isInside(obj, pkg)) return obj.fullName.replace(/^\./, '').replace(/\./g, '_');
  const parts: string[] = [];
  let cur: protobuf.ReflectionObject | null = obj;
  while (cur && cur !== pkg) {
    parts.unshift(cur.name);
    cur = cur.parent;
  }
  return parts.join('_');
}

function docComment(comment: string | null | undefined, indent = ''): string {
  if (!comment) return '';
  const lines = comment
    .trim()
    .split('\n')
    .map((l) => l.replace(/\*\//g, '*\\/').trimEnd());
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((l) => `${indent} *${l ? ' ' + l : ''}`).join('\n')}\n${indent} */\n`;
}

const numberTypes = new Set([
  'double',
  'float',
  'int32',
  'uint32',
  'sint32',
  'fixed32',
  'sfixed32',
  'int64',
  'uint64',
  'sint64',
  'fixed64',
  'sfixed64',
]);

function scalarType(type: string): string | undefined {
  if (numberTypes.has(type)) return 'number';
  if (type === 'string') return 'string';
  if (type === 'bool') return 'boolean';
  if (type === 'bytes') return 'Uint8Array';
  return undefined;
}

function fieldTypes(
  field: protobuf.Field,
  pkg: protobuf.Namespace,
): { output: string; input: string } {
  const scalar = scalarType(field.type);
  let output: string;
  let input: string;
  let isMessage = false;
  if (scalar) {
    output = scalar;
    // Not string: protobufjs would read a string in a bytes field as base64.
    input = scalar;
  } else {
    const resolved = field.resolvedType;
    if (!resolved) throw new Error(`unresolved type ${field.type} of ${field.fullName}`);
    const name = localName(resolved, pkg);
    if (resolved instanceof protobuf.Enum) {
      output = name;
      input = name;
    } else {
      isMessage = true;
      output = name;
      input = `${name}Input`;
    }
  }
  if (field instanceof protobuf.MapField) {
    return { output: `Record<string, ${output}>`, input: `Record<string, ${input}>` };
  }
  if (field.repeated) {
    const wrap = (t: string) => (t.includes(' ') ? `(${t})[]` : `${t}[]`);
    return { output: wrap(output), input: wrap(input) };
  }
  if (isMessage) return { output: `${output} | null`, input };
  return { output, input };
}

interface Collected {
  types: protobuf.Type[];
  enums: protobuf.Enum[];
  services: protobuf.Service[];
}

function collect(ns: protobuf.NamespaceBase, out: Collected): Collected {
  for (const nested of ns.nestedArray) {
    if (nested instanceof protobuf.Type) {
      out.types.push(nested);
      collect(nested, out);
    } else if (nested instanceof protobuf.Enum) {
      out.enums.push(nested);
    } else if (nested instanceof protobuf.Service) {
      out.services.push(nested);
    } else if (nested instanceof protobuf.Namespace) {
      collect(nested, out);
    }
  }
  return out;
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/** Message types outside the package that the package's fields use (well-known wrappers). */
function externalTypes(types: readonly protobuf.Type[], pkg: protobuf.Namespace): protobuf.Type[] {
  const seen = new Set<protobuf.Type>();
  for (const t of types) {
    for (const f of t.fieldsArray) {
      const r = f.resolvedType;
      if (r instanceof protobuf.Type && !isInside(r, pkg)) seen.add(r);
    }
  }
  return [...seen].sort((a, b) => a.fullName.localeCompare(b.fullName));
}

function generateTypes(root: protobuf.Root, target: Target): string {
  const { packageName } = target;
  const pkg = root.lookup(packageName);
  if (!(pkg instanceof protobuf.Namespace)) throw new Error(`package ${packageName} not found`);
  const { types: own, enums, services } = collect(pkg, { types: [], enums: [], services: [] });
  const types = [...own, ...externalTypes(own, pkg)];
  let out = header(target, target.typesTitle);

  out += '/* eslint-disable */\n\n';
  for (const e of enums) {
    const name = localName(e, pkg);
    out += docComment(e.comment);
    out += `export const ${name} = {\n`;
    for (const [valueName] of Object.entries(e.values)) {
      out += docComment(e.comments[valueName], '  ');
      out += `  ${valueName}: '${valueName}',\n`;
    }
    out += `} as const;\n`;
    out += `export type ${name} = (typeof ${name})[keyof typeof ${name}];\n\n`;
  }

  for (const t of types) {
    const name = localName(t, pkg);
    out += docComment(t.comment);
    out += `export interface ${name} {\n`;
    for (const f of t.fieldsArray) {
      out += docComment(f.comment, '  ');
      out += `  ${f.name}: ${fieldTypes(f, pkg).output};\n`;
    }
    out += `}\n\n`;
    out += `/** The encodable form of {@link ${name}}: every field optional. */\n`;
    out += `export interface ${name}Input {\n`;
    for (const f of t.fieldsArray) {
      out += `  ${f.name}?: ${fieldTypes(f, pkg).input} | null | undefined;\n`;
    }
    out += `}\n\n`;
  }

  for (const s of services) {
    const name = localName(s, pkg);
    out += docComment(s.comment);
    out += `export interface ${name}Methods {\n`;
    for (const m of s.methodsArray) {
      m.resolve();
      const req = localName(m.resolvedRequestType!, pkg);
      const res = localName(m.resolvedResponseType!, pkg);
      out += docComment(m.comment, '  ');
      out +=
        `  ${lowerFirst(m.name)}: { request: ${req}Input; response: ${res}; ` +
        `responseStream: ${m.responseStream ? 'true' : 'false'} };\n`;
    }
    out += `}\n\n`;
  }
  return out;
}

function generateDescriptor(root: protobuf.Root, target: Target): string {
  const { packageName } = target;
  const pkg = root.lookup(packageName);
  if (!(pkg instanceof protobuf.Namespace)) throw new Error(`package ${packageName} not found`);
  const { services } = collect(pkg, { types: [], enums: [], services: [] });
  let out = header(target, target.descriptorTitle);
  out += `/* eslint-disable */\n`;
  out += '\n';
  out += `/** ${target.descriptorDoc} */\n`;
  out += `export const ${target.descriptorConst}: Readonly<Record<string, unknown>> = ${JSON.stringify(root.toJSON({ keepComments: false }), null, 2)};\n\n`;
  out += `/** ${target.methodInfoDoc} */\n`;
  out += `export interface ${target.methodInfo} {\n  readonly path: string;\n  readonly requestType: string;\n  readonly responseType: string;\n  readonly responseStream: boolean;\n}\n\n`;
  for (const s of services) {
    const name = localName(s, pkg);
    out += `export const ${lowerFirst(name)}Methods = {\n`;
    for (const m of s.methodsArray) {
      out += `  ${lowerFirst(m.name)}: {\n`;
      out += `    path: '/${s.fullName.slice(1)}/${m.name}',\n`;
      out += `    requestType: '${m.resolvedRequestType!.fullName.slice(1)}',\n`;
      out += `    responseType: '${m.resolvedResponseType!.fullName.slice(1)}',\n`;
      out += `    responseStream: ${m.responseStream ? 'true' : 'false'},\n`;
      out += `  },\n`;
    }
    out += `} as const satisfies Record<string, ${target.methodInfo}>;\n\n`;
  }
  return out;
}

function main(): void {
  const check = process.argv.includes('--check');
  const outputs: Array<[string, string]> = [];
  for (const target of targets) {
    const root = loadRoot(target);
    outputs.push([target.typesOut, generateTypes(root, target)]);
    const descriptor = generateDescriptor(root, target);
    for (const file of target.descriptorOuts) outputs.push([file, descriptor]);
  }
  let stale = 0;
  for (const [file, content] of outputs) {
    let current: string | undefined;
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      current = undefined;
    }
    if (check) {
      if (current !== content) {
        console.error(`out of date: ${relative(repoRoot, file)} (run \`npm run proto\`)`);
        stale++;
      }
    } else if (current !== content) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, content);
      console.log(`wrote ${relative(repoRoot, file)}`);
    }
  }
  if (check) {
    if (stale > 0) process.exit(1);
    console.log('generated CRI, CSI and plugin registration code is up to date');
  }
}

main();
