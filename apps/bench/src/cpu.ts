/**
 * Pinning benchmark processes to CPUs and reading their CPU time, shared by the suites that
 * measure a server's CPU per request. On Linux the server gets CPU 0 and the load generator the
 * last CPU (`taskset`): left to the scheduler, the two trade cores mid-round, and on a shared
 * 2-core machine one server's rounds spread far wider.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Linux's clock ticks per second (`getconf CLK_TCK`), the unit of /proc/<pid>/stat's CPU times. */
const CLOCK_TICKS = 100;

/** A process's CPU time so far in µs (user and system, every thread), from /proc; NaN where there is no /proc. */
export function cpuTime(pid: number): number {
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** Sets the CPUs every thread of a process may run on; false where `taskset` is missing or refuses. */
export function setAffinity(pid: number, cpus: string): boolean {
  try {
    execFileSync('taskset', ['--all-tasks', '--cpu-list', '--pid', cpus, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Where the servers and the load generator run: CPU numbers, or undefined when left to the scheduler. */
export interface Placement {
  server: string;
  load: string;
}

/**
 * Gives this process (the load generator, and every process it starts unpinned) the last CPU for
 * the duration of `run`, and the servers the first; undefined when there are not two CPUs to
 * split or the affinity cannot be set.
 */
export async function pinned<T>(run: (placement: Placement | undefined) => Promise<T>): Promise<T> {
  // Counted before pinning: afterwards it counts only the CPUs this process may use.
  const cpus = availableParallelism();
  const load = String(cpus - 1);
  if (process.platform !== 'linux' || cpus < 2 || !setAffinity(process.pid, load)) return run(undefined);
  try {
    return await run({ server: '0', load });
  } finally {
    setAffinity(process.pid, `0-${load}`);
  }
}

/** How a placement reads in a report. */
export const placementText = (placement: Placement | undefined) =>
  placement === undefined ? 'not pinned to CPUs' : `server on CPU ${placement.server}, load generator on CPU ${placement.load}`;
