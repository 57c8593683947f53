import { describe, expect, it } from 'vitest';
import { expand, expandContainerCommandAndArgs, mappingFuncFor } from './expansion.js';

const vars = new Map([
  ['VAR_A', 'A'],
  ['VAR_B', 'B'],
  ['EMPTY', ''],
]);
const mapping = mappingFuncFor(vars);

describe('expand (kubelet expansion semantics)', () => {
  it.each([
    ['$(VAR_A)', 'A'],
    ['___$(VAR_A)___', '___A___'],
    ['$(VAR_A)$(VAR_B)', 'AB'],
    ['$(EMPTY)x', 'x'],
    ['$(UNKNOWN)', '$(UNKNOWN)'],
    ['$$(VAR_A)', '$(VAR_A)'],
    ['$$$(VAR_A)', '$A'],
    ['$$$$(VAR_A)', '$$(VAR_A)'],
    ['$(VAR_A', '$(VAR_A'],
    ['$VAR_A', '$VAR_A'],
    ['$', '$'],
    ['x$', 'x$'],
    ['$$', '$'],
    ['$()', '$()'],
    ['$(VAR_A)$', 'A$'],
    ['no refs', 'no refs'],
    ['héllo $(VAR_A) ✓', 'héllo A ✓'],
    ['$✓', '$✓'],
    ['$(VAR_A)) ((', 'A) (('],
  ])('%j → %j', (input, output) => {
    expect(expand(input, mapping)).toBe(output);
  });
});

describe('expandContainerCommandAndArgs', () => {
  it('expands command and args from the environment', () => {
    const r = expandContainerCommandAndArgs(
      {
        name: 'c',
        command: ['/bin/sh', '-c', 'echo $(GREETING)'],
        args: ['$(WHO)', '$$(WHO)', '$(NOPE)'],
      },
      [
        { name: 'GREETING', value: 'hi' },
        { name: 'WHO', value: 'world' },
      ],
    );
    expect(r).toEqual({
      command: ['/bin/sh', '-c', 'echo hi'],
      args: ['world', '$(WHO)', '$(NOPE)'],
    });
  });

  it('returns empty lists when the spec has none', () => {
    expect(expandContainerCommandAndArgs({ name: 'c' }, [])).toEqual({ command: [], args: [] });
  });
});
