import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OomParser, parseKmsgRecord, parseOomKillLine, parseOomKills } from './oom-parser.js';

const fixture = (name: string): string[] =>
  readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l !== '');

const kmsgMessages = (name: string): string[] =>
  fixture(name).map((raw) => {
    const record = parseKmsgRecord(raw);
    if (!record) throw new Error(`not a kmsg record: ${raw}`);
    return record.message;
  });

describe('parseKmsgRecord', () => {
  it('splits header and message and drops continuation lines', () => {
    expect(
      parseKmsgRecord('6,339,5140900,-;NET: Registered protocol family 10\n SUBSYSTEM=net\n'),
    ).toEqual({
      priority: 6,
      sequence: 339,
      timestampUs: 5140900,
      message: 'NET: Registered protocol family 10',
    });
    expect(parseKmsgRecord('4,1,2,c,more;x=y;z')?.message).toBe('x=y;z');
    expect(parseKmsgRecord('no header here')).toBeUndefined();
    expect(parseKmsgRecord('a,b,c;msg')).toBeUndefined();
  });
});

describe('parseOomKillLine', () => {
  it('reads the key/value fields of the kernel ≥ 5.0 summary line', () => {
    const fields = parseOomKillLine(
      'oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=ef80,mems_allowed=0,oom_memcg=/kubepods/burstable/podfbdf,task_memcg=/kubepods/burstable/podfbdf/ef80,task=manager,pid=966,uid=0',
    );
    expect(fields).toMatchObject({
      constraint: 'CONSTRAINT_MEMCG',
      oom_memcg: '/kubepods/burstable/podfbdf',
      task_memcg: '/kubepods/burstable/podfbdf/ef80',
      task: 'manager',
      pid: '966',
      uid: '0',
    });
    expect(parseOomKillLine('Killed process 1 (x)')).toBeUndefined();
  });
});

describe('OomParser', () => {
  it('parses a real cgroup v1 memcg OOM from this kernel (oom-kill summary line)', () => {
    const ooms = parseOomKills(kmsgMessages('kmsg-cgroup-v1-memcg-oom.txt'));
    // The fixture ends with the first line of a further report that never completes.
    expect(ooms).toEqual([
      {
        pid: 1385,
        processName: 'sh',
        constraint: 'CONSTRAINT_MEMCG',
        victimContainerName:
          '/nodeagent/kubepods/burstable/pod65e14fef-eb4f-46a0-a907-d76068334563',
        containerName:
          '/nodeagent/kubepods/burstable/pod65e14fef-eb4f-46a0-a907-d76068334563/60df50bf77f40ea8e848d359316a41687e4f78609ff7012a8b4e979db32af1bd',
      },
    ]);
  });

  it('parses a cgroup v2 container OOM', () => {
    const [oom, ...rest] = parseOomKills(kmsgMessages('kmsg-cgroup-v2-oom.txt'));
    expect(rest).toEqual([]);
    expect(oom?.pid).toBe(4242);
    expect(oom?.processName).toBe('python3');
    expect(oom?.victimContainerName).toBe(
      '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/cri-containerd-abc.scope',
    );
  });

  it('parses a global (system) OOM: no oom_memcg, so the victim cgroup stays the root', () => {
    const ooms = parseOomKills(kmsgMessages('kmsg-system-oom.txt'));
    expect(ooms).toHaveLength(1);
    expect(ooms[0]).toMatchObject({
      pid: 1532,
      processName: 'badsysprogram',
      victimContainerName: '/',
      containerName: '/user.slice/user-1020.slice',
      constraint: 'CONSTRAINT_NONE',
    });
  });

  it('parses legacy (pre-5.0) reports: Task in … line and Killed process line', () => {
    const ooms = parseOomKills(fixture('kernel-legacy-oom.txt'));
    expect(ooms).toEqual([
      {
        pid: 13536,
        processName: 'memorymonster',
        containerName: '/mem2',
        victimContainerName: '/mem2',
      },
      { pid: 1532, processName: 'badsysprogram', containerName: '/', victimContainerName: '/' },
    ]);
  });

  it('ignores Killed process lines outside an OOM report and process names with odd characters', () => {
    const parser = new OomParser();
    expect(parser.push('Killed process 1 (x) total-vm:1kB')).toBeUndefined();
    for (const name of ['foo', 'python3.4', 'Plex Media Server', '[', '()', '"with quotes"']) {
      parser.push('x invoked oom-killer: gfp_mask=0x0, order=0, oom_score_adj=0');
      const oom = parser.push(
        `Killed process 1234 (${name}) total-vm:1460016kB, anon-rss:1414008kB`,
        42,
      );
      expect(oom).toEqual({
        pid: 1234,
        processName: name,
        containerName: '/',
        victimContainerName: '/',
        timeOfDeathMs: 42,
      });
    }
  });
});
