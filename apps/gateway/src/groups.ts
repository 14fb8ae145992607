import type { LimitConfig, PolicyConfig } from '@tollgate/core';
import type { GatewayPolicy } from './config/policy-types.js';

/** The scopes of teams' and organisations' limits, besides core's own: the limiter is told of them. */
export const GROUP_SCOPES = ['team', 'org'];

/**
 * The limiter's tier for a user of `tier` in `team`: the tier, with the team's limits and its
 * organisation's added, so that one decision covers the user's, the team's and the organisation's.
 */
export function groupTierName(tier: string, team: string | undefined): string {
  return team === undefined ? tier : `${tier}+team:${team}`;
}

/** A team's limits and its organisation's. */
export function groupLimits(policy: GatewayPolicy, team: string): LimitConfig[] {
  const { org, limits } = policy.teams.get(team)!;
  return [...limits, ...(org === undefined ? [] : policy.orgs.get(org)!.limits)];
}

/**
 * Every tier the limiter decides with: the file's tiers, and each joined with each team's group
 * limits (a tier change through the admin API may put a team's user in any tier). The team's
 * counters are keyed on the team alone, so its users share them whatever their tiers.
 */
export function limiterTiers(policy: GatewayPolicy): Record<string, PolicyConfig> {
  const tiers: Record<string, PolicyConfig> = { ...policy.tiers };
  for (const [name, tier] of Object.entries(policy.tiers)) {
    for (const team of policy.teams.keys()) tiers[groupTierName(name, team)] = { ...tier, limits: [...tier.limits, ...groupLimits(policy, team)] };
  }
  return tiers;
}

/** The identity fields of a user's team and organisation, if any. */
export function groupOf(policy: GatewayPolicy, user: string): { team?: string; org?: string } {
  const team = policy.users.get(user)?.team;
  if (team === undefined) return {};
  const org = policy.teams.get(team)?.org;
  return { team, ...(org !== undefined && { org }) };
}
