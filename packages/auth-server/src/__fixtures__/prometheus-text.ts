/**
 * A small, strict parser of the Prometheus text exposition format 0.0.4, for tests:
 * every line must be a HELP, TYPE, comment, blank line or a well-formed sample whose
 * family was declared by a TYPE line before it; label values must be properly
 * escaped; values are floats (NaN, +Inf, -Inf allowed); timestamps integers; a family
 * may not be declared twice nor come back after another family started. Written here
 * rather than taken from a library: the candidates on npm are either unmaintained or
 * lenient (they skip what they do not understand), and a test parser must fail loudly.
 */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestampMs?: number;
}

export interface PromFamily {
  name: string;
  help?: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: PromSample[];
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(s: string, line: number): number {
  if (s === 'NaN') return Number.NaN;
  if (s === '+Inf' || s === 'Inf') return Number.POSITIVE_INFINITY;
  if (s === '-Inf') return Number.NEGATIVE_INFINITY;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s))
    throw new Error(`line ${line}: bad value ${JSON.stringify(s)}`);
  return Number(s);
}

function familyOf(name: string, families: Map<string, PromFamily>): PromFamily | undefined {
  const direct = families.get(name);
  if (direct) return direct;
  for (const suffix of ['_bucket', '_sum', '_count', '_created']) {
    if (name.endsWith(suffix)) {
      const f = families.get(name.slice(0, -suffix.length));
      if (f && (f.type === 'histogram' || f.type === 'summary' || suffix === '_created')) return f;
    }
  }
  return undefined;
}

/** Parses `text`; throws with the line number on the first violation. */
export function parsePrometheusText(text: string): Map<string, PromFamily> {
  if (text !== '' && !text.endsWith('\n')) throw new Error('text must end with a newline');
  const families = new Map<string, PromFamily>();
  const helps = new Map<string, string>();
  const finished = new Set<string>();
  let current: string | undefined;
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((raw, i) => {
    const n = i + 1;
    if (raw.trim() === '') return;
    if (raw.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (!m) return; // plain comment
      const [, kind, name = '', rest = ''] = m;
      if (!metricName.test(name)) throw new Error(`line ${n}: bad metric name ${name}`);
      if (kind === 'HELP') {
        if (helps.has(name)) throw new Error(`line ${n}: second HELP for ${name}`);
        helps.set(name, rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\'));
        const f = families.get(name);
        if (f) f.help = helps.get(name) ?? '';
        return;
      }
      if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) {
        throw new Error(`line ${n}: bad type ${rest}`);
      }
      if (families.has(name)) throw new Error(`line ${n}: second TYPE for ${name}`);
      if (current !== undefined && current !== name) finished.add(current);
      const help = helps.get(name);
      families.set(name, {
        name,
        type: rest as PromFamily['type'],
        samples: [],
        ...(help !== undefined ? { help } : {}),
      });
      current = name;
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(raw);
    if (!m) throw new Error(`line ${n}: malformed sample ${JSON.stringify(raw)}`);
    const [, name = '', , labelText, value = '', ts] = m;
    const fam = familyOf(name, families);
    if (!fam) throw new Error(`line ${n}: sample ${name} without a TYPE line`);
    if (finished.has(fam.name) || (current !== undefined && current !== fam.name)) {
      throw new Error(`line ${n}: family ${fam.name} is not contiguous`);
    }
    const labels: Record<string, string> = {};
    if (labelText !== undefined && labelText !== '') {
      let rest = labelText;
      while (rest !== '') {
        const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,?)/.exec(rest);
        if (!lm || !labelName.test(lm[1] ?? ''))
          throw new Error(`line ${n}: bad labels ${labelText}`);
        const key = lm[1] ?? '';
        if (key in labels) throw new Error(`line ${n}: duplicate label ${key}`);
        labels[key] = (lm[2] ?? '').replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
        rest = rest.slice(lm[0].length);
        if (lm[3] === '' && rest !== '') throw new Error(`line ${n}: bad labels ${labelText}`);
      }
    }
    fam.samples.push({
      name,
      labels,
      value: parseValue(value, n),
      ...(ts !== undefined ? { timestampMs: Number(ts) } : {}),
    });
  });
  return families;
}
