import type { k8s } from '@nodeagent/core';

/**
 * Expands `$(VAR)` references in `input` the way the kubelet does
 * (third_party/forked/golang/expansion `Expand`): `$(NAME)` is replaced by
 * `mapping(NAME)`, `$$` is an escaped `$`, an unterminated `$(` and a `$` before any
 * other character are kept as written.
 */
export function expand(input: string, mapping: (name: string) => string): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const next = input[cursor + 1];
    let advance = 1;
    if (next === '$') {
      out += '$';
    } else if (next === '(') {
      const close = input.indexOf(')', cursor + 2);
      if (close === -1) {
        out += '$(';
      } else {
        out += mapping(input.slice(cursor + 2, close));
        advance = close - cursor;
      }
    } else {
      out += '$' + next;
    }
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}

/**
 * A mapping over the given variable maps, first match wins; an unknown name maps back
 * to `$(NAME)`, i.e. stays unexpanded (expansion `MappingFuncFor`).
 */
export function mappingFuncFor(
  ...contexts: ReadonlyMap<string, string>[]
): (name: string) => string {
  return (name) => {
    for (const vars of contexts) {
      const value = vars.get(name);
      if (value !== undefined) return value;
    }
    return `$(${name})`;
  };
}

/** A name/value environment variable as the runtime receives it. */
export interface EnvVarValue {
  name: string;
  value: string;
}

/**
 * The container's command and args with `$(VAR)` references to its environment
 * expanded (kubelet `ExpandContainerCommandAndArgs`). Unknown variables stay as written.
 */
export function expandContainerCommandAndArgs(
  container: k8s.Container,
  envs: readonly EnvVarValue[],
): { command: string[]; args: string[] } {
  const vars = new Map<string, string>();
  for (const e of envs) vars.set(e.name, e.value);
  const mapping = mappingFuncFor(vars);
  return {
    command: (container.command ?? []).map((c) => expand(c, mapping)),
    args: (container.args ?? []).map((a) => expand(a, mapping)),
  };
}
