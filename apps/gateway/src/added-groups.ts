import { createLimiter, InvalidInputError, type LimitConfig, type PolicyConfig, type Store } from '@tollgate/core';
import type { GatewayPolicy, Team, UserEntry } from './config/policy-types.js';
import { GROUP_SCOPES, limiterTiers } from './groups.js';

/** Users and teams made through the admin API, beside the file's. */
export interface AddedGroups {
  readonly users: ReadonlyMap<string, UserEntry>;
  readonly teams: ReadonlyMap<string, Team>;
}

export const NOTHING_ADDED: AddedGroups = { users: new Map(), teams: new Map() };

/** A request the admin API refuses because of what exists: 409 (a name the file owns, a team still in use), or 404. */
export class AdminConflict extends Error {
  constructor(
    message: string,
    readonly statusCode: 404 | 409 = 409,
  ) {
    super(message);
    this.name = 'AdminConflict';
  }
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/;

/**
 * The file's policy with the users and teams the admin added. The file's own win a name both
 * have; an added user whose tier or team is gone (the file changed), or an added team whose
 * organisation is gone, is left out until it is there again.
 */
export function withAdded(file: GatewayPolicy, added: AddedGroups): GatewayPolicy {
  if (added.users.size === 0 && added.teams.size === 0) return file;
  const teams = new Map(file.teams);
  for (const [id, team] of added.teams) if (!teams.has(id) && (team.org === undefined || file.orgs.has(team.org))) teams.set(id, team);
  const users = new Map(file.users);
  for (const [id, user] of added.users) if (!users.has(id) && Object.hasOwn(file.tiers, user.tier) && (user.team === undefined || teams.has(user.team))) users.set(id, user);
  return { ...file, users, teams };
}

/** `{ tier, team? }` for the user `id`, checked against `policy` (the file's and the added); throws saying what is wrong. */
export function addedUser(file: GatewayPolicy, policy: GatewayPolicy, id: string, body: unknown): UserEntry {
  if (!ID.test(id)) throw new InvalidInputError('A user id is 1 to 128 letters, digits, "_", ".", "@" or "-", starting with a letter or digit.');
  if (file.users.has(id)) throw new AdminConflict(`The configuration file defines the user ${JSON.stringify(id)}: change it there (or its tier with PUT /admin/api/users/${id}/tier).`);
  const { tier, team, ...rest } = objectOf(body, 'Send { "tier": "<tier>", "team"?: "<team>" }.');
  if (Object.keys(rest).length > 0 || typeof tier !== 'string' || (team !== undefined && typeof team !== 'string')) throw new InvalidInputError('Send { "tier": "<tier>", "team"?: "<team>" }.');
  if (!Object.hasOwn(policy.tiers, tier)) throw new InvalidInputError(`No tier is named ${JSON.stringify(tier)} (tiers: ${Object.keys(policy.tiers).join(', ')}).`);
  if (team !== undefined && !policy.teams.has(team)) throw new InvalidInputError(`No team is named ${JSON.stringify(team)}.`);
  return { tier, ...(team !== undefined && { team }) };
}

/**
 * `{ org?, limits }` for the team `id`, checked against `policy`: its limits in the team's scope
 * (the default), compiled with every tier's and its organisation's as the limiter will compile
 * them, so a bad limit is refused here and not met at the next sync.
 */
export function addedTeam(file: GatewayPolicy, policy: GatewayPolicy, store: Store, id: string, body: unknown): Team {
  const usage = 'Send { "org"?: "<organisation>", "limits": [{ "name": "team-usd", "resource": "cost", "limit": 100, "reset": { "every": "day" } }] }.';
  if (!ID.test(id)) throw new InvalidInputError('A team id is 1 to 128 letters, digits, "_", ".", "@" or "-", starting with a letter or digit.');
  if (file.teams.has(id)) throw new AdminConflict(`The configuration file defines the team ${JSON.stringify(id)}: change it there.`);
  const { org, limits, ...rest } = objectOf(body, usage);
  if (Object.keys(rest).length > 0 || (org !== undefined && typeof org !== 'string') || !Array.isArray(limits)) throw new InvalidInputError(usage);
  if (org !== undefined && !policy.orgs.has(org)) throw new InvalidInputError(`No organisation is named ${JSON.stringify(org)}.`);
  const scoped = limits.map((limit: unknown) => {
    if (typeof limit !== 'object' || limit === null || Array.isArray(limit)) throw new InvalidInputError(usage);
    const { scope } = limit as { scope?: unknown };
    if (scope !== undefined && scope !== 'team') throw new InvalidInputError(`A team's limit has the team's scope (team): ${JSON.stringify((limit as { name?: unknown }).name)} names scope ${JSON.stringify(scope)}.`);
    return { ...limit, scope: 'team' } as unknown as LimitConfig;
  });
  const team: Team = { ...(org !== undefined && { org }), limits: scoped };
  const probe = { ...policy, teams: new Map([[id, team]]) };
  usableLimits("The team's limits", store, policy.limits, limiterTiers(probe));
  return team;
}

/**
 * Compiles `tiers` as the limiter will (against nothing: no store call), so that limits the admin
 * sends are refused when they are sent, not met at the next sync. `what` names them in the error.
 */
export function usableLimits(what: string, store: Store, limits: readonly LimitConfig[], tiers: Record<string, PolicyConfig>): void {
  try {
    createLimiter({ store, scopes: GROUP_SCOPES, limits: [...limits], tiers, tierOf: () => Object.keys(tiers)[0]! });
  } catch (error) {
    // Core's message, without its package prefixes: this error adds its own.
    throw new InvalidInputError(`${what} cannot be used: ${(error as Error).message.replace(/^(\[[^\]]+\]\s*)+/, '')}`);
  }
}

/** Throws unless the team `id` was added through the admin API and no user is in it. */
export function checkTeamRemoval(file: GatewayPolicy, policy: GatewayPolicy, added: AddedGroups, id: string): void {
  if (file.teams.has(id)) throw new AdminConflict(`The configuration file defines the team ${JSON.stringify(id)}: remove it there.`);
  if (!added.teams.has(id)) throw new AdminConflict(`No team added through the admin API is named ${JSON.stringify(id)}.`, 404);
  const members = [...policy.users].filter(([, user]) => user.team === id).map(([user]) => user);
  if (members.length > 0) throw new AdminConflict(`Users are in the team ${JSON.stringify(id)} (${members.join(', ')}): move them out first.`);
}

function objectOf(body: unknown, usage: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidInputError(usage);
  return body as Record<string, unknown>;
}
