type Body = Record<string, unknown>;

const isObject = (value: unknown): value is Body => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * How an API's request names the tools it offers the model, as the model's calls name them (what a
 * `toolCalls` limit's `tool` counts): chat's function or custom tools, the Responses API's
 * function tools by name and built-in ones by type, Anthropic's tools by name.
 */
export type ToolName = (tool: Body) => string | undefined;

export const chatToolName: ToolName = (tool) => {
  const named = isObject(tool.function) ? tool.function : isObject(tool.custom) ? tool.custom : undefined;
  return typeof named?.name === 'string' ? named.name : undefined;
};

// A built-in tool's calls are named by its type (`web_search_call` is `web_search`), preview or not.
export const responsesToolName: ToolName = (tool) => (typeof tool.name === 'string' ? tool.name : typeof tool.type === 'string' ? tool.type.replace(/_preview$/, '') : undefined);

export const anthropicToolName: ToolName = (tool) => (typeof tool.name === 'string' ? tool.name : undefined);

/** The names of the tools `body` offers the model. */
export function offeredTools(body: Body, nameOf: ToolName): string[] {
  if (!Array.isArray(body.tools)) return [];
  return body.tools.flatMap((tool) => {
    const name = isObject(tool) ? nameOf(tool) : undefined;
    return name === undefined ? [] : [name];
  });
}

/**
 * `body` without the tools named in `removed`; without `tools` (and the choice of one) when none is
 * left, since an API refuses a tool choice without tools; and without a `tool_choice` that names a
 * removed tool, so the model chooses among the rest.
 */
export function withoutTools(body: Body, removed: ReadonlySet<string>, nameOf: ToolName): Body {
  const tools = (body.tools as unknown[]).filter((tool) => !(isObject(tool) && removed.has(nameOf(tool) ?? '')));
  const { tools: _, tool_choice: choice, parallel_tool_calls: parallel, ...rest } = body;
  if (tools.length === 0) return rest;
  const chosen = isObject(choice) ? (isObject(choice.function) ? choice.function.name : choice.name) : undefined;
  return { ...rest, tools, ...(choice !== undefined && !(typeof chosen === 'string' && removed.has(chosen)) && { tool_choice: choice }), ...(parallel !== undefined && { parallel_tool_calls: parallel }) };
}
