/**
 * The body thread's side (started by `body-thread.ts`): parses a large request body as Fastify's
 * JSON parser does (prototype poisoning refused), checks its nesting, takes its long texts out
 * (each replaced by a stand-in), serializes them and counts their tokens for the models the
 * request may be estimated for. Everything that grows with the body's size happens here.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { countTokens } from '@tollgate/llm';
import secureJson from 'secure-json-parse';
import { LONG_TEXT_CHARS, type BodyRefusal, type BodyThreadData, type BodyToParse, type ParsedBody } from './body-protocol.js';
import { MAX_JSON_DEPTH, nestedDeeperThan } from './json-depth.js';
import type { LongTexts } from './long-texts.js';

const { standInPrefix } = workerData as BodyThreadData;
const PARSE_OPTIONS = { protoAction: 'error', constructorAction: 'error' } as const;

/** A body that is no request. */
class Refused extends Error {
  constructor(readonly why: BodyRefusal) {
    super(why);
  }
}

/**
 * On Linux, the thread runs at the lowest priority: where it shares a CPU with the event loop, the
 * loop's requests go first. `setpriority` on a thread's own id applies to that thread alone.
 * Elsewhere (no `/proc/thread-self`), it runs at the process's priority.
 */
function yieldToTheEventLoop(): void {
  let thread: number;
  try {
    thread = Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return;
  }
  setPriority(thread, 19);
}

/** `value` with every string of `LONG_TEXT_CHARS` or more replaced by a stand-in, the strings pushed onto `texts`. */
function withStandIns(value: unknown, texts: string[]): unknown {
  if (typeof value === 'string') {
    if (value.length < LONG_TEXT_CHARS) return value;
    texts.push(value);
    return `${standInPrefix}${texts.length - 1}`;
  }
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => withStandIns(item, texts));
  const object = value as Record<string, unknown>;
  for (const key of Object.keys(object)) {
    if (key.length >= LONG_TEXT_CHARS) throw new Refused('key');
    object[key] = withStandIns(object[key], texts);
  }
  return object;
}

/** The models a body may be estimated for: its own and the ladder's, each once. */
function modelsOf(body: unknown, ladder: readonly string[]): string[] {
  const own = (body as { model?: unknown }).model;
  const models = typeof own === 'string' ? [own, ...ladder] : ladder;
  return [...new Set(models)].filter((model) => model !== '' && model.length <= 256);
}

async function longTexts(texts: readonly string[], models: readonly string[]): Promise<LongTexts> {
  const forms = texts.map((text) => JSON.stringify(text));
  const ends: number[] = [];
  let end = 0;
  for (const form of forms) ends.push((end += Buffer.byteLength(form)));
  const json = new Uint8Array(end);
  const writer = Buffer.from(json.buffer);
  const tokens: Array<Record<string, number>> = [];
  for (const [index, form] of forms.entries()) {
    writer.write(form, index === 0 ? 0 : ends[index - 1]!);
    const counts: Record<string, number> = {};
    for (const model of models) counts[model] = await countTokens(form, model);
    tokens.push(counts);
  }
  return { json, ends, tokens };
}

async function parse({ id, bytes, models }: BodyToParse): Promise<ParsedBody> {
  let body: unknown;
  try {
    body = secureJson.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'), undefined, PARSE_OPTIONS);
  } catch {
    return { id, refused: 'json' };
  }
  if (nestedDeeperThan(body, MAX_JSON_DEPTH)) return { id, refused: 'depth' };
  const texts: string[] = [];
  try {
    body = withStandIns(body, texts);
  } catch (error) {
    if (error instanceof Refused) return { id, refused: error.why };
    throw error;
  }
  return { id, body, texts: texts.length === 0 ? null : await longTexts(texts, modelsOf(body, models)) };
}

yieldToTheEventLoop();
parentPort!.on('message', (request: BodyToParse) => {
  parse(request).then(
    (parsed) => parentPort!.postMessage(parsed, 'texts' in parsed && parsed.texts ? [parsed.texts.json.buffer as ArrayBuffer] : []),
    (error: unknown) => parentPort!.postMessage({ id: request.id, failed: String((error as Error)?.stack ?? error) } satisfies ParsedBody),
  );
});
