import { Worker } from 'node:worker_threads';
import type { BodyThreadData, BodyToParse, ParsedBody } from './body-protocol.js';
import { STAND_IN_PREFIX } from './long-texts.js';

type Answer = Exclude<ParsedBody, { failed: string }>;

interface Running {
  readonly worker: Worker;
  /** The answers it owes, by request id. */
  readonly waiting: Map<number, { resolve(answer: Answer): void; reject(error: Error): void }>;
}

/**
 * A worker thread that parses large bodies (`body-worker.ts`), started on first use and again after
 * a crash. The gateway runs its TypeScript through tsx, so the thread registers tsx before it
 * imports its module. It never keeps the process alive.
 */
export class BodyThread {
  private running: Running | undefined;
  private nextId = 0;

  /**
   * Parses `bytes` in the thread; the answer's long texts were counted for `models` and the
   * body's own model. The bytes' memory is moved to the thread when the buffer is theirs alone.
   */
  parse(bytes: Buffer, models: readonly string[]): Promise<Answer> {
    const { worker, waiting } = (this.running ??= this.start());
    const id = this.nextId++;
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    const request: BodyToParse = { id, bytes, models };
    return new Promise<Answer>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      worker.postMessage(request, own ? [bytes.buffer as ArrayBuffer] : []);
    });
  }

  async close(): Promise<void> {
    const running = this.running;
    this.running = undefined;
    await running?.worker.terminate();
  }

  private start(): Running {
    const module = new URL('./body-worker.ts', import.meta.url).href;
    const code = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(module)}); });`;
    const worker = new Worker(code, { eval: true, workerData: { standInPrefix: STAND_IN_PREFIX } satisfies BodyThreadData });
    worker.unref();
    const running: Running = { worker, waiting: new Map() };
    const { waiting } = running;
    worker.on('message', (answer: ParsedBody) => {
      const owed = waiting.get(answer.id);
      waiting.delete(answer.id);
      if ('failed' in answer) owed?.reject(new Error(`parsing a large body failed: ${answer.failed}`));
      else owed?.resolve(answer);
    });
    const stopped = (error: Error) => {
      if (this.running === running) this.running = undefined;
      for (const { reject } of waiting.values()) reject(error);
      waiting.clear();
    };
    worker.on('error', stopped);
    worker.on('exit', (code) => stopped(new Error(`the body thread stopped (exit code ${code})`)));
    return running;
  }
}
