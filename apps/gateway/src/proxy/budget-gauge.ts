import type { LimitState } from '@tollgate/core';
import type { BudgetAlerts, ObservedBudget } from '../alerts/budget-alerts.js';
import type { GatewayMetrics } from '../metrics.js';
import { identityOf, type Caller } from '../policy.js';

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
  const identity = identityOf(caller);
  const budgets: ObservedBudget[] = [];
  for (const limit of limits) {
    if (limit.resource !== 'cost' || limit.scope === 'ip' || !(limit.limit > 0)) continue;
    const budget = { limit, id: String(identity[limit.scope] ?? ''), ratio: limit.used / limit.limit };
    metrics.budgetUsed.set({ limit: limit.name, scope: limit.scope, id: budget.id }, budget.ratio);
    budgets.push(budget);
  }
  if (budgets.length > 0) alerts?.observe(budgets);
}
