import { ALL_ALGORITHMS, ConfigurationError, createLimiter, type LimitConfig, type Store } from '@tollgate/core';
import { genaiPrices } from '@tollgate/llm';
import { GROUP_SCOPES, limiterTiers } from '../groups.js';
import type { GatewayPolicy } from './policy-types.js';
import { parsePath, type ConfigSource, type Path } from './source.js';

/** Stands in for the real store while the policy is checked: building a limiter never calls it. */
const CHECK_STORE: Store = {
  capabilities: { algorithms: ALL_ALGORITHMS },
  apply: () => Promise.reject(new Error('the configuration check store is never used')),
};

/**
 * The scopes a limit may key on in the gateway: every request's identity has its key's user and id
 * and the client's IP (and the user's team and organisation, when it has them), and `global` is
 * everyone's. Core also knows `session`, which no gateway
 * request has: a limit on it would never apply, and a tier keyed on it alone would refuse everyone.
 */
const GATEWAY_SCOPES = ['user', 'apiKey', 'ip', 'global', ...GROUP_SCOPES];

/** How to fix a bad value, by the option core names in its message. */
const FIXES: Record<string, string> = {
  name: 'name the limit with lowercase letters, digits, "_", "." or "-", starting with a letter, unique in its tier',
  scope: 'key the limit on user, apiKey, ip, team, org or global (global: every request together)',
  resource: 'count requests, tokens, cost (USD) or concurrency (requests in flight)',
  limit: 'set limit to a number of at least 0 (0 forbids): whole numbers for requests, tokens and concurrency, USD for cost',
  window: 'a rolling window: a duration such as 30s, 1m, 1h or 1d (or ms as a number)',
  reset: 'a calendar period: { every: day } (or week, month; timeZone defaults to UTC)',
  algorithm: 'leave algorithm out, or use sliding-log, sliding-window or token-bucket',
  budget: 'name one of the tier\'s requests, tokens or cost limits (the ladder follows its usage)',
  steps: 'list the steps in order of usage ratio; each has below: (0 to 1, rising) except the last, and a model: and/or maxTokens:',
  below: 'a usage ratio between 0 and 1, higher than the step before; the last step has none',
  maxTokens: 'a whole number of at least 1',
  model: 'the model name to send upstream on this step, e.g. gpt-4o-mini',
  lease: 'lease options are ttl (a duration), maxSteps and maxToolCalls (whole numbers), and onUnknownUsage (reservation or counted)',
};
const DEFAULT_FIX = 'see the options in apps/gateway/README.md';

