import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

/** How long to wait after the last change event: editors write a file in several steps. */
const SETTLE_MS = 150;

/**
 * Calls `onChange` once a burst of changes to `file` has settled. It watches the folder, not the
 * file, because editors often replace a file (write a new one, rename it over the old), which
 * would end a watch on the file itself. Returns a function that stops watching.
 */
export function watchFile(file: string, onChange: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const name = basename(file);
  const watcher: FSWatcher = watch(dirname(file), (_event, changed) => {
    if (changed !== null && changed !== name) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, SETTLE_MS);
  });
  watcher.on('error', () => undefined);
  return () => {
    clearTimeout(timer);
    watcher.close();
  };
}
