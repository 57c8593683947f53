import { EventEmitter } from 'node:events';
import { noopLogger } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import { handleShutdownSignals } from './signals.js';

function setup(stop: () => Promise<void>) {
  const emitter = new EventEmitter();
  const exits: number[] = [];
  const remove = handleShutdownSignals({
    stop,
    exit: (code) => exits.push(code),
    logger: noopLogger,
    signals: emitter,
  });
  return { emitter, exits, remove };
}

describe('handleShutdownSignals', () => {
  it.each(['SIGTERM', 'SIGINT'])('%s stops the agent and exits 0', async (signal) => {
    let stopped = 0;
    const { emitter, exits } = setup(async () => {
      stopped++;
    });
    emitter.emit(signal, signal);
    await Promise.resolve();
    await Promise.resolve();
    expect(stopped).toBe(1);
    expect(exits).toEqual([0]);
  });

  it('a second signal while stopping forces exit 1 at once', async () => {
    let finishStop!: () => void;
    const { emitter, exits } = setup(() => new Promise<void>((resolve) => (finishStop = resolve)));
    emitter.emit('SIGTERM', 'SIGTERM');
    expect(exits).toEqual([]);
    emitter.emit('SIGINT', 'SIGINT');
    expect(exits).toEqual([1]);
    finishStop();
    await Promise.resolve();
    await Promise.resolve();
    expect(exits).toEqual([1, 0]);
  });

  it('a failed stop exits 1', async () => {
    const { emitter, exits } = setup(() => Promise.reject(new Error('stuck')));
    emitter.emit('SIGTERM', 'SIGTERM');
    await Promise.resolve();
    await Promise.resolve();
    expect(exits).toEqual([1]);
  });

  it('removes its handlers', () => {
    const { emitter, remove } = setup(async () => {});
    expect(emitter.listenerCount('SIGTERM')).toBe(1);
    remove();
    expect(emitter.listenerCount('SIGTERM')).toBe(0);
    expect(emitter.listenerCount('SIGINT')).toBe(0);
  });
});
