// OpenAI's chat format, which the Responses API renders its input into as well: every message is
// wrapped in <|start|>{role}<|message|>…<|end|>, and every reply is primed with
// <|start|>assistant<|message|>.
export const OPENAI_PER_MESSAGE = 3;
export const OPENAI_REPLY_PRIMING = 3;
// Tool definitions are rendered into the system message; counting their JSON (more verbose than
// the rendering) plus this covers the wrapper text.
export const OPENAI_TOOLS_OVERHEAD = 12;
