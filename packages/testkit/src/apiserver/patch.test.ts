import { describe, expect, it } from 'vitest';
import { ApiStatusError } from './api-status.js';
import {
  applyJsonPatch,
  applyMergePatch,
  applyPatch,
  strategicMerge,
  type JsonObject,
} from './patch.js';

describe('applyMergePatch (RFC 7386)', () => {
  it('merges objects, removes on null and replaces lists', () => {
    const target: JsonObject = { a: { b: 1, c: 2 }, l: [1, 2], k: 'v' };
    expect(applyMergePatch(target, { a: { b: null, d: 3 }, l: [3], k: null })).toEqual({
      a: { c: 2, d: 3 },
      l: [3],
    });
    expect(target).toEqual({ a: { b: 1, c: 2 }, l: [1, 2], k: 'v' });
  });
});

describe('applyJsonPatch (RFC 6902)', () => {
  it('applies add, remove, replace, move, copy and test', () => {
    const doc: JsonObject = { a: [1, 2], b: { c: 'x' } };
    const out = applyJsonPatch(doc, [
      { op: 'add', path: '/a/-', value: 3 },
      { op: 'add', path: '/a/0', value: 0 },
      { op: 'remove', path: '/a/1' },
      { op: 'replace', path: '/b/c', value: 'y' },
      { op: 'copy', from: '/b/c', path: '/d' },
      { op: 'move', from: '/d', path: '/e~1f' },
      { op: 'test', path: '/e~1f', value: 'y' },
    ]);
    expect(out).toEqual({ a: [0, 2, 3], b: { c: 'y' }, 'e/f': 'y' });
  });

  it('fails a failing test op and a missing path with 422', () => {
    expect(() => applyJsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }])).toThrow(
      ApiStatusError,
    );
    try {
      applyJsonPatch({ a: 1 }, [{ op: 'remove', path: '/b' }]);
      expect.unreachable();
    } catch (err) {
      expect((err as ApiStatusError).status.code).toBe(422);
    }
  });
});

describe('strategicMerge', () => {
  const pod: JsonObject = {
    status: {
      phase: 'Pending',
      conditions: [
        { type: 'Ready', status: 'False' },
        { type: 'PodScheduled', status: 'True' },
      ],
      containerStatuses: [
        { name: 'a', ready: false, restartCount: 0 },
        { name: 'b', ready: false, restartCount: 1 },
      ],
      podIPs: [{ ip: '10.0.0.1' }],
    },
    metadata: { finalizers: ['x'] },
  };

  it('merges lists by their patch merge key (conditions by type, statuses by name)', () => {
    const out = strategicMerge(pod, {
      status: {
        phase: 'Running',
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'Initialized', status: 'True' },
        ],
        containerStatuses: [{ name: 'b', ready: true }],
      },
    });
    expect(out).toMatchObject({
      status: {
        phase: 'Running',
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'PodScheduled', status: 'True' },
          { type: 'Initialized', status: 'True' },
        ],
        containerStatuses: [
          { name: 'a', ready: false, restartCount: 0 },
          { name: 'b', ready: true, restartCount: 1 },
        ],
      },
    });
  });

  it('honours $setElementOrder, $patch: delete, $patch: replace and $deleteFromPrimitiveList', () => {
    const out = strategicMerge(pod, {
      metadata: { finalizers: ['y'], '$deleteFromPrimitiveList/finalizers': ['x'] },
      status: {
        '$setElementOrder/conditions': [{ type: 'PodScheduled' }, { type: 'Ready' }],
        conditions: [{ type: 'Ready', status: 'True' }],
        containerStatuses: [{ name: 'a', $patch: 'delete' }],
        podIPs: [{ $patch: 'replace' }, { ip: '10.0.0.2' }],
      },
    });
    expect(out).toEqual({
      metadata: { finalizers: ['y'] },
      status: {
        phase: 'Pending',
        conditions: [
          { type: 'PodScheduled', status: 'True' },
          { type: 'Ready', status: 'True' },
        ],
        containerStatuses: [{ name: 'b', ready: false, restartCount: 1 }],
        podIPs: [{ ip: '10.0.0.2' }],
      },
    });
  });

  it('replaces lists without a merge key and deletes fields set to null', () => {
    expect(
      strategicMerge(
        { spec: { tolerations: [{ key: 'a' }], x: 1 } },
        { spec: { tolerations: [{ key: 'b' }], x: null } },
      ),
    ).toEqual({
      spec: { tolerations: [{ key: 'b' }] },
    });
  });

  it('rejects a list item without its merge key', () => {
    expect(() =>
      applyPatch('application/strategic-merge-patch+json', pod, {
        status: { conditions: [{ status: 'x' }] },
      }),
    ).toThrow(/merge key: type/);
  });
});
