/** The policy part of the gateway's configuration, as the file's validation, its check and the live policy share it. */
import type { LimitConfig, PolicyConfig } from '@tollgate/core';
import type { LlmModelPrice } from '@tollgate/llm';

/** One API key the gateway accepts. */
export interface KeyEntry {
  /** What dashboards, logs and the `apiKey` scope call the key (never the secret itself). */
  readonly id: string;
  readonly user: string;
}

export interface UserEntry {
  readonly tier: string;
  readonly team?: string;
}

/** A team: its limits (shared by its users, in one counter per limit), and its organisation if any. */
export interface Team {
  readonly org?: string;
  readonly limits: LimitConfig[];
}

/** An organisation: its limits, shared by the users of all its teams. */
export interface Org {
  readonly limits: LimitConfig[];
}

/** The part of the configuration that is applied again when the file changes, without a restart. */
export interface GatewayPolicy {
  /** Limits every tier has, on top of its own (per IP, say). */
  readonly limits: LimitConfig[];
  readonly tiers: Record<string, PolicyConfig>;
  /** User id → its tier, and its team if it has one. */
  readonly users: ReadonlyMap<string, UserEntry>;
  /** Teams of users, with the limits all their users share (scope `team`). */
  readonly teams: ReadonlyMap<string, Team>;
  /** Organisations of teams, with the limits all their teams' users share (scope `org`). */
  readonly orgs: ReadonlyMap<string, Org>;
  /** Secret → the key. */
  readonly keys: ReadonlyMap<string, KeyEntry>;
  /** Prices for models genai-prices does not know (self-hosted ones), in USD per million tokens. */
  readonly prices: Record<string, LlmModelPrice>;
  /** Per tier, what a request offering a tool past its `toolCalls` limit gets (`refuse` unless the tier says). */
  readonly overToolLimit: Readonly<Record<string, OverToolLimit>>;
}

/**
 * What a request that offers the model a tool whose `toolCalls` limit is spent gets: a 429
 * (`refuse`), or the request without that tool (`remove`), said in `x-tollgate-tools-removed`.
 */
export type OverToolLimit = 'refuse' | 'remove';
