import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { GatewayConfigError } from './errors.js';

/** A path into the configuration: keys and array indexes, e.g. `['tiers', 'free', 'limits', 0]`. */
export type Path = readonly (string | number)[];

/** `tiers.free.limits[0].limit`: how a path reads in messages (and in core's). */
export function formatPath(path: Path): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? part : `.${part}`)).join('');
}

/** An API key as it may be shown: its start and its end. */
export function masked(secret: string): string {
  return `${secret.slice(0, 6)}…${secret.slice(-4)}`;
}

/** The inverse of `formatPath`, for paths that core's messages name. */
export function parsePath(text: string): Path {
  const path: (string | number)[] = [];
  for (const [, key, index] of text.matchAll(/\.?([^.[\]]+)|\[(\d+)\]/g)) path.push(index === undefined ? key! : Number(index));
  return path;
}

/** Fixes for YAML syntax errors, by the `yaml` package's error code. */
const SYNTAX_FIXES: Record<string, string> = {
  DUPLICATE_KEY: 'remove or rename one of the two keys',
  BAD_INDENT: 'indent nested entries with spaces, consistently (two spaces per level), and close every [ and {',
  TAB_AS_INDENT: 'indent with spaces: YAML does not allow tabs',
  BLOCK_AS_IMPLICIT_KEY: 'put a space after each ":" and indent the nested entries under their key on lines of their own',
  MULTILINE_IMPLICIT_KEY: 'keep each "key: value" on one line, and quote values that contain ": " or " #"',
};
const SYNTAX_FIX = 'correct the YAML syntax on that line: spaces (not tabs) for indentation, a space after each ":", quotes around values containing ": " or " #"';

/**
 * How far YAML aliases (`*name`) may expand (the `yaml` package's count: uses of an anchor times
 * the aliases inside it). A configuration needs few; a file of nested aliases would otherwise
 * expand to millions of values (a "billion laughs") while the gateway reads it.
 */
const MAX_ALIAS_COUNT = 100;
const ALIAS_FIX = `use fewer aliases (*name) and anchors (&name), or write the values out: at most ${MAX_ALIAS_COUNT} expansions`;

/**
 * The parsed configuration file, remembering where each value stands so that any error names its
 * line. JSON files are read by the same parser (JSON is YAML), so they get lines too.
 */
export class ConfigSource {
  private constructor(
    readonly file: string,
    readonly value: unknown,
    private readonly document: Document,
    private readonly lines: LineCounter,
  ) {}

  /** Parses `text`; a syntax error throws a `GatewayConfigError` at its line. */
  static parse(file: string, text: string): ConfigSource {
    const lines = new LineCounter();
    const document = parseDocument(text, { lineCounter: lines, prettyErrors: false });
    const [error] = document.errors;
    if (error) {
      const line = lines.linePos(error.pos[0]).line;
      throw new GatewayConfigError(file, line, '', `malformed YAML: ${error.message.split('\n')[0]}`, SYNTAX_FIXES[error.code] ?? SYNTAX_FIX);
    }
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      // The parser throws from here, without a position: aliases past the limit, or one it cannot resolve.
      const message = (error as Error)?.message ?? String(error);
      if (/alias count/i.test(message)) throw new GatewayConfigError(file, undefined, '', `YAML aliases expand too far (${message})`, ALIAS_FIX);
      throw new GatewayConfigError(file, undefined, '', `the YAML cannot be read: ${message}`, SYNTAX_FIX);
    }
    return new ConfigSource(file, value ?? {}, document, lines);
  }

  /** Whether the file has a value at `path`. */
  has(path: Path): boolean {
    return this.document.hasIn(path);
  }

  /**
   * The line of `path`: of its key when it is a mapping entry (a nested mapping starts on the next
   * line), else of its value; a missing key reports its nearest ancestor that the file has.
   */
  lineOf(path: Path): number | undefined {
    for (let depth = path.length; depth > 0; depth--) {
      const parent = depth === 1 ? this.document.contents : this.document.getIn(path.slice(0, depth - 1), true);
      const last = path[depth - 1];
      const pair = isMap(parent) ? parent.items.find((item) => isScalar(item.key) && item.key.value === last) : undefined;
      const node = (pair?.key ?? this.document.getIn(path.slice(0, depth), true)) as { range?: [number, number, number] } | undefined;
      if (node?.range) return this.lines.linePos(node.range[0]).line;
    }
    return undefined;
  }

  /** Throws the error for the value at `path`. */
  fail(path: Path, problem: string, fix: string): never {
    // An API key is a secret: messages (and the logs a reload writes them to) show it masked.
    const shown = path.map((part, i) => (i === 1 && path[0] === 'keys' && typeof part === 'string' ? masked(part) : part));
    throw new GatewayConfigError(this.file, this.lineOf(path), formatPath(shown), problem, fix);
  }
}
