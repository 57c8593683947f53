/**
 * Field-by-field check of one of the project's proto files against the upstream file
 * it follows (CSI spec csi.proto, kubelet pluginregistration api.proto, CRI api.proto).
 *
 *   npx tsx scripts/compare-proto.ts <ours.proto> <upstream.proto>
 *
 * For every service, method, message, field, oneof and enum in OUR file, the same
 * fully-qualified name must exist upstream with the same number, type, label (repeated,
 * map key/value), oneof membership, streaming and request/response types. Upstream
 * items we leave out are listed (informational), not failures. Custom options are
 * ignored (they do not change the wire format). Exit 1 on any mismatch.
 *
 * Get the upstream file from the upstream repository (e.g. the CSI spec's csi.proto
 * at the tag named in our file's header); the check needs no network itself.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';

const protobufjsDir = dirname(createRequire(import.meta.url).resolve('protobufjs/package.json'));

function load(file: string): protobuf.Root {
  const root = new protobuf.Root();
  // Upstream CSI imports descriptor.proto for its custom options: resolve the google
  // imports from the copies bundled with protobufjs.
  root.resolvePath = (origin, target) =>
    target.startsWith('google/protobuf/')
      ? join(protobufjsDir, target)
      : protobuf.util.path.resolve(origin, target);
  root.loadSync(file, { keepCase: true });
  root.resolveAll();
  return root;
}

function walk(ns: protobuf.NamespaceBase, out: Map<string, protobuf.ReflectionObject>): void {
  for (const nested of ns.nestedArray) {
    if (nested.fullName.startsWith('.google.')) continue;
    out.set(nested.fullName, nested);
    if (nested instanceof protobuf.Namespace) walk(nested, out);
  }
}

function describeField(f: protobuf.Field): string {
  const type = f.resolvedType ? f.resolvedType.fullName : f.type;
  const map = f instanceof protobuf.MapField ? `map<${f.keyType},${type}>` : type;
  return `#${f.id} ${f.repeated ? 'repeated ' : ''}${map}${f.partOf ? ` oneof ${f.partOf.name}` : ''}`;
}

function main(): void {
  const [oursFile, upstreamFile] = process.argv.slice(2);
  if (!oursFile || !upstreamFile) {
    console.error('usage: compare-proto.ts <ours.proto> <upstream.proto>');
    process.exit(2);
  }
  const ours = new Map<string, protobuf.ReflectionObject>();
  const upstream = new Map<string, protobuf.ReflectionObject>();
  walk(load(oursFile), ours);
  walk(load(upstreamFile), upstream);
  const problems: string[] = [];
  let checked = 0;
  for (const [name, obj] of ours) {
    const up = upstream.get(name);
    if (!up) {
      problems.push(`${name}: not upstream`);
      continue;
    }
    if (obj.constructor !== up.constructor) {
      problems.push(`${name}: kind differs`);
      continue;
    }
    if (obj instanceof protobuf.Type && up instanceof protobuf.Type) {
      for (const f of obj.fieldsArray) {
        checked++;
        const uf = up.fields[f.name];
        if (!uf) problems.push(`${name}.${f.name}: field not upstream`);
        else if (describeField(f) !== describeField(uf))
          problems.push(
            `${name}.${f.name}: ours ${describeField(f)}, upstream ${describeField(uf)}`,
          );
      }
      for (const uf of up.fieldsArray)
        if (!obj.fields[uf.name]) problems.push(`${name}.${uf.name}: upstream field missing`);
    } else if (obj instanceof protobuf.Enum && up instanceof protobuf.Enum) {
      for (const [k, v] of Object.entries(obj.values)) {
        checked++;
        if (up.values[k] !== v) problems.push(`${name}.${k}: ours ${v}, upstream ${up.values[k]}`);
      }
      for (const k of Object.keys(up.values))
        if (!(k in obj.values)) problems.push(`${name}.${k}: upstream enum value missing`);
    } else if (obj instanceof protobuf.Service && up instanceof protobuf.Service) {
      for (const m of obj.methodsArray) {
        checked++;
        const um = up.methods[m.name];
        const sig = (x: protobuf.Method) =>
          `${x.resolvedRequestType?.fullName} -> ${x.responseStream ? 'stream ' : ''}${x.resolvedResponseType?.fullName}`;
        if (!um) problems.push(`${name}.${m.name}: method not upstream`);
        else if (sig(m) !== sig(um))
          problems.push(`${name}.${m.name}: ours ${sig(m)}, upstream ${sig(um)}`);
      }
    }
  }
  const omitted = [...upstream.keys()].filter((n) => !ours.has(n));
  console.log(`checked ${ours.size} definitions, ${checked} fields/values/methods`);
  console.log(`upstream definitions not in ours (by design): ${omitted.length}`);
  if (problems.length) {
    for (const p of problems) console.error(`MISMATCH ${p}`);
    process.exit(1);
  }
  console.log('no mismatches');
}

main();
