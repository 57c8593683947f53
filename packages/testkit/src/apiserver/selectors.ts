/**
 * Label and field selectors with the grammar of k8s.io/apimachinery
 * `labels.Parse` and `fields.ParseSelector`.
 */
import { badRequest } from './api-status.js';

/** One parsed label requirement. */
export type LabelRequirement =
  | { key: string; op: 'in' | 'notin'; values: readonly string[] }
  | { key: string; op: 'exists' | '!' };

/** A parsed label selector: all requirements must hold. */
export type LabelSelector = readonly LabelRequirement[];

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

const labelKey = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const labelValue = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function checkKey(key: string, raw: string): string {
  if (!labelKey.test(key))
    throw badRequest(`unable to parse requirement: invalid label key "${key}" in "${raw}"`);
  return key;
}

function checkValue(v: string, raw: string): string {
  if (!labelValue.test(v))
    throw badRequest(`unable to parse requirement: invalid label value: "${v}" in "${raw}"`);
  return v;
}

/**
 * Parses a label selector: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`,
 * `a` (exists), `!a` (does not exist), comma-separated. Throws a 400 Status on bad syntax.
 */
export function parseLabelSelector(raw: string): LabelSelector {
  const reqs: LabelRequirement[] = [];
  for (const part of splitTopLevel(raw)) {
    let m: RegExpExecArray | null;
    if ((m = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part)) !== null) {
      const values = (m[3] ?? '')
        .split(',')
        .map((v) => v.trim())
        .map((v) => checkValue(v, raw));
      reqs.push({ key: checkKey(m[1] ?? '', raw), op: m[2] === 'in' ? 'in' : 'notin', values });
    } else if ((m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part)) !== null) {
      const value = checkValue(m[3] ?? '', raw);
      reqs.push({
        key: checkKey(m[1] ?? '', raw),
        op: m[2] === '!=' ? 'notin' : 'in',
        values: [value],
      });
    } else if ((m = /^!\s*(\S+)$/.exec(part)) !== null) {
      reqs.push({ key: checkKey(m[1] ?? '', raw), op: '!' });
    } else if (/^\S+$/.test(part)) {
      reqs.push({ key: checkKey(part, raw), op: 'exists' });
    } else {
      throw badRequest(
        `unable to parse requirement: found '${part}', expected: ',' or end of string`,
      );
    }
  }
  return reqs;
}

/** Whether `labels` satisfy `selector` (an empty selector matches everything). */
export function matchesLabels(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>>,
): boolean {
  return selector.every((req) => {
    const has = Object.hasOwn(labels, req.key);
    const value = labels[req.key];
    switch (req.op) {
      case 'exists':
        return has;
      case '!':
        return !has;
      case 'in':
        return has && value !== undefined && req.values.includes(value);
      case 'notin':
        return !has || value === undefined || !req.values.includes(value);
    }
  });
}

/** One field requirement: `field=value` or `field!=value`. */
export interface FieldRequirement {
  field: string;
  value: string;
  negate: boolean;
}

/** A parsed field selector. */
export type FieldSelector = readonly FieldRequirement[];

/**
 * Parses a field selector (`spec.nodeName=n1,status.phase!=Failed`), rejecting
 * labels outside `supported` with the real server's 400
 * `field label not supported: <label>`.
 */
export function parseFieldSelector(raw: string, supported: readonly string[]): FieldSelector {
  const reqs: FieldRequirement[] = [];
  for (const part of splitTopLevel(raw)) {
    const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(part);
    if (m === null) throw badRequest(`invalid selector: '${raw}'; can't understand '${part}'`);
    const field = (m[1] ?? '').trim();
    if (!supported.includes(field)) throw badRequest(`field label not supported: ${field}`);
    reqs.push({ field, value: (m[3] ?? '').trim(), negate: m[2] === '!=' });
  }
  return reqs;
}

/** Whether the object's field set satisfies `selector`. */
export function matchesFields(selector: FieldSelector, fields: (field: string) => string): boolean {
  return selector.every((r) => (fields(r.field) === r.value) !== r.negate);
}
