/**
 * How many cores this process may use: the CPUs it may run on (`os.availableParallelism()`, which
 * follows the affinity mask), capped by a cgroup CPU quota (a container's `--cpus`), which Node's
 * libuv before 1.49 does not read.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Reads a file as text, `undefined` where it cannot (absent, no permission). */
export type ReadText = (path: string) => string | undefined;

const readText: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/**
 * The CPU quota of this process' cgroup, in cores (`1.5` for a quota of 150 ms per 100 ms), or
 * `undefined` where none is set or none can be read. cgroup v2: `cpu.max` of the process' group
 * and each group above it (the smallest wins); v1: `cpu.cfs_quota_us` ÷ `cpu.cfs_period_us` of
 * the `cpu` controller's group, or of the mount's root inside a container.
 */
export function cgroupCpuQuota(read: ReadText = readText, root = '/sys/fs/cgroup'): number | undefined {
  const table = read('/proc/self/cgroup');
  if (table === undefined) return undefined;
  let least: number | undefined;
  const consider = (cores: number | undefined): void => {
    if (cores !== undefined && Number.isFinite(cores) && cores > 0 && (least === undefined || cores < least)) least = cores;
  };
  for (const line of table.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    const [, , controllers, path] = match;
    if (controllers === '') {
      // v2: the unified hierarchy; a quota may sit on any group above ours.
      for (let dir = path; ; dir = dir.slice(0, dir.lastIndexOf('/'))) {
        const max = read(`${root}${dir === '/' ? '' : dir}/cpu.max`);
        if (max !== undefined) {
          const [quota, period] = max.trim().split(/\s+/);
          if (quota !== 'max') consider(Number(quota) / Number(period));
        }
        if (dir === '' || dir === '/') break;
      }
    } else if (controllers.split(',').includes('cpu')) {
      // v1: mounted as cpu, cpu,cpuacct or cpuacct,cpu; inside a container the group's path is
      // the host's, and the mount's root is the container's group.
      for (const mount of [`${root}/cpu`, `${root}/cpu,cpuacct`, `${root}/cpuacct,cpu`]) {
        const dirs = path === '/' ? [mount] : [`${mount}${path}`, mount];
        const found = dirs.find((dir) => read(`${dir}/cpu.cfs_quota_us`) !== undefined);
        if (!found) continue;
        const quota = Number(read(`${found}/cpu.cfs_quota_us`));
        const period = Number(read(`${found}/cpu.cfs_period_us`));
        if (quota > 0 && period > 0) consider(quota / period);
        break;
      }
    }
  }
  return least;
}

/**
 * Cores this process may use: `os.availableParallelism()` capped by the cgroup quota (rounded
 * down, at least 1). A container given 2 CPUs on a 64-core host gets 2, not 64.
 */
export function availableCores(parallelism = availableParallelism(), quota = cgroupCpuQuota()): number {
  return Math.max(1, quota === undefined ? parallelism : Math.min(parallelism, Math.floor(quota)));
}
