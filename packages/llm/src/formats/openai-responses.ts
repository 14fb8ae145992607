import type { Usage } from '@tollgate/core';
import { describeValue, invalidInput } from '../errors.js';
import { estimateRequest, type EstimateOptions, type LlmDemand } from '../estimate.js';
import { isObject, names, requireObject, type Json } from '../json.js';
import { outputPerChoice } from '../output.js';
import { addContent, addDefinitions, addPart, type Prompt } from '../prompt.js';
import { Meter } from '../stream-meter.js';
import { consistent, reports, tokenCount, usageOf, type CallTokens, type UsageOptions } from '../usage.js';
import { wireFormat } from './format.js';
import { OPENAI_PER_MESSAGE, OPENAI_REPLY_PRIMING, OPENAI_TOOLS_OVERHEAD } from './openai-framing.js';

const OUTPUT_FIELDS = ['max_output_tokens'] as const;

/**
 * Estimates an OpenAI Responses API request (`{ model, instructions, input, tools,
 * max_output_tokens }`). Conversation state kept by the server (`previous_response_id`,
 * `conversation`) is not visible here and is not counted.
 *
 * @example await estimateResponse({ model: 'gpt-5', input: 'Write a haiku', max_output_tokens: 500 })
 */
export function estimateResponse(body: unknown, options?: EstimateOptions): Promise<LlmDemand> {
  return estimateRequest(body, 'the responses request', options, (request, model, { defaultMaxTokens, imageTokens }) => {
    const { input, instructions, tools } = request;
    const prompt: Prompt = { texts: [], fixed: OPENAI_REPLY_PRIMING };
    if (typeof instructions === 'string') {
      prompt.texts.push('system', instructions);
      prompt.fixed += OPENAI_PER_MESSAGE;
    }
    if (typeof input === 'string') {
      prompt.texts.push('user', input);
      prompt.fixed += OPENAI_PER_MESSAGE;
    } else if (Array.isArray(input)) {
      input.forEach((raw, index) => {
        const item = requireObject(raw, `input[${index}]`);
        prompt.fixed += OPENAI_PER_MESSAGE;
        if ('content' in item) {
          if (typeof item.role === 'string') prompt.texts.push(item.role);
          addContent(prompt, item.content, imageTokens);
        } else {
          addPart(prompt, item, imageTokens);
        }
      });
    } else if (input !== undefined) {
      throw invalidInput(`the responses request's input must be a string or an array of items, got ${describeValue(input)}`);
    }
    addDefinitions(prompt, tools, 'tools', OPENAI_TOOLS_OVERHEAD);
    if (typeof request.text === 'object' && request.text !== null) prompt.texts.push(JSON.stringify(request.text));
    return { prompt, outputTokens: outputPerChoice(request, OUTPUT_FIELDS, model, defaultMaxTokens) };
  });
}

/** The tokens of an OpenAI Responses API `usage` object, or `undefined` when it lacks the input or the output count. */
function responseTokens(usage: Json, model: string | undefined): CallTokens | undefined {
  const details = isObject(usage.input_tokens_details) ? usage.input_tokens_details : {};
  const outputDetails = isObject(usage.output_tokens_details) ? usage.output_tokens_details : {};
  const tokens: CallTokens = {
    model,
    inputTokens: tokenCount(usage.input_tokens, 'usage.input_tokens'),
    outputTokens: tokenCount(usage.output_tokens, 'usage.output_tokens'),
    cachedInputTokens: tokenCount(details.cached_tokens, 'usage.input_tokens_details.cached_tokens'),
    reasoningTokens: tokenCount(outputDetails.reasoning_tokens, 'usage.output_tokens_details.reasoning_tokens'),
  };
  return reports(usage, 'input_tokens') && reports(usage, 'output_tokens') ? consistent(tokens, 'usage') : undefined;
}

/**
 * The usage of an OpenAI Responses API response (`input_tokens`, `output_tokens`,
 * `input_tokens_details.cached_tokens`), or `undefined` when it carries none or lacks a count.
 * Throws `InvalidInputError` for a count that is not a whole, non-negative number.
 *
 * @example await lease.record(openaiResponseUsage(response, { prices, model: body.model })!)
 */
export function openaiResponseUsage(response: unknown, options?: UsageOptions): Usage | undefined {
  return usageOf(response, 'a response', responseTokens, options);
}

/**
 * The tool an output item calls: a function's (or custom tool's, or MCP server tool's) name, or a
 * built-in tool's, from its item type (`web_search_call` is `web_search`); none for other items.
 */
function toolOfItem(item: unknown): string | undefined {
  if (!isObject(item) || typeof item.type !== 'string') return undefined;
  if (item.type === 'function_call' || item.type === 'custom_tool_call' || item.type === 'mcp_call') return typeof item.name === 'string' ? item.name : undefined;
  return item.type.endsWith('_call') ? item.type.slice(0, -'_call'.length) : undefined;
}

/** How OpenAI starts every event's data: with its type. */
const TYPE_FIRST = '{"type":"';

class OpenAIResponsesMeter extends Meter {
  /** A delta (of output text, a function's arguments, reasoning…): only the terminal events carry a response, and a usage. */
  protected override textOnly(data: string): boolean {
    if (!data.startsWith(TYPE_FIRST)) return false;
    const end = data.indexOf('"', TYPE_FIRST.length);
    return end > 0 && data.slice(TYPE_FIRST.length, end).endsWith('.delta') && !data.includes('"response":');
  }

  push(event: unknown): void {
    if (!isObject(event) || typeof event.type !== 'string') return;
    const response = isObject(event.response) ? event.response : undefined;
    if (response && typeof response.model === 'string' && response.model !== '') this.model = response.model;
    if (event.type.endsWith('.delta')) this.addText(event.delta);
    if (event.type === 'response.output_item.added') this.addToolCall(toolOfItem(event.item));
    // Only the terminal events (`response.completed`, `.incomplete`, `.failed`) carry a usage.
    if (response && isObject(response.usage)) this.report(response.usage, responseTokens, true);
  }
}

/** The OpenAI Responses API: `POST /v1/responses`. */
export const openaiResponses = wireFormat({
  name: 'openai-responses',
  sdkCall: 'responses.create',
  path: '/responses',
  estimate: estimateResponse,
  usage: openaiResponseUsage,
  output: {
    fields: OUTPUT_FIELDS,
    text: (response) => (isObject(response) && Array.isArray(response.output) ? JSON.stringify(response.output) : ''),
    toolCalls: (response) => names((isObject(response) && Array.isArray(response.output) ? response.output : []).map(toolOfItem)),
  },
  stream: { meter: (options): Meter => new OpenAIResponsesMeter(options) },
});