/** Core's advice on how to call the library (`; declare a custom one with createLimiter(...)`): no help in a file. */
const LIBRARY_ADVICE = /; [^;]*\bcreateLimiter\(.*$/s;

/** A path-like first word of a core message, relative to where core says the error is. */
const LEADING_PATH = /^([A-Za-z][\w-]*(?:\.[A-Za-z][\w-]*|\[\d+\])*)/;

/**
 * Checks the limits, tiers, degradation ladders and prices the way the gateway will use them, with
 * core's and @tollgate/llm's own validation, and reports their errors at the file's line: core
 * names the culprit by path (`tiers.free.limits[0] ("rpm"): limit must be ...`), which is mapped
 * back to the file.
 */
export function checkPolicy(policy: GatewayPolicy, source: ConfigSource): void {
  try {
    genaiPrices({ overrides: policy.prices });
  } catch (error) {
    source.fail(['prices'], messageOf(error), 'give each model { input, output } in USD per million tokens (cachedInput optional)');
  }
  const check = (run: () => void, prefix: Path = []) => {
    try {
      run();
    } catch (error) {
      if (!(error instanceof ConfigurationError)) throw error;
      const { path, problem } = locate(error.message.replace(/^\[tollgate\] /, ''), source, prefix);
      const field = [...path].reverse().find((part): part is string => typeof part === 'string' && Object.hasOwn(FIXES, part));
      source.fail(path, problem, field ? FIXES[field]! : DEFAULT_FIX);
    }
  };
  check(() => createLimiter({ store: CHECK_STORE, scopes: GROUP_SCOPES, limits: policy.limits, tiers: policy.tiers, tierOf: () => Object.keys(policy.tiers)[0]! }));
  for (const [kind, groups] of [['teams', policy.teams], ['orgs', policy.orgs]] as const) {
    for (const [id, { limits }] of groups) if (limits.length > 0) check(() => createLimiter({ store: CHECK_STORE, scopes: GROUP_SCOPES, limits }), [kind, id]);
  }
  checkGroups(policy, source);
  // With every part sound and no name shared, the tiers joined with the groups' limits are too.
  createLimiter({ store: CHECK_STORE, scopes: GROUP_SCOPES, limits: policy.limits, tiers: limiterTiers(policy), tierOf: () => Object.keys(policy.tiers)[0]! });
  checkScopes(policy, source);
}

/** Fails on the first limit keyed on a scope core knows but no gateway request has. */
function checkScopes(policy: GatewayPolicy, source: ConfigSource): void {
  const lists: Array<[Path, LimitConfig[]]> = [[['limits'], policy.limits], ...Object.entries(policy.tiers).map(([name, tier]): [Path, LimitConfig[]] => [['tiers', name, 'limits'], tier.limits as LimitConfig[]])];
  for (const [where, limits] of lists) {
    limits.forEach(({ scope }, index) => {
      if (!GATEWAY_SCOPES.includes(scope)) {
        source.fail([...where, index, 'scope'], `scope "${scope}" never applies in the gateway: a request's identity is its user, its API key and its IP (and its user's team and organisation)`, FIXES.scope!);
      }
    });
  }
}

/**
 * Where in the file core's message points, as precisely as the file allows, and the rest of the
 * message; `prefix` is where the options core was given sit in the file (a team's, say).
 */
function locate(message: string, source: ConfigSource, prefix: Path = []): { path: Path; problem: string } {
  const match = /^([A-Za-z][\w.[\]-]*)(?: \("[^"]*"\))?:? (.*)$/s.exec(message);
  if (!match) return { path: prefix, problem: message };
  let path = [...prefix, ...parsePath(match[1]!)];
  const problem = match[2]!;
  if (!source.has(path.slice(0, prefix.length + 1))) return { path: prefix, problem: message };
  // "limit must be ...", "steps[1].below must be ...": the option inside the named place.
  const inner = LEADING_PATH.exec(problem)?.[1];
  if (inner !== undefined) {
    const deeper = [...path, ...parsePath(inner)];
    if (source.has(deeper)) path = deeper;
  }
  return { path, problem: problem.replace(LIBRARY_ADVICE, '') };
}

function messageOf(error: unknown): string {
  return (error as Error)?.message?.replace(/^\[tollgate\] (\[llm\] )?/, '') ?? String(error);
}

/**
 * A team's limits key on `team` and an organisation's on `org` (their counters are the group's),
 * and their names are their own: a user's requests count against the tier's, the team's and the
 * organisation's limits in one decision, where two of one name would be one limit.
 */
function checkGroups(policy: GatewayPolicy, source: ConfigSource): void {
  const tierNames = new Set([...policy.limits, ...Object.values(policy.tiers).flatMap((tier) => tier.limits as LimitConfig[])].map((limit) => limit.name));
  for (const [kind, scope, groups] of [['teams', 'team', policy.teams], ['orgs', 'org', policy.orgs]] as const) {
    for (const [id, { limits }] of groups) {
      limits.forEach(({ name, scope: keyed }, index) => {
        const at: Path = [kind, id, 'limits', index];
        if (keyed !== scope) source.fail([...at, 'scope'], `a ${scope}'s limit keys on scope ${scope}, got "${keyed}"`, `set scope: ${scope} (its counter is shared by the ${scope}'s users); a limit per user belongs in a tier`);
        if (tierNames.has(name)) source.fail([...at, 'name'], `the name "${name}" is a tier's limit's too`, `name the ${scope}'s limit apart, e.g. ${scope}-${name}`);
      });
    }
  }
  for (const [id, { org, limits }] of policy.teams) {
    const clash = org === undefined ? undefined : limits.findIndex(({ name }) => policy.orgs.get(org)!.limits.some((limit) => limit.name === name));
    if (clash !== undefined && clash >= 0) source.fail(['teams', id, 'limits', clash, 'name'], `the name "${limits[clash]!.name}" is the team's organisation's limit's too`, 'name the team\'s limit apart from its organisation\'s');
  }
}
