import type { FastifyBaseLogger } from 'fastify';
import { AdminConflict, type AddedGroups } from '../added-groups.js';
import type { Team, UserEntry } from '../config/policy-types.js';
import type { LivePolicy } from '../policy.js';
import { ReadEverySecond } from './read-every-second.js';
import type { Records } from './records.js';

const USERS = 'added-users';
const TEAMS = 'added-teams';

/**
 * The users and teams added through the admin API, kept in the gateway's records so that they
 * survive a restart and reach every instance sharing the counters: a change is written before it
 * applies here, and every instance reads them all again every second.
 */
export class SharedAddedGroups extends ReadEverySecond {
  constructor(
    private readonly records: Records,
    private readonly policy: LivePolicy,
    log: FastifyBaseLogger,
  ) {
    super(log, 'the users and teams added through the admin API');
  }

  /** Adds the user `id` (or changes one added before); throws for a user of the file, an unknown tier or team. */
  async setUser(id: string, body: unknown): Promise<UserEntry> {
    const user = this.policy.checkAddedUser(id, body);
    await this.write(USERS, id, user);
    return user;
  }

  async removeUser(id: string): Promise<void> {
    if (!this.policy.addedGroups.users.has(id)) throw new AdminConflict(`No user added through the admin API is named ${JSON.stringify(id)}${this.policy.config.users.has(id) ? ' (the configuration file defines that one)' : ''}.`, 404);
    await this.write(USERS, id, undefined);
  }

  /** Adds the team `id` (or changes one added before); throws for a team of the file, an unknown organisation or limits core cannot use. */
  async setTeam(id: string, body: unknown): Promise<Team> {
    const team = this.policy.checkAddedTeam(id, body);
    await this.write(TEAMS, id, team);
    return team;
  }

  async removeTeam(id: string): Promise<void> {
    this.policy.checkTeamRemoval(id);
    await this.write(TEAMS, id, undefined);
  }

  /** Stores one change (`undefined`: a removal) and applies it here at once. */
  private async write(kind: typeof USERS | typeof TEAMS, id: string, value: UserEntry | Team | undefined): Promise<void> {
    this.changed();
    if (value === undefined) await this.records.remove(kind, id);
    else await this.records.put(kind, id, JSON.stringify(value));
    const { users, teams } = this.policy.addedGroups;
    const next = { users: new Map(users), teams: new Map(teams) };
    const changed: Map<string, UserEntry | Team> = kind === USERS ? next.users : next.teams;
    if (value === undefined) changed.delete(id);
    else changed.set(id, value);
    this.policy.applyAddedGroups(next as AddedGroups);
  }

  protected async read(): Promise<() => void> {
    const [users, teams] = await Promise.all([this.records.all(USERS), this.records.all(TEAMS)]);
    const parsed = <T>(stored: ReadonlyMap<string, string>) => new Map([...stored].map(([id, value]) => [id, JSON.parse(value) as T]));
    return () => this.policy.applyAddedGroups({ users: parsed<UserEntry>(users), teams: parsed<Team>(teams) });
  }
}
