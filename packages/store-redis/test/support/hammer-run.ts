import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const worker = fileURLToPath(new URL('./hammer.ts', import.meta.url));

/** Runs `processes` OS processes of `callers` concurrent acquires each; returns how many were admitted in all. */
export async function hammer(processes: number, callers: number, env: Record<string, string>): Promise<number> {
  const run = promisify(execFile);
  const outputs = await Promise.all(
    Array.from({ length: processes }, () =>
      run(process.execPath, ['--import', 'tsx', worker], { env: { ...process.env, ...env, CALLERS: String(callers) } }),
    ),
  );
  return outputs.map(({ stdout }) => Number(stdout.trim())).reduce((a, b) => a + b, 0);
}
