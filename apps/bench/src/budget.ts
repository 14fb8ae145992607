import { AGENTS, runBudgetScenario, SCENARIOS, type BudgetFigures, type StoreTarget } from '../../gateway/test/budget-scenario.js';

/**
 * The gateway's adversarial budget scenarios (apps/gateway/test/budget-scenario.ts, which its
 * budget suite asserts on) run for their figures: per misbehaving upstream, what the budget
 * charged and what the upstream billed, and by how much each passed the budget.
 */
const usd = (amount: number) => `$${amount.toFixed(4)}`;
const signed = (amount: number) => `${amount > 0 ? '+' : amount < 0 ? '−' : ''}$${Math.abs(amount).toFixed(4)}`;

function row({ scenario, budgetUsd, chargedUsd, billedUsd, calls, refused, overruns }: BudgetFigures): string {
  const cells = [
    scenario.behaviour,
    scenario.ladder ? 'yes' : 'no',
    usd(budgetUsd),
    usd(chargedUsd),
    usd(billedUsd),
    signed(chargedUsd - budgetUsd),
    signed(billedUsd - budgetUsd),
    String(calls),
    String(refused),
    String(overruns),
  ];
  return `| ${cells.join(' | ')} |`;
}

/** A Markdown table of every scenario on one store. */
export async function budgetReport(store: StoreTarget): Promise<string> {
  const rows: string[] = [
    '| upstream | ladder | budget | charged | billed | charged − budget | billed − budget | calls billed | refused | overruns |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const scenario of SCENARIOS) rows.push(row(await runBudgetScenario(store, scenario)));
  return `${AGENTS} concurrent agents of one user (openai SDK, no retries), model o3, through the gateway:\n\n${rows.join('\n')}`;
}
