/**
 * Benchmark servers in fresh child processes that report their port over IPC once listening: the
 * adapters' hello servers, the bare proxy and the fake upstream.
 */
import { fork, type ChildProcess } from 'node:child_process';

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly port: number;
}

/**
 * Forks `file` with `args` under tsx, on `cpu` when given (through taskset, which execs node in
 * place, so the child's pid is the server's), and resolves with the port it sends.
 */
export async function forkServer(file: string, args: string[], cpu: string | undefined): Promise<ServerProcess> {
  const node = ['--import', 'tsx'];
  const launch = cpu === undefined ? { execArgv: node } : { execPath: 'taskset', execArgv: ['--cpu-list', cpu, process.execPath, ...node] };
  const child = fork(file, args, { ...launch, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`${[file, ...args].join(' ')} exited with ${code}`)));
  });
  return { child, port };
}

/** Stops a child process (SIGTERM: servers exit normally, writing a CPU profile if asked) and waits until it is gone. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
