import type { Usage } from '@tollgate/core';
import { anthropicUsage, estimateAnthropicMessage, estimateChatCompletion, estimateEmbeddings, estimateResponse, openaiChatUsage, openaiEmbeddingsUsage, openaiResponseUsage, type EstimateOptions, type LlmDemand, type StreamFormat, type UsageOptions } from '@tollgate/llm';
import type { ApiFamily } from '../config/schema.js';
import type { Output } from './degrade.js';
import { anthropicToolName, chatToolName, responsesToolName, type ToolName } from './tools.js';

type Body = Record<string, unknown>;

/**
 * What the gateway needs to know of one API it proxies: the rest (decision, reservation,
 * upstream call, metering, settlement) is the same for every API, in `forward.ts`.
 */
export interface Api {
  /** Whose API it is: its upstream, its clients' authentication and its error shapes. */
  readonly family: ApiFamily;
  /** The path after `/v1`, here and upstream. */
  readonly path: string;
  /** What one call is called in the log (`chat completion: usage unknown, …`). */
  readonly call: string;
  estimate(body: unknown, options?: EstimateOptions): Promise<LlmDemand>;
  usage(response: unknown, options?: UsageOptions): Usage | undefined;
  /**
   * How its output is capped: the wire format @tollgate/llm caps a body for, and the request
   * fields that cap the output, in the order the API reads them. Absent for an API that generates
   * no output (embeddings): nothing to cap, and nothing a degradation step could make cheaper.
   */
  readonly output?: Output;
  /** How its requests name the tools they offer; absent for an API without tools (embeddings). */
  readonly toolName?: ToolName;
  /** Its stream's format for `meterEventStream`; absent for an API that does not stream. */
  readonly stream?: StreamFormat;
  /**
   * For a stream that reports its usage only when asked: the request asking for it, or
   * `undefined` when it already does. The events the asking added are hidden from the client.
   */
  askUsage?(body: Body): Body | undefined;
}

/** `POST /v1/chat/completions`. */
export const chatCompletions: Api = {
  family: 'openai',
  path: '/chat/completions',
  call: 'chat completion',
  estimate: estimateChatCompletion,
  usage: openaiChatUsage,
  output: { format: 'openai-chat', fields: ['max_completion_tokens', 'max_tokens'] },
  toolName: chatToolName,
  stream: 'openai-chat',
  askUsage(body) {
    const options = (body.stream_options ?? {}) as Body;
    return options.include_usage === true ? undefined : { ...body, stream_options: { ...options, include_usage: true } };
  },
};

/** `POST /v1/responses`: its terminal event (`response.completed`) carries the usage unasked. */
export const responses: Api = {
  family: 'openai',
  path: '/responses',
  call: 'response',
  estimate: estimateResponse,
  usage: openaiResponseUsage,
  output: { format: 'openai-responses', fields: ['max_output_tokens'] },
  toolName: responsesToolName,
  stream: 'openai-responses',
};

/** `POST /v1/embeddings`: input tokens only, JSON only. */
export const embeddings: Api = {
  family: 'openai',
  path: '/embeddings',
  call: 'embeddings',
  estimate: estimateEmbeddings,
  usage: openaiEmbeddingsUsage,
};

/**
 * `POST /v1/messages`, Anthropic's: its stream reports the usage unasked (`message_start` the
 * input, `message_delta` the output). A ladder step's model applies only if it is a Claude model.
 */
export const messages: Api = {
  family: 'anthropic',
  path: '/messages',
  call: 'message',
  estimate: estimateAnthropicMessage,
  usage: anthropicUsage,
  output: { format: 'anthropic', fields: ['max_tokens'], stepModels: /^claude-/ },
  toolName: anthropicToolName,
  stream: 'anthropic',
};

/** Every API the gateway proxies. */
export const APIS: readonly Api[] = [chatCompletions, responses, embeddings, messages];
