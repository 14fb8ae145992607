/**
 * The Upstash REST wire format, kept apart from HTTP and Redis so it can be read in one place:
 * turning request bodies into Redis commands, and Redis replies into JSON.
 */

/** A Redis command as sent to Redis: the name, then its arguments, all strings. */
export type RedisCommand = [name: string, ...args: string[]];

/** What a result can be on the wire. */
export type Json = null | number | string | Json[];

/** One command's outcome in a `/pipeline` or `/multi-exec` reply, and the body of a `/` reply. */
export type Entry = { result: Json } | { error: string };

/** A problem with the request itself, answered with HTTP 400 before any command runs. */
export class BadRequest extends Error {
  override name = 'BadRequest';
}

/**
 * Commands that change the state of the one connection every request shares: run for one HTTP
 * request, they would leak into (or break) the next. Upstash refuses most of these too.
 * Transactions go through `/multi-exec` instead of MULTI/EXEC on `/`.
 */
const CONNECTION_STATE_COMMANDS = new Set([
  'auth', 'client', 'discard', 'exec', 'hello', 'monitor', 'multi', 'psubscribe', 'punsubscribe', 'quit', 'reset',
  'select', 'ssubscribe', 'subscribe', 'sunsubscribe', 'sync', 'psync', 'unsubscribe', 'unwatch', 'watch',
]);

/**
 * Validates one command from a request body. `where` names it in error messages
 * (e.g. "command 3"), so a user can find the bad one in a long pipeline.
 */
export function parseCommand(value: unknown, where: string): RedisCommand {
  if (!Array.isArray(value)) throw new BadRequest(`${where} must be a JSON array such as ["GET","key"]`);
  if (value.length === 0) throw new BadRequest(`${where} is empty: it needs at least a command name`);
  const parts = value.map((part: unknown, i) => {
    // The client sends numbers and booleans as JSON (its serializer keeps them); Redis wants text.
    if (typeof part === 'string' || typeof part === 'number' || typeof part === 'boolean') return String(part);
    throw new BadRequest(`${where}, element ${i}: expected a string, number or boolean, got ${part === null ? 'null' : typeof part}`);
  });
  const [name, ...args] = parts as [string, ...string[]];
  if (CONNECTION_STATE_COMMANDS.has(name.toLowerCase())) {
    throw new BadRequest(`${where}: ${name.toUpperCase()} is not supported by upstash-bridge (it changes the state of the connection all requests share)`);
  }
  return [name, ...args];
}

/** Validates the body of `/pipeline` and `/multi-exec`: a non-empty array of commands. */
export function parseCommands(value: unknown): RedisCommand[] {
  if (!Array.isArray(value)) throw new BadRequest('the body must be a JSON array of commands such as [["SET","k","v"],["GET","k"]]');
  if (value.length === 0) throw new BadRequest('the body is an empty array: send at least one command');
  return value.map((command: unknown, i) => parseCommand(command, `command ${i + 1}`));
}

/** Parses a request body as JSON, with a message that says what was wrong. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new BadRequest(`the body is not valid JSON (${(error as Error).message})`);
  }
}

/**
 * Encodes one command's reply for the wire. With base64 on, every string is the base64 of its raw
 * bytes, except a top-level `OK`, which stays `"OK"`: the client passes a top-level `"OK"` through
 * undecoded. Nested strings are always encoded, because the client decodes every string inside an
 * array, and would turn a raw `"OK"` into `"8"`.
 *
 * ioredis' `callBuffer` hands status replies and bulk strings alike as Buffers, so a bulk string
 * whose bytes are `OK` also goes out as `"OK"`; the client reads both as `OK`, so nothing is lost.
 */
export function encodeReply(reply: unknown, base64: boolean): Json {
  if (base64 && Buffer.isBuffer(reply) && reply.length === 2 && reply.toString('latin1') === 'OK') return 'OK';
  return encodeValue(reply, base64);
}

function encodeValue(value: unknown, base64: boolean): Json {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return value;
  if (Array.isArray(value)) return value.map((element: unknown) => encodeValue(element, base64));
  // An error inside an array (a Lua table holding redis.error_reply) is data, not the command's
  // failure: it goes out as its text, encoded like any other string.
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value instanceof Error ? value.message : String(value), 'utf8');
  return base64 ? bytes.toString('base64') : bytes.toString('utf8');
}
