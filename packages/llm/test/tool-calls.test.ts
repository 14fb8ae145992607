import { describe, expect, it } from 'vitest';
import { aiSdkModel } from '../src/formats/ai-sdk-model.js';
import { meterEventStream, streamMeter, toolCallsOf } from '../src/index.js';

const chat = {
  choices: [
    { index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'a', type: 'function', function: { name: 'get_weather', arguments: '{}' } }, { id: 'b', type: 'function', function: { name: 'get_time', arguments: '{}' } }] } },
    { index: 1, message: { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'custom', custom: { name: 'run_sql', input: 'select 1' } }] } },
  ],
};
const response = {
  output: [
    { type: 'reasoning', id: 'r' },
    { type: 'function_call', name: 'get_weather', call_id: 'a', arguments: '{}' },
    { type: 'web_search_call', id: 'ws', status: 'completed' },
    { type: 'message', content: [{ type: 'output_text', text: 'done' }] },
  ],
};
const message = { content: [{ type: 'text', text: 'Let me look.' }, { type: 'tool_use', id: 'a', name: 'get_weather', input: {} }, { type: 'server_tool_use', id: 'b', name: 'web_search', input: {} }] };

describe('toolCallsOf', () => {
  it('names the tool calls of a response, in order, in every format with output', () => {
    expect(toolCallsOf(chat, 'openai-chat')).toEqual(['get_weather', 'get_time', 'run_sql']);
    expect(toolCallsOf(response, 'openai-responses')).toEqual(['get_weather', 'web_search']);
    expect(toolCallsOf(message, 'anthropic')).toEqual(['get_weather', 'web_search']);
    expect(aiSdkModel.output.toolCalls({ content: [{ type: 'text', text: 'x' }, { type: 'tool-call', toolCallId: 'a', toolName: 'get_weather', input: '{}' }] })).toEqual(['get_weather']);
  });

  it('finds none in a response without tool calls, or one that is no response', () => {
    expect(toolCallsOf({ choices: [{ message: { content: 'hi' } }] }, 'openai-chat')).toEqual([]);
    expect(toolCallsOf(null, 'anthropic')).toEqual([]);
    expect(toolCallsOf('{"output":[]}', 'openai-responses')).toEqual([]);
  });
});

describe('the tool calls a stream opens', () => {
  it('chat: each call once, from its first delta, per choice', () => {
    const meter = streamMeter('openai-chat');
    meter.push({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 'a', function: { name: 'get_weather', arguments: '' } }] } }] });
    meter.push({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] } }] });
    meter.push({ choices: [{ index: 0, delta: { tool_calls: [{ index: 1, id: 'b', function: { name: 'get_time', arguments: '{}' } }] } }, { index: 1, delta: { tool_calls: [{ index: 0, id: 'c', function: { name: 'get_weather', arguments: '{}' } }] } }] });

    expect(meter.toolCalls()).toEqual(['get_weather', 'get_time', 'get_weather']);
  });

  it('Responses: each output item that calls a tool, as it is added', () => {
    const meter = streamMeter('openai-responses');
    meter.push({ type: 'response.output_item.added', output_index: 0, item: { type: 'function_call', name: 'get_weather', arguments: '' } });
    meter.push({ type: 'response.function_call_arguments.delta', delta: '{}' });
    meter.push({ type: 'response.output_item.done', output_index: 0, item: { type: 'function_call', name: 'get_weather', arguments: '{}' } });
    meter.push({ type: 'response.output_item.added', output_index: 1, item: { type: 'web_search_call', id: 'ws' } });

    expect(meter.toolCalls()).toEqual(['get_weather', 'web_search']);
  });

  it('Anthropic: each tool_use block, as it starts', () => {
    const meter = streamMeter('anthropic');
    meter.push({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    meter.push({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'a', name: 'get_weather', input: {} } });
    meter.push({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{}' } });

    expect(meter.toolCalls()).toEqual(['get_weather']);
  });

  it('meterEventStream hands them to its callback with the usage', async () => {
    const events = [
      { type: 'message_start', message: { model: 'claude-haiku-4-5', usage: { input_tokens: 10, output_tokens: 1 } } },
      { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'a', name: 'get_weather', input: {} } },
      { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 12 } },
    ];
    const body = new Response(events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join('')).body!;
    let seen: readonly string[] | undefined;

    await new Response(meterEventStream(body, 'anthropic', undefined, (_usage, end) => (seen = end.toolCalls))).text();

    expect(seen).toEqual(['get_weather']);
  });
});
