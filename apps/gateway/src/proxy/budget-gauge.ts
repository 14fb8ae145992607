import type { LimitState } from '@tollgate/core';
import type { BudgetAlerts } from '../alerts/budget-alerts.js';
import type { GatewayMetrics } from '../metrics.js';
import type { Caller } from '../policy.js';

/** The id a limit of `scope` counts the caller's requests under. */
function idOf(scope: string, caller: Caller): string {
  switch (scope) {
    case 'user':
      return caller.user;
    case 'apiKey':
      return caller.keyId;
    case 'team':
      return caller.team ?? '';
    case 'org':
      return caller.org ?? '';
    default:
      return '';
  }
}

/** Who watches the budgets a decision saw: the metrics, and the alerts when configured. */
export interface BudgetWatchers {
  readonly metrics: GatewayMetrics;
  readonly alerts?: BudgetAlerts;
}

/**
 * Sets `tollgate_budget_used_ratio` for each cost limit a decision saw, so that an alerting rule
 * can fire at a fraction of any budget (a user's, a team's, an organisation's) without asking the
 * store, and hands them to the budget alerts. Limits keyed on the IP are left out: one series per
 * client address would grow without end.
 */
export function observeBudgets({ metrics, alerts }: BudgetWatchers, limits: readonly LimitState[], caller: Caller): void {
  alerts?.observe(limits, caller);
  for (const limit of limits) {
    if (limit.resource !== 'cost' || limit.scope === 'ip' || !(limit.limit > 0)) continue;
    metrics.budgetUsed.set({ limit: limit.name, scope: limit.scope, id: idOf(limit.scope, caller) }, limit.used / limit.limit);
  }
}
