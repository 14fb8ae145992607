/** One server-sent event: its `event:` name (if any) and its `data:` lines joined by newlines. */
export interface ServerSentEvent {
  event?: string;
  data: string;
}

/**
 * An incremental parser of `text/event-stream` bytes (or text), per the HTML spec: lines end in
 * LF, CRLF or CR, `data:` lines of one event are joined, comments are skipped, a blank line ends an
 * event. Chunks may split anywhere, a UTF-8 character included.
 *
 * @example
 * const parser = sseParser();
 * for (const event of parser.push(bytes)) console.log(event.event, event.data);
 */
export function sseParser(): { push(chunk: Uint8Array | string): ServerSentEvent[]; end(): ServerSentEvent[] } {
  const decoder = utf8Decoder();
  let buffer = '';
  /** The event's data lines so far, joined by newlines (`undefined`: none yet). */
  let data: string | undefined;
  let event: string | undefined;
  /** The previous chunk ended in CR: an LF starting this one belongs to it. */
  let pendingCR = false;

  const line = (text: string, out: ServerSentEvent[]) => {
    if (text === '') {
      if (data !== undefined) out.push(event === undefined ? { data } : { event, data });
      data = undefined;
      event = undefined;
      return;
    }
    if (text.charCodeAt(0) === COLON) return;
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    const value = colon < 0 ? '' : text.slice(text.charCodeAt(colon + 1) === SPACE ? colon + 2 : colon + 1);
    if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
    else if (field === 'event') event = value;
  };

  const drain = (text: string): ServerSentEvent[] => {
    const out: ServerSentEvent[] = [];
    if (pendingCR && text.charCodeAt(0) === LF) text = text.slice(1);
    pendingCR = false;
    buffer += text;
    let start = 0;
    if (!buffer.includes('\r')) {
      // Lines ended by LF alone, as every provider sends them: found by the engine's own search.
      for (let end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n', start)) {
        line(buffer.slice(start, end), out);
        start = end + 1;
      }
    } else {
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer.charCodeAt(i);
        if (c !== LF && c !== CR) continue;
        line(buffer.slice(start, i), out);
        if (c === CR) {
          if (i + 1 === buffer.length) pendingCR = true;
          else if (buffer.charCodeAt(i + 1) === LF) i++;
        }
        start = i + 1;
      }
    }
    buffer = buffer.slice(start);
    return out;
  };

  return {
    push: (chunk) => drain(typeof chunk === 'string' ? chunk : decoder.decode(chunk)),
    // An event not ended by a blank line is incomplete and is dropped, as browsers do.
    end: () => drain(decoder.end()),
  };
}

/**
 * Decodes every chunk that ends on a whole character (an SSE chunk ends in a newline): one decoder
 * serves every stream. A byte-order mark is kept by the decoders, and dropped at a stream's start only.
 */
const wholeChunks = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * UTF-8 text from chunks split anywhere, as one decoder of the whole stream would give it: a stream
 * gets a decoder of its own, which keeps the bytes of a character split between two chunks, only
 * once a chunk ends inside one.
 */
function utf8Decoder(): { decode(chunk: Uint8Array): string; end(): string } {
  let split: TextDecoder | undefined;
  let started = false;
  const text = (decoded: string) => {
    if (started || decoded === '') return decoded;
    started = true;
    return decoded.charCodeAt(0) === BOM ? decoded.slice(1) : decoded;
  };
  return {
    decode(chunk) {
      if (split === undefined && chunk.length > 0 && chunk[chunk.length - 1]! < 0x80) return text(wholeChunks.decode(chunk));
      split ??= new TextDecoder('utf-8', { ignoreBOM: true });
      return text(split.decode(chunk, { stream: true }));
    },
    end: () => text(split?.decode() ?? ''),
  };
}

const LF = 10;
const CR = 13;
const COLON = 58;
const SPACE = 32;
const OPEN_BRACE = 123;
const BOM = 0xfeff;

/** An event as `text/event-stream` text: its `event:` line if named, a `data:` line per line of data, and the blank line that ends it. */
export function eventText({ event, data }: ServerSentEvent): string {
  const lines = data.includes('\n') ? data.split('\n').map((line) => `data: ${line}\n`).join('') : `data: ${data}\n`;
  return `${event === undefined ? '' : `event: ${event}\n`}${lines}\n`;
}

/**
 * The JSON of an event's data, every provider's event being an object; `undefined` for anything
 * else (chat's `[DONE]`, an empty event, data that is not JSON), without the cost of a failed parse.
 */
export function eventJson(data: string): unknown {
  if (data.charCodeAt(0) !== OPEN_BRACE) return undefined;
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}
