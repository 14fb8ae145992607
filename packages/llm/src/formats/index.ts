import { configurationError, describeValue } from '../errors.js';
import { anthropicMessages } from './anthropic-messages.js';
import type { WireFormat } from './format.js';
import { openaiChat } from './openai-chat.js';
import { openaiEmbeddings } from './openai-embeddings.js';
import { openaiResponses } from './openai-responses.js';

/** Every wire format this package meters. A new API is one module in this folder, listed here. */
const FORMATS = [openaiChat, openaiResponses, anthropicMessages, openaiEmbeddings] as const;

type Known = (typeof FORMATS)[number];

/** The wire formats whose streams this package reads. */
export type StreamFormat = Extract<Known, { readonly stream: object }>['name'];

/** The wire formats whose output a request caps (`withOutputCap`). */
export type OutputFormat = Extract<Known, { readonly output: object }>['name'];

/** The format a POST to `pathname` speaks, by the end of its path. */
export function formatOfPath(pathname: string): WireFormat | undefined {
  return FORMATS.find((format) => pathname.endsWith(format.path));
}

/** The format called `name` among those that have `part`; `what` names the argument in the error. */
function named<Part extends 'stream' | 'output'>(name: unknown, part: Part, what: string): WireFormat & Required<Pick<WireFormat, Part>> {
  const formats: readonly WireFormat[] = FORMATS;
  const having = formats.filter((format): format is WireFormat & Required<Pick<WireFormat, Part>> => format[part] !== undefined);
  const found = having.find((format) => format.name === name);
  if (!found) throw configurationError(`${what} must be one of ${having.map((format) => `'${format.name}'`).join(', ')}, got ${describeValue(name)}`);
  return found;
}

/** The format a stream meter is asked for by name. */
export const streamingFormat = (name: StreamFormat) => named(name, 'stream', 'stream format');

/** The format with output asked for by name (an output cap's, by default); `what` names the argument in the error. */
export const outputFormat = (name: OutputFormat, what = 'withOutputCap: format') => named(name, 'output', what);
