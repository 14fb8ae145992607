import type { Usage } from '@tollgate/core';
import { describeValue, invalidInput } from '../errors.js';
import { estimateRequest, type EstimateOptions, type LlmDemand } from '../estimate.js';
import { isObject, joinStrings, names, requireObject, type Json } from '../json.js';
import { outputPerChoice } from '../output.js';
import { addDefinitions, type Prompt } from '../prompt.js';
import { Meter } from '../stream-meter.js';
import { aiSdkTokens } from '../ai-sdk.js';
import { consistent, modelName, reports, tokenCount, toUsage, type CallTokens, type UsageOptions } from '../usage.js';
import { wireFormat } from './format.js';
import { OPENAI_PER_MESSAGE, OPENAI_REPLY_PRIMING, OPENAI_TOOLS_OVERHEAD } from './openai-framing.js';

const OUTPUT_FIELDS = ['maxOutputTokens'] as const;

/**
 * Adds one part of an AI SDK prompt message: its text, an image at `imageTokens`, anything else
 * (tool calls and results, other files) by its JSON, which is no shorter than what the provider
 * renders it into.
 */
function addPromptPart(prompt: Prompt, part: unknown, imageTokens: number): void {
  if (!isObject(part)) return;
  if ((part.type === 'text' || part.type === 'reasoning') && typeof part.text === 'string') prompt.texts.push(part.text);
  else if (part.type === 'file' && typeof part.mediaType === 'string' && part.mediaType.startsWith('image/')) prompt.fixed += imageTokens;
  else prompt.texts.push(JSON.stringify(part));
}

/**
 * Estimates one call of an AI SDK language model (its call options, `{ prompt, tools,
 * maxOutputTokens }`, with `model` set to the model's id) on OpenAI's chat framing, which no
 * provider's is longer than by more than its own per-message markers: the tokenizer is the model's
 * for OpenAI models, the conservative ratio otherwise.
 */
function estimateModelCall(body: unknown, options?: EstimateOptions): Promise<LlmDemand> {
  return estimateRequest(body, 'the language model call', options, (call, model, { defaultMaxTokens, imageTokens }) => {
    const { prompt: messages, tools, responseFormat } = call;
    if (!Array.isArray(messages)) throw invalidInput(`the language model call's prompt must be an array of messages, got ${describeValue(messages)}`);
    const prompt: Prompt = { texts: [], fixed: OPENAI_REPLY_PRIMING };
    messages.forEach((raw, index) => {
      const message = requireObject(raw, `prompt[${index}]`);
      prompt.fixed += OPENAI_PER_MESSAGE;
      if (typeof message.role === 'string') prompt.texts.push(message.role);
      if (typeof message.content === 'string') prompt.texts.push(message.content);
      else if (Array.isArray(message.content)) for (const part of message.content) addPromptPart(prompt, part, imageTokens);
    });
    addDefinitions(prompt, tools, 'tools', OPENAI_TOOLS_OVERHEAD);
    if (isObject(responseFormat) && responseFormat.schema !== undefined) prompt.texts.push(JSON.stringify(responseFormat.schema));
    return { prompt, outputTokens: outputPerChoice(call, OUTPUT_FIELDS, model, defaultMaxTokens) };
  });
}

/**
 * The tokens of a language model's usage (V3 and V4: `{ inputTokens: { total, noCache, cacheRead,
 * cacheWrite }, outputTokens: { total, text, reasoning } }`), or `undefined` when it lacks the input
 * or the output count. The input's total counts the cache reads and writes, and the output's total
 * the reasoning: where a provider leaves a total out, its parts are added up. V2's usage (`ai` 5)
 * is flat, `{ inputTokens, outputTokens, totalTokens, cachedInputTokens }`, read as `aiSdkUsage`
 * reads AI SDK 5's, with the call's `providerMetadata` (Anthropic's cache writes are there).
 */
