import { describeValue } from '../util/describe-value.js';
import { ConfigurationError, InvalidInputError } from '../errors.js';
import { sha256 } from '../util/sha256.js';

/**
 * Who is calling, in several dimensions at once. A limit keys on one of them (its scope); a limit
 * whose scope is missing (`undefined` or `null`) does not apply. Values are compared byte for byte:
 * no trimming, no case folding. `Scope` names the custom scopes: a limiter made by `createLimiter`
 * takes only the built-in fields and the `scopes` it declares, so a misspelt field does not compile.
 * (`Identity` alone accepts any field, and the limiter checks it at run time.)
 *
 * @example { user: 'u_123', apiKey: 'key_abc', ip: '203.0.113.9' }
 */
export type Identity<Scope extends string = string> = BuiltInIdentity & { [K in Scope]?: IdentityValue };

/** One identity field: a string, or `undefined` / `null` when the scope does not apply to the caller. */
export type IdentityValue = string | null | undefined;

/** The identity fields every limiter knows. */
export interface BuiltInIdentity {
  user?: IdentityValue;
  apiKey?: IdentityValue;
  ip?: IdentityValue;
  session?: IdentityValue;
}

/** The scope every caller shares. */
export const GLOBAL_SCOPE = 'global';

/** The identity fields every limiter knows; others are declared with `createLimiter({ scopes })`. */
export const BUILT_IN_SCOPES: readonly string[] = ['user', 'apiKey', 'ip', 'session'];

const SCOPE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/**
 * The scopes one limiter accepts: the built-in ones, `global`, and the custom ones it declares. A
 * typo must never turn a limit off, so a limit or an identity naming anything else is an error.
 */
export class KnownScopes {
  private readonly fields: ReadonlySet<string>;

  constructor(custom: unknown) {
    if (custom !== undefined && !Array.isArray(custom)) throw new ConfigurationError(`scopes must be an array of custom scope names, e.g. ['team', 'org'], got ${describeValue(custom)}`);
    const fields = new Set(BUILT_IN_SCOPES);
    for (const scope of (custom ?? []) as unknown[]) {
      if (typeof scope !== 'string' || !SCOPE_NAME.test(scope)) {
        throw new ConfigurationError(`scopes: a custom scope is a letter then up to 63 letters, digits, "_" or "-", got ${describeValue(scope)}`);
      }
      if (fields.has(scope) || scope === GLOBAL_SCOPE) throw new ConfigurationError(`scopes: "${scope}" is built in; declare only custom scopes`);
      fields.add(scope);
    }
    this.fields = fields;
  }

  /** The names, for messages: `user, apiKey, ip, session, global` and the custom ones. */
  list(): string {
    return [...this.fields, GLOBAL_SCOPE].join(', ');
  }

  /** Whether a limit may key on `scope`. */
  knows(scope: string): boolean {
    return scope === GLOBAL_SCOPE || this.fields.has(scope);
  }

  /** Throws `InvalidInputError` for an identity with a field that is no scope. */
  assertIdentity(identity: Identity): void {
    for (const field in identity) {
      if (!this.fields.has(field)) {
        throw new InvalidInputError(`identity.${field} is not a scope of this limiter (scopes: ${[...this.fields].join(', ')}); declare custom scopes with createLimiter({ scopes })`);
      }
    }
  }
}

/** Longer identity values are refused rather than hashed, to bound the work one request can cause. */
export const MAX_IDENTITY_VALUE_LENGTH = 65_536;
/** Encoded values longer than this are replaced by their SHA-256, keeping keys short. */
const MAX_ENCODED_LENGTH = 128;
/** `SAFE[c]` is 1 for the character codes `[A-Za-z0-9_.@-]` that pass through unescaped. */
const SAFE = new Uint8Array(128);
for (const char of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.@-') SAFE[char.charCodeAt(0)] = 1;

/** Whether `value` is its own encoding (the common case): checked code by code, cheaper than a regex. */
function allSafe(value: string): boolean {
  if (value.length === 0 || value.length > MAX_ENCODED_LENGTH) return false;
  for (let i = 0; i < value.length; i++) if (SAFE[value.charCodeAt(i)] !== 1) return false;
  return true;
}

/**
 * The value of `scope` in `identity`, or `undefined` when the scope does not apply to this caller.
 * Throws `InvalidInputError` for a value that is not a non-empty string.
 */
export function identityValue(identity: Identity, scope: string): string | undefined {
  if (scope === GLOBAL_SCOPE) return GLOBAL_SCOPE;
  // Own fields only: a scope named `constructor` must not read Object.prototype.constructor.
  const value = Object.hasOwn(identity, scope) ? identity[scope] : undefined;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidInputError(`identity.${scope} must be a non-empty string (or undefined), got ${describeValue(value)}`);
  }
  if (value.length > MAX_IDENTITY_VALUE_LENGTH) {
    throw new InvalidInputError(
      `identity.${scope} is ${value.length} characters long; the most Tollgate accepts is ${MAX_IDENTITY_VALUE_LENGTH}`,
    );
  }
  return value;
}

/**
 * Encodes an identity value for use inside a store key. The result never contains `:`, `{`, `}`,
 * whitespace or control characters, so `a:b` + `c` cannot collide with `a` + `b:c` and a user id
 * cannot break a Redis Cluster hash tag. Characters outside `[A-Za-z0-9_.@-]` become `%XX` (code
 * units below 256) or `%uXXXX`, which is unambiguous because `%` itself is escaped. Encodings longer
 * than 128 characters are replaced by `#` and the base64url SHA-256 of the value's UTF-16 code units
 * (`#` cannot start an escaped value).
 */
export function encodeKeyPart(value: string): string {
  if (allSafe(value)) return value;
  let encoded = '';
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (SAFE[code] === 1) encoded += value[i];
    else encoded += code < 256 ? `%${hex(code, 2)}` : `%u${hex(code, 4)}`;
    if (encoded.length > MAX_ENCODED_LENGTH) return `#${hashValue(value)}`;
  }
  return encoded;
}

function hex(code: number, width: number): string {
  return code.toString(16).toUpperCase().padStart(width, '0');
}

function hashValue(value: string): string {
  // UTF-16 code units, so that distinct strings (lone surrogates included) never share bytes.
  const bytes = new Uint8Array(value.length * 2);
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    bytes[i * 2] = code & 0xff;
    bytes[i * 2 + 1] = code >>> 8;
  }
  return base64url(sha256(bytes));
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function base64url(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const chunk = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let c = 0; c < chars; c++) out += BASE64URL[(chunk >>> (18 - c * 6)) & 63];
  }
  return out;
}
