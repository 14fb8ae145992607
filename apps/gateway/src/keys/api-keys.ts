import { createHash, randomBytes } from 'node:crypto';
import { InvalidInputError, type LimitConfig } from '@tollgate/core';
import type { Records } from '../records/records.js';

/** An API key issued through the admin API, as stored: never its secret, only the secret's SHA-256. */
export interface IssuedKey {
  /** What logs, the dashboard and the `apiKey` scope call it: unique among the keys in force. */
  readonly name: string;
  readonly user: string;
  /** The models a request with it may ask for; absent: any. */
  readonly models?: readonly string[];
  /** Limits of its own (scope `apiKey`), which its requests count against besides its user's. */
  readonly limits?: readonly LimitConfig[];
  readonly createdAt: string;
  readonly expiresAt?: string;
  readonly revokedAt?: string;
  /** The secret's last four characters, to tell keys apart. */
  readonly last4: string;
}

export interface KeyRequest {
  readonly user: string;
  readonly name: string;
  readonly models?: readonly string[];
  /** Checked by the policy's `checkKeyLimits` before the key is issued. */
  readonly limits?: unknown;
  /** Epoch ms. */
  readonly expiresAt?: number;
}

/** A key and its secret, shown this once. */
export interface NewKey {
  readonly secret: string;
  readonly key: IssuedKey;
}

/** A request the keys cannot satisfy as asked: a name in use (409), or no key by that name (404). */
export class KeyRequestError extends Error {
  constructor(
    message: string,
    readonly statusCode: 404 | 409,
  ) {
    super(message);
    this.name = 'KeyRequestError';
  }
}

const KIND = 'api-keys';
/** How long a lookup is trusted: another instance's revocation takes effect here within it. */
const LOOKUP_TTL_MS = 1_000;
const SECRET_PREFIX = 'sk-tg-';
/** Lookups remembered at most; past it, they are forgotten all at once. */
const MAX_LOOKUPS = 10_000;

const hashOf = (secret: string) => createHash('sha256').update(secret).digest('hex');
const inForce = (key: IssuedKey, now: number) => key.revokedAt === undefined && (key.expiresAt === undefined || Date.parse(key.expiresAt) > now);

/**
 * The API keys issued through the admin API: created (the secret shown once), listed, rotated and
 * revoked, stored hashed in the gateway's records, so that every instance sharing them accepts a
 * new key at once and refuses a revoked one within a second (`LOOKUP_TTL_MS`). The keys of the
 * configuration file are not here: they stay the file's.
 */
export class ApiKeys {
  private readonly lookups = new Map<string, { key: IssuedKey | undefined; until: number }>();

  constructor(
    private readonly records: Records,
    /** The configuration's users, and the names its own keys take (an issued key may not reuse one: their counters would merge). */
    private readonly config: () => { readonly users: ReadonlyMap<string, unknown>; readonly keyNames: ReadonlySet<string> },
    private readonly limits: {
      /** A key's own limits as the policy will use them; throws `InvalidInputError` for limits it cannot. */
      check(user: string, limits: unknown): LimitConfig[];
      /** Puts the keys' limits in force here at once, after a key was issued, rotated or revoked. */
      changed(): Promise<void>;
    },
    private readonly now: () => number = Date.now,
  ) {}

  async issue(request: KeyRequest): Promise<NewKey> {
    const { users, keyNames } = this.config();
    if (!users.has(request.user)) throw new InvalidInputError(`No user is named ${JSON.stringify(request.user)}: keys belong to users of the configuration file.`);
    if (request.expiresAt !== undefined && request.expiresAt <= this.now()) throw new InvalidInputError('expiresAt must be in the future.');
    const limits = request.limits === undefined ? undefined : this.limits.check(request.user, request.limits);
    if (keyNames.has(request.name) || (await this.inForce(request.name))) throw new KeyRequestError(`A key named ${JSON.stringify(request.name)} exists: choose another name, or rotate that key.`, 409);
    return this.create({ ...request, limits });
  }

