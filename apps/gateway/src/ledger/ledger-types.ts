/** What the spend ledger holds and how it is asked, shared by its stores, its writer and its API. */

/** Days are UTC days: rows are grouped, kept and (in Redis) keyed by them. */
export const DAY_MS = 86_400_000;

/**
 * One request to an LLM route (chat completions, responses, embeddings, Anthropic messages) by an
 * authenticated caller, as the ledger keeps it. Costs are the integer nano-dollars the counters
 * charged (1 USD = 10^9), so the ledger's sums and the budgets agree exactly.
 */
export interface LedgerRow {
  /** When the request arrived, epoch ms. */
  readonly time: number;
  /** The gateway's id of the request (the `reqId` of its log lines). */
  readonly requestId: string;
  readonly user: string;
  readonly team: string | null;
  /** The API key's name (never its secret). */
  readonly key: string;
  /** The path asked, e.g. `/v1/chat/completions`. */
  readonly route: string;
  /** The model the client asked for. */
  readonly requestedModel: string | null;
  /** The model sent upstream (after a degradation step), null when the request never went upstream or was not settled. */
  readonly model: string | null;
  /** The degradation step the decision put the request on (0: the first rung), null without a ladder. */
  readonly degradeStep: number | null;
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** The part of `inputTokens` served from the prompt cache. */
  readonly cachedInputTokens: number;
  /** The part of `outputTokens` the model spent reasoning, where the API reports it. */
  readonly reasoningTokens: number;
  /** Tool calls the model made. */
  readonly toolCalls: number;
  /** What the counters charged for it, in nano-dollars (0 for a refusal). */
  readonly costNanoUsd: number;
  /** Whether the upstream reported the usage; false: what could be counted, and the lease's rule charged it. Null when nothing was metered. */
  readonly usageKnown: boolean | null;
  /** The HTTP status answered; 499 when the client left before the response ended. */
  readonly status: number;
  /** From arrival to the end of the response (the whole stream, for a stream). */
  readonly latencyMs: number;
  /** Why the gateway refused or failed it: the refusing limit, or the error's code; null when the upstream answered. */
  readonly refusal: string | null;
}

/** Which rows a query asks for. `from` is inclusive and `to` exclusive, epoch ms. */
export interface LedgerFilter {
  readonly user?: string;
  readonly team?: string;
  readonly key?: string;
  readonly model?: string;
  readonly from?: number;
  readonly to?: number;
}

/** Where the rows are kept: a table in the SQLite file, or sorted sets per day in Redis. */
export interface LedgerStore {
  /** Adds rows; adding a row again (same request id) keeps one copy, so a write that timed out may be retried. */
  append(rows: readonly LedgerRow[]): Promise<void>;
  /** The rows matching `filter`, newest first, in chunks. */
  rows(filter: LedgerFilter): AsyncIterable<readonly LedgerRow[]>;
  /** Deletes the rows older than `before` (epoch ms). */
  prune(before: number): Promise<void>;
  close(): Promise<void>;
}
