/**
 * Running commands on the one ioredis connection every request shares. Every command goes through
 * `callBuffer`, so replies arrive as raw bytes and binary values survive.
 *
 * Redis error replies become outcomes (they are answers, passed to the caller verbatim). Anything
 * else (connection lost, retries exhausted) is thrown: the request failed, not the command.
 */
import { ReplyError, type Redis } from 'ioredis';
import type { RedisCommand } from './protocol.js';

/** What one command did: a reply, or Redis' error text. */
export type Outcome = { reply: unknown } | { error: string };

/** A transaction Redis refused to run because a command could not be queued. Nothing ran. */
export interface Aborted {
  aborted: string;
}

function isReplyError(error: unknown): error is Error {
  return error instanceof ReplyError;
}

/** Runs one command. */
export async function runOne(redis: Redis, [name, ...args]: RedisCommand): Promise<Outcome> {
  try {
    return { reply: await redis.callBuffer(name, ...args) };
  } catch (error) {
    if (isReplyError(error)) return { error: error.message };
    throw error;
  }
}

type PipelineResult = [error: Error | null, reply: unknown][];

/**
 * Sends commands as one ioredis pipeline: one write, so no other request's command lands between
 * them, and one reply each, in order.
 */
async function sendPipeline(redis: Redis, commands: RedisCommand[]): Promise<PipelineResult> {
  const pipeline = redis.pipeline();
  for (const [name, ...args] of commands) pipeline.callBuffer(name, ...args);
  const results = (await pipeline.exec()) as PipelineResult | null;
  if (!results) throw new Error('ioredis returned no pipeline results');
  for (const [error] of results) if (error && !isReplyError(error)) throw error;
  return results;
}

/** Runs commands in order, each on its own (not atomic): one failing does not stop the rest. */
export async function runPipeline(redis: Redis, commands: RedisCommand[]): Promise<Outcome[]> {
  const results = await sendPipeline(redis, commands);
  return results.map(([error, reply]) => (error ? { error: error.message } : { reply }));
}

/**
 * Runs commands as MULTI … EXEC, so they run atomically. MULTI and EXEC are sent by hand, inside
 * one pipeline (rather than ioredis' `multi()`), to see each command's queueing reply: a command
 * Redis refused to queue (unknown, wrong arity) makes EXEC fail with EXECABORT and nothing runs.
 * That comes back as `Aborted`, naming the refused commands. A command that fails while running
 * (e.g. WRONGTYPE) is only that command's error; the others still apply, as in Redis.
 */
export async function runMultiExec(redis: Redis, commands: RedisCommand[]): Promise<Outcome[] | Aborted> {
  const results = await sendPipeline(redis, [['multi'], ...commands, ['exec']]);
  const [execError, execReply] = results[results.length - 1]!;
  if (execError) {
    const refused = commands.flatMap(([name], i) => {
      const queueError = results[i + 1]![0];
      return queueError ? [`command ${i + 1} [ ${name} ]: ${queueError.message}`] : [];
    });
    return { aborted: [execError.message, ...refused].join(' ') };
  }
  // EXEC's reply is null only when a WATCHed key changed; WATCH is refused, so this is unexpected.
  if (!Array.isArray(execReply)) throw new Error('EXEC returned no results');
  return execReply.map((reply: unknown) => (isReplyError(reply) ? { error: reply.message } : { reply }));
}
