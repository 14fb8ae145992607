import { outputFormat, type OutputFormat } from './formats/index.js';

/**
 * The names of the tools a response calls, in order, one per call: chat's `tool_calls`, the
 * Responses API's function calls and built-in tool calls (`web_search_call` is `web_search`),
 * Anthropic's `tool_use` and `server_tool_use` blocks, an AI SDK result's `tool-call` parts. What a
 * gateway charges against `toolCalls` limits once a call has answered (`lease.tool(name)` for
 * each); a stream's are in `StreamEnd.toolCalls`, and a stream meter's `toolCalls()`.
 *
 * @example toolCallsOf(completion, 'openai-chat') // ['get_weather', 'get_time']
 */
export function toolCallsOf(response: unknown, format: OutputFormat): string[] {
  return outputFormat(format, 'toolCallsOf: format').output.toolCalls(response);
}
