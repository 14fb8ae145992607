/** A function tool call the simulated model makes. */
export interface ToolCall {
  readonly name: string;
  /** JSON text, as the API sends it. */
  readonly arguments: string;
  readonly callId: string;
}

type Json = Record<string, unknown>;

/**
 * The next function tool the simulated model calls: the request's function tools in order, one
 * per turn, each once; `undefined` once the input answers as many calls as there are tools (the
 * model then answers in text). Counting answered calls rather than remembering them keeps the
 * upstream stateless, as an agent's loop resends its whole input each turn.
 */
export function nextToolCall(tools: unknown, input: unknown, id: string): ToolCall | undefined {
  const functions = Array.isArray(tools) ? tools.filter((tool: Json) => tool?.type === 'function' && typeof tool.name === 'string') : [];
  const answered = Array.isArray(input) ? input.filter((item: Json) => item?.type === 'function_call_output').length : 0;
  const tool = functions[answered] as { name: string; parameters?: unknown } | undefined;
  if (tool === undefined) return undefined;
  return { name: tool.name, arguments: JSON.stringify(valueOf(tool.parameters)), callId: `call_${id}` };
}

/** A value that fits a JSON schema's required shape: the first of an enum, a word, 1, true, arrays empty. */
function valueOf(schema: unknown): unknown {
  const { type, properties, required, enum: choices } = (schema ?? {}) as { type?: unknown; properties?: Record<string, unknown>; required?: unknown; enum?: unknown[] };
  if (Array.isArray(choices) && choices.length > 0) return choices[0];
  switch (Array.isArray(type) ? type.find((t) => t !== 'null') : type) {
    case 'object': {
      const names = Array.isArray(required) ? (required as string[]) : Object.keys(properties ?? {});
      return Object.fromEntries(names.map((name) => [name, valueOf(properties?.[name])]));
    }
    case 'string':
      return 'Paris';
    case 'number':
    case 'integer':
      return 1;
    case 'boolean':
      return true;
    case 'array':
      return [];
    default:
      return null;
  }
}