function modelTokens(usage: Json, model: string | undefined, providerMetadata?: unknown): CallTokens | undefined {
  if (!isObject(usage.inputTokens) && !isObject(usage.outputTokens)) return aiSdkTokens(usage, model, providerMetadata);
  const input = isObject(usage.inputTokens) ? usage.inputTokens : {};
  const output = isObject(usage.outputTokens) ? usage.outputTokens : {};
  const cachedInputTokens = tokenCount(input.cacheRead, 'usage.inputTokens.cacheRead');
  const cacheWriteTokens = tokenCount(input.cacheWrite, 'usage.inputTokens.cacheWrite');
  const inputParts = tokenCount(input.noCache, 'usage.inputTokens.noCache') + cachedInputTokens + cacheWriteTokens;
  const reasoningTokens = tokenCount(output.reasoning, 'usage.outputTokens.reasoning');
  const outputParts = tokenCount(output.text, 'usage.outputTokens.text') + reasoningTokens;
  const tokens: CallTokens = {
    model,
    inputTokens: Math.max(tokenCount(input.total, 'usage.inputTokens.total'), inputParts),
    outputTokens: Math.max(tokenCount(output.total, 'usage.outputTokens.total'), outputParts),
    cachedInputTokens,
    cacheWriteTokens,
    reasoningTokens,
  };
  const counted = (side: Json, parts: string[]) => ['total', ...parts].some((field) => reports(side, field));
  return counted(input, ['noCache']) && counted(output, ['text']) ? consistent(tokens, 'usage.inputTokens') : undefined;
}

/** The model a result or a `response-metadata` part names. */
const modelOf = (owner: Json): string | undefined => modelName(isObject(owner.response) ? owner.response.modelId : owner.modelId);

/** The usage of a `doGenerate` result, or `undefined` when it carries none that is usable. */
function modelCallUsage(result: unknown, options?: UsageOptions): Usage | undefined {
  const body = requireObject(result, 'the language model result');
  const tokens = isObject(body.usage) ? modelTokens(body.usage, modelOf(body), body.providerMetadata) : undefined;
  return tokens && toUsage(tokens, options?.prices, modelName(options?.model));
}

/** The text of generated content parts: text, reasoning and tool calls (their name and input). */
function contentText(parts: unknown): string {
  return joinStrings((Array.isArray(parts) ? parts : []).flatMap((part) => (isObject(part) ? [part.text, part.toolName, part.input] : [])));
}

class ModelStreamMeter extends Meter {
  /** Tool calls whose input arrived in deltas: their closing `tool-call` part repeats it. */
  private readonly streamedInputs = new Set<unknown>();

  push(part: unknown): void {
    if (!isObject(part)) return;
    switch (part.type) {
      case 'response-metadata':
        this.model = modelOf(part) ?? this.model;
        return;
      case 'text-delta':
      case 'reasoning-delta':
        this.addText(part.delta);
        return;
      case 'tool-input-delta':
        this.streamedInputs.add(part.id);
        this.addText(part.delta);
        return;
      case 'tool-call':
        this.addText(part.toolName);
        this.addToolCall(part.toolName);
        if (!this.streamedInputs.has(part.toolCallId)) this.addText(part.input);
        return;
      case 'finish':
        if (isObject(part.usage)) this.report(part.usage, (usage, model) => modelTokens(usage, model, part.providerMetadata), true);
    }
  }
}

/**
 * An AI SDK language model's calls (the `LanguageModelV4` spec, and V3's and V2's, as a middleware sees them):
 * call options, `doGenerate` results and `doStream` parts, whose `finish` part carries the usage.
 */
export const aiSdkModel = wireFormat({
  name: 'ai-sdk-model',
  sdkCall: 'doGenerate',
  fixedModel: true,
  estimate: estimateModelCall,
  usage: modelCallUsage,
  output: {
    fields: OUTPUT_FIELDS,
    text: (result) => contentText(isObject(result) ? result.content : undefined),
    toolCalls: (result) => names((isObject(result) && Array.isArray(result.content) ? result.content : []).map((part) => (isObject(part) && part.type === 'tool-call' ? part.toolName : undefined))),
  },
  stream: {
    meter: (options): Meter => new ModelStreamMeter(options),
  },
});
