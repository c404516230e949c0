import { availableParallelism } from 'node:os';
import test from 'ava';
import { lastValueFrom, take } from 'rxjs';
import { consume } from '../operators/consume.js';
import { PipelineStats } from '../src/stats.js';
import { workerPool } from '../src/workerPool.js';
import { availableCores, cgroupCpuQuota, type ReadText } from '../src/workers/cores.js';
import { autoWorkers, fromWorkers } from '../src/workers/fromWorkers.js';
import type { EpochArgs, Tagged } from './fixtures/workers/epochs.js';

/** A fake file system: path → contents. */
const files = (map: Record<string, string>): ReadText => (path) => map[path];

test('cgroup v2: cpu.max of the group and the groups above it, the smallest wins; "max" is no limit', (t) => {
  t.is(cgroupCpuQuota(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': '200000 100000\n' })), 2);
  t.is(cgroupCpuQuota(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': 'max 100000\n' })), undefined);
  t.is(
    cgroupCpuQuota(
      files({
        '/proc/self/cgroup': '0::/kubepods/pod1/c1\n',
        '/sys/fs/cgroup/kubepods/pod1/c1/cpu.max': 'max 100000',
        '/sys/fs/cgroup/kubepods/pod1/cpu.max': '150000 100000',
        '/sys/fs/cgroup/kubepods/cpu.max': '400000 100000',
      }),
    ),
    1.5,
  );
});

test('cgroup v1: cfs quota ÷ period of the cpu controller\'s group, or of the mount inside a container; -1 is no limit', (t) => {
  const table = '12:memory:/x\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/\n';
  t.is(cgroupCpuQuota(files({ '/proc/self/cgroup': table, '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '50000\n', '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000\n' })), 0.5);
  t.is(cgroupCpuQuota(files({ '/proc/self/cgroup': table, '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '300000', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' })), 3);
  t.is(cgroupCpuQuota(files({ '/proc/self/cgroup': table, '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' })), undefined);
  t.is(cgroupCpuQuota(files({})), undefined, 'no /proc (not Linux): no quota');
});

test('availableCores: the CPUs, capped by the quota rounded down, at least 1', (t) => {
  t.is(availableCores(64, 2), 2);
  t.is(availableCores(64, 1.5), 1);
  t.is(availableCores(64, 0.5), 1);
  t.is(availableCores(4, 8), 4);
  t.is(availableCores(4, undefined), 4);
  t.is(autoWorkers(2), 1);
  t.is(autoWorkers(1), 1);
  t.is(autoWorkers(16), 15);
});

test('on this machine: availableCores is the CPUs this process may run on, capped by its own cgroup quota', (t) => {
  const quota = cgroupCpuQuota();
  t.is(availableCores(), quota === undefined ? availableParallelism() : Math.max(1, Math.min(availableParallelism(), Math.floor(quota))));
  t.is(autoWorkers(), Math.max(1, availableCores() - 1));
});

test.serial("workers: 'auto' starts autoWorkers() threads, each on its shard; workerPool's default is availableCores()", async (t) => {
  const stats = new PipelineStats();
  const args: EpochArgs = { counters: new Int32Array(new SharedArrayBuffer(8)) };
  let live = 0;
  const shards = new Set<number>();
  await lastValueFrom(
    fromWorkers<Tagged, EpochArgs>(new URL('./fixtures/workers/epochs.ts', import.meta.url), { workers: 'auto', args }).pipe(
      take(8 * autoWorkers()),
      consume((x) => {
        shards.add(x.shard);
        live = Math.max(live, stats.get('fromWorkers')?.extra.threads ?? 0);
      }, { stats }),
    ),
    { defaultValue: undefined },
  );
  t.is(live, autoWorkers());
  t.true([...shards].every((s) => s >= 0 && s < autoWorkers()));
  const pool = workerPool(new URL('./fixtures/workers/plain.mjs', import.meta.url), { minThreads: 0 });
  t.is(pool.threads, availableCores());
  await pool.destroy();
});
