import { Writable } from 'node:stream';
import { FakeClock } from '@nodeagent/core/testing';
import { describe, expect, it } from 'vitest';
import { createAgentLogger, formatTextLine, levelForVerbosity } from './logging.js';

function sink(): { stream: Writable; lines: () => string[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean) };
}

// 2026-01-01T00:00:00.250Z, shown in local time by the text format.
const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 0, 250));
const local = new Date(clock.now());
const p = (n: number): string => String(n).padStart(2, '0');
const stamp = `${p(local.getMonth() + 1)}${p(local.getDate())} ${p(local.getHours())}:${p(local.getMinutes())}:${p(local.getSeconds())}.250`;

describe('text format', () => {
  it('writes klog-like lines: level letter, time, component, message, key=value', () => {
    const out = sink();
    const logger = createAgentLogger({ stream: out.stream, clock, color: false });
    logger
      .child({ component: 'pleg' })
      .info('Relist done', { pods: 3, took: '12ms', note: 'two words' });
    logger.warn('Careful', { err: new Error('socket closed') });
    logger.error('Broken', { detail: { a: 1 }, missing: undefined });
    expect(out.lines()).toEqual([
      `I${stamp} [pleg] Relist done pods=3 took=12ms note="two words"`,
      `W${stamp} Careful err="socket closed"`,
      `E${stamp} Broken detail={"a":1}`,
    ]);
  });

  it('children add fields to every line and can be nested', () => {
    const out = sink();
    const logger = createAgentLogger({ stream: out.stream, clock, color: false });
    logger
      .child({ component: 'probe-manager' })
      .child({ pod: 'default/web' })
      .info('Probe', { probeType: 'Liveness' });
    expect(out.lines()).toEqual([
      `I${stamp} [probe-manager] Probe pod=default/web probeType=Liveness`,
    ]);
  });

  it('colorizes only when asked (or on a terminal)', () => {
    const out = sink();
    createAgentLogger({ stream: out.stream, clock, color: true }).error('Boom', { k: 'v' });
    const [line] = out.lines();
    expect(line).toContain('\u001b[31m');
    expect(line?.replace(new RegExp(`${'\u001b'}\\[\\d+m`, 'g'), '')).toBe(`E${stamp} Boom k=v`);
    const plain = sink();
    createAgentLogger({ stream: plain.stream, clock }).info('No tty');
    expect(plain.lines()[0]).not.toContain('\u001b[');
  });

  it('formatTextLine quotes values that need it', () => {
    expect(formatTextLine('info', clock.now(), 'M', { a: 'x=y', b: '', c: true, d: null })).toBe(
      `I${stamp} M a="x=y" b="" c=true d=null`,
    );
  });
});

describe('json format', () => {
  it('writes one object per line with ts, level, v, msg and the fields', () => {
    const out = sink();
    const logger = createAgentLogger({ stream: out.stream, clock, format: 'json', verbosity: 4 });
    logger.child({ component: 'pleg' }).info('Relist done', { pods: 3 });
    logger.debug('Detail', { msg: 'cannot overwrite', level: 'nor this' });
    const err = Object.assign(new Error('no socket'), { code: 'Unavailable' });
    logger.error('Failed', { err });
    expect(out.lines().map((l) => JSON.parse(l) as unknown)).toEqual([
      {
        component: 'pleg',
        pods: 3,
        ts: clock.now() / 1000,
        level: 'info',
        v: 0,
        msg: 'Relist done',
      },
      { ts: clock.now() / 1000, level: 'debug', v: 4, msg: 'Detail' },
      {
        err: { message: 'no socket', code: 'Unavailable' },
        ts: clock.now() / 1000,
        level: 'error',
        v: 0,
        msg: 'Failed',
      },
    ]);
  });
});

describe('verbosity (--v)', () => {
  it('maps klog verbosity to levels: debug from --v=4', () => {
    expect(levelForVerbosity(0)).toBe('info');
    expect(levelForVerbosity(3)).toBe('info');
    expect(levelForVerbosity(4)).toBe('debug');
    expect(levelForVerbosity(10)).toBe('debug');
  });

  it('drops debug lines below --v=4', () => {
    const quiet = sink();
    const q = createAgentLogger({ stream: quiet.stream, clock, verbosity: 2 });
    q.debug('hidden');
    q.info('shown');
    expect(quiet.lines()).toEqual([`I${stamp} shown`]);
    const loud = sink();
    createAgentLogger({ stream: loud.stream, clock, verbosity: 4 }).debug('shown too');
    expect(loud.lines()).toEqual([`D${stamp} shown too`]);
  });
});

describe('close', () => {
  it('flushes and then drops later lines', async () => {
    const out = sink();
    const logger = createAgentLogger({ stream: out.stream, clock });
    logger.info('before');
    await logger.close();
    logger.info('after');
    await logger.close();
    expect(out.lines()).toEqual([`I${stamp} before`]);
  });
});
