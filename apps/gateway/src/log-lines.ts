/**
 * The gateway's log destination by default: stdout, one write per turn of the event loop instead
 * of one per line (pino's default destination writes each line with its own synchronous system
 * call, on the request's path). Lines still pending when the process exits are written then.
 */
export interface LogLines {
  write(line: string): void;
  /** Writes what is pending and stops listening for the process's exit. */
  close(): void;
}

/** Past this many pending characters, a write goes out at once rather than at the end of the turn. */
const MAX_PENDING = 64 * 1024;

export function stdoutLines(): LogLines {
  let pending = '';
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending === '') return;
    const text = pending;
    pending = '';
    process.stdout.write(text);
  };
  process.on('exit', flush);
  return {
    write(line) {
      pending += line;
      if (pending.length >= MAX_PENDING) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    close() {
      flush();
      process.off('exit', flush);
    },
  };
}
