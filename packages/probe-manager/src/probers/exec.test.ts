import { DeadlineExceededError, NotFoundError, type cri } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import { ExecProber, expandCommand } from './exec.js';

function runtime(answer: (req: cri.ExecSyncRequestInput) => Promise<cri.ExecSyncResponse>) {
  const calls: { req: cri.ExecSyncRequestInput; timeoutMs: number | undefined }[] = [];
  return {
    calls,
    execSync: (req?: cri.ExecSyncRequestInput, opts?: { timeoutMs?: number }) => {
      calls.push({ req: req!, timeoutMs: opts?.timeoutMs });
      return answer(req!);
    },
  };
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('ExecProber', () => {
  it('succeeds on exit 0 and passes the runtime id, command and timeout', async () => {
    const rt = runtime(async () => ({ stdout: enc('ok'), stderr: enc(''), exitCode: 0 }));
    const prober = new ExecProber({ runtime: rt, execGraceMs: 5_000 });
    await expect(prober.probe('containerd://abc', ['cat', '/tmp/healthy'], 2)).resolves.toEqual({
      result: 'Success',
      output: 'ok',
    });
    expect(rt.calls).toEqual([
      { req: { containerId: 'abc', cmd: ['cat', '/tmp/healthy'], timeout: 2 }, timeoutMs: 7_000 },
    ]);
  });

  it('fails on a non-zero exit with stdout+stderr capped at 10 KiB', async () => {
    const rt = runtime(async () => ({
      stdout: enc('x'.repeat(20_000)),
      stderr: enc('err'),
      exitCode: 1,
    }));
    const out = await new ExecProber({ runtime: rt }).probe('c', ['false'], 1);
    expect(out.result).toBe('Failure');
    expect(out.output).toHaveLength(10 * 1024);
    const rt2 = runtime(async () => ({ stdout: enc('out\n'), stderr: enc('err\n'), exitCode: 2 }));
    await expect(new ExecProber({ runtime: rt2 }).probe('c', ['sh'], 1)).resolves.toEqual({
      result: 'Failure',
      output: 'out\nerr\n',
    });
  });

  it('a timeout (DeadlineExceeded) is a failure "command … timed out"', async () => {
    const rt = runtime(async () => {
      throw new DeadlineExceededError('deadline', { operation: 'RuntimeService/ExecSync' });
    });
    await expect(new ExecProber({ runtime: rt }).probe('c', ['sleep', '10'], 1)).resolves.toEqual({
      result: 'Failure',
      output: 'command "sleep 10" timed out',
    });
  });

  it('other runtime errors are errors', async () => {
    const rt = runtime(async () => {
      throw new NotFoundError('container not found');
    });
    await expect(new ExecProber({ runtime: rt }).probe('c', ['true'], 1)).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });
});

describe('expandCommand', () => {
  it('expands $(VAR) from static env values, keeps unknown ones, honours $$', () => {
    expect(
      expandCommand(
        ['sh', '-c', 'test $(A) = $(B) && echo $$(A) $(MISSING) $(C) $(', 'cost $5'],
        [
          { name: 'A', value: 'x' },
          { name: 'B', value: 'x' },
          { name: 'C', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        ],
      ),
    ).toEqual(['sh', '-c', 'test x = x && echo $(A) $(MISSING)  $(', 'cost $5']);
  });
});