  /** The keys in force with limits of their own, by name, with their user. */
  async limitsInForce(): Promise<Map<string, { user: string; limits: readonly LimitConfig[] }>> {
    const now = this.now();
    const keys = [...(await this.records.all(KIND)).values()].map((value) => JSON.parse(value) as IssuedKey);
    return new Map(keys.filter((key) => key.limits !== undefined && inForce(key, now)).map((key) => [key.name, { user: key.user, limits: key.limits! }]));
  }

  /** Every issued key, revoked and expired ones included, newest first. */
  async list(): Promise<IssuedKey[]> {
    const keys = [...(await this.records.all(KIND)).values()].map((value) => JSON.parse(value) as IssuedKey);
    return keys.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** A new secret for the key called `name` (same user, models and expiry); the old one stops at once. */
  async rotate(name: string): Promise<NewKey> {
    const [hash, key] = await this.named(name);
    await this.revokeStored(hash, key);
    return this.create({ user: key.user, name: key.name, models: key.models, limits: key.limits, expiresAt: key.expiresAt === undefined ? undefined : Date.parse(key.expiresAt) });
  }

  async revoke(name: string): Promise<IssuedKey> {
    const [hash, key] = await this.named(name);
    return this.revokeStored(hash, key);
  }

  /** The key in force whose secret this is, if any; with `read` false, only from a lookup still remembered. */
  async find(secret: string, read = true): Promise<IssuedKey | undefined> {
    const hash = hashOf(secret);
    const now = this.now();
    let entry = this.lookups.get(hash);
    if (entry === undefined || entry.until <= now) {
      if (!read) return undefined;
      // The file's secrets never reach here; each other secret in the issued keys' form costs one
      // read of the records a second (a guessed one too, until its address has failed too often).
      const stored = secret.startsWith(SECRET_PREFIX) ? await this.records.get(KIND, hash) : undefined;
      entry = { key: stored === undefined ? undefined : (JSON.parse(stored) as IssuedKey), until: now + LOOKUP_TTL_MS };
      // Guessed secrets must not grow it without end.
      if (this.lookups.size >= MAX_LOOKUPS) this.lookups.clear();
      this.lookups.set(hash, entry);
    }
    return entry.key !== undefined && inForce(entry.key, now) ? entry.key : undefined;
  }

  private async create({ user, name, models, limits, expiresAt }: Omit<KeyRequest, 'limits'> & { readonly limits?: readonly LimitConfig[] }): Promise<NewKey> {
    const secret = `${SECRET_PREFIX}${randomBytes(24).toString('base64url')}`;
    const key: IssuedKey = {
      name,
      user,
      ...(models !== undefined && { models: [...models] }),
      ...(limits !== undefined && { limits: [...limits] }),
      createdAt: new Date(this.now()).toISOString(),
      ...(expiresAt !== undefined && { expiresAt: new Date(expiresAt).toISOString() }),
      last4: secret.slice(-4),
    };
    const hash = hashOf(secret);
    await this.records.put(KIND, hash, JSON.stringify(key));
    this.lookups.delete(hash);
    if (limits !== undefined) await this.limits.changed();
    return { secret, key };
  }

  private async revokeStored(hash: string, key: IssuedKey): Promise<IssuedKey> {
    const revoked = { ...key, revokedAt: new Date(this.now()).toISOString() };
    await this.records.put(KIND, hash, JSON.stringify(revoked));
    this.lookups.delete(hash);
    if (key.limits !== undefined) await this.limits.changed();
    return revoked;
  }

  private async inForce(name: string): Promise<boolean> {
    const now = this.now();
    return (await this.list()).some((key) => key.name === name && inForce(key, now));
  }

  /** The stored key in force called `name`, and its hash. */
  private async named(name: string): Promise<[string, IssuedKey]> {
    const now = this.now();
    for (const [hash, value] of await this.records.all(KIND)) {
      const key = JSON.parse(value) as IssuedKey;
      if (key.name === name && inForce(key, now)) return [hash, key];
    }
    throw new KeyRequestError(`No key in force is named ${JSON.stringify(name)}.`, 404);
  }
}
