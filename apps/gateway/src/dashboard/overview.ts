import type { DegradeStep, DegradeStepConfig, LimitState } from '@tollgate/core';
import { groupOf } from '../groups.js';
import type { LivePolicy } from '../policy.js';
import type { Activity, Denial, MinuteTotals } from './activity.js';

/** One limit as the dashboard draws it: JSON-safe (`Infinity` becomes null). */
export type LimitView = Omit<LimitState, 'resetAt' | 'retryAfterMs'> & { resetAt: number | null };

export interface UserView {
  id: string;
  tier: string;
  /** The tier the configuration file gives the user (differs after an admin change). */
  fileTier: string;
  /** The user's own limits (and global ones), live from the store. */
  limits: LimitView[];
  /** The daily (or other) USD budget: what the degradation ladder follows, else the first cost limit. */
  spend: { limit: string; used: number; of: number } | null;
  /** The degradation step the next request would get, and the ladder it is on. */
  degrade: (DegradeStep & { budget: string; steps: DegradeStepConfig[] }) | null;
  keys: Array<{ id: string; limits: LimitView[] }>;
}

export interface TeamView {
  id: string;
  org: string | null;
  /** `file` for a team of the configuration file, `admin` for one added through the admin API. */
  source: 'file' | 'admin';
  users: string[];
  /** The team's limits and its organisation's, live from the store; null while no user is in it (nothing counts against them). */
  limits: LimitView[] | null;
}

export interface Overview {
  now: number;
  /** `simulated` in demo mode, else the upstream's base URL. */
  upstream: string;
  store: string;
  tiers: string[];
  users: UserView[];
  teams: TeamView[];
  hour: MinuteTotals[];
  denials: readonly Denial[];
}

const view = ({ retryAfterMs: _, resetAt, ...state }: LimitState): LimitView => ({ ...state, resetAt: Number.isFinite(resetAt) ? resetAt : null });

/** Everything the dashboard shows, read from the store (limits, budgets, steps) and this process (traffic). */
export async function overview(policy: LivePolicy, activity: Activity, about: { upstream: string; store: string }): Promise<Overview> {
  const { config, limiter } = policy;
  const users = await Promise.all(
    [...config.users].map(async ([id, entry]): Promise<UserView> => {
      const tier = policy.tierOf(id);
      const ladder = config.tiers[tier]?.degrade;
      // The user's own limits, and their team's and organisation's, which they share.
      const identity = { user: id, ...groupOf(config, id) };
      // `check` charges nothing: it says which step the next request would be on.
      const [limits, next, keys] = await Promise.all([
        limiter.usage(identity),
        ladder ? limiter.check(identity) : undefined,
        Promise.all(policy.keysOf(id).map(async (key) => ({ id: key.id, limits: (await limiter.usage({ user: id, apiKey: key.id })).filter((l) => l.scope === 'apiKey').map(view) }))),
      ]);
      const budget = limits.find((l) => l.name === ladder?.budget && l.resource === 'cost') ?? limits.find((l) => l.resource === 'cost');
      return {
        id,
        tier,
        fileTier: entry.tier,
        limits: limits.map(view),
        spend: budget ? { limit: budget.name, used: budget.used, of: budget.limit } : null,
        degrade: ladder && next?.degrade ? { ...next.degrade, budget: ladder.budget, steps: ladder.steps } : null,
        keys,
      };
    }),
  );
  return { now: Date.now(), ...about, tiers: Object.keys(config.tiers), users, teams: await teamViews(policy), hour: activity.hour(), denials: activity.recentDenials() };
}

/** Each team's limits and its organisation's, read as one of its users sees them (the limiter decides per user). */
function teamViews(policy: LivePolicy): Promise<TeamView[]> {
  const { config, limiter, addedGroups } = policy;
  return Promise.all(
    [...config.teams].map(async ([id, team]): Promise<TeamView> => {
      const users = [...config.users].filter(([, user]) => user.team === id).map(([user]) => user);
      const shared = users.length === 0 ? null : (await limiter.usage({ user: users[0]!, ...groupOf(config, users[0]!) })).filter((l) => l.scope === 'team' || l.scope === 'org');
      return { id, org: team.org ?? null, source: addedGroups.teams.has(id) ? 'admin' : 'file', users, limits: shared && shared.map(view) };
    }),
  );
}
