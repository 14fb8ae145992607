import type { DegradeStep } from '@tollgate/core';
import { withOutputCap, type OutputFormat } from '@tollgate/llm';

type Body = Record<string, unknown>;

/**
 * How an API's output is capped (`Api.output`): its @tollgate/llm wire format, which caps a body,
 * its output-limit fields in the order it reads them, for reading a request's own cap, and the
 * models its upstream serves among those a ladder step may name (absent: any); `undefined` for an
 * API that generates no output.
 */
export type Output = { readonly format: OutputFormat; readonly fields: readonly string[]; readonly stepModels?: RegExp } | undefined;

/** The output limit a request sets, if any. */
export function requestedMaxTokens(body: Body, output: Output): number | undefined {
  return output?.fields.map((field) => body[field]).find((value): value is number => typeof value === 'number');
}

/** A call's size, for comparing two models' prices on it. */
export interface CallSize {
  readonly inputTokens: number;
  readonly outputTokens: number;
}

/**
 * Whether `candidate` costs no more than `reference` (for a call of `size`, or a reference call of
 * a thousand tokens in and out); true when either has no price: the ladder applies as written.
 */
export type NoDearer = (candidate: string, reference: string, size?: CallSize) => boolean;

/**
 * Applies a degradation step to a request: the step's model replaces the requested one unless it
 * would cost more (a client asking for a cheap model is never moved to a dearer one) or the API's
 * upstream does not serve it (a GPT model on Anthropic's API), its
 * `maxTokens` caps the output (or sets a limit where the request has none). A request of an API
 * without output is left as it is: its cost is its input, which no step makes smaller, and its
 * model decides what the embeddings mean to the caller.
 */
export function applyStep(body: Body, step: DegradeStep | undefined, noDearer: NoDearer, output: Output): Body {
  if (output === undefined) return body;
  let next = body;
  const model = step?.model;
  if (model !== undefined && (output.stepModels?.test(model) ?? true) && (typeof body.model !== 'string' || noDearer(model, body.model))) next = { ...next, model };
  if (step?.maxTokens !== undefined) next = withOutputCap(next, output.format, step.maxTokens);
  return next;
}

/** How the gateway rewrote a request, and the headers that tell the client. */
export interface Rewrite {
  readonly changed: boolean;
  readonly headers: Record<string, string>;
}

/**
 * What the client is told about the request as sent: the `x-tollgate-*` headers (the model and
 * output cap sent upstream, the step and why). The request counts as degraded when it is past the
 * first rung of the ladder (for an API a step applies to), or had its model replaced or its own
 * output limit lowered.
 */
export function describeRewrite(requested: Body, sent: Body, step: DegradeStep | undefined, tier: string, output: Output): Rewrite {
  const asked = requestedMaxTokens(requested, output);
  const maxTokens = requestedMaxTokens(sent, output);
  const changed = (output !== undefined && (step?.step ?? 0) > 0) || sent.model !== requested.model || (asked !== undefined && maxTokens !== asked);
  const headers: Record<string, string> = { 'x-tollgate-tier': tier, 'x-tollgate-model': String(sent.model), 'x-tollgate-degraded': String(changed) };
  if (step) {
    headers['x-tollgate-degrade-step'] = String(step.step);
    headers['x-tollgate-budget-used'] = step.usageRatio.toFixed(4);
  }
  if (maxTokens !== undefined) headers['x-tollgate-max-tokens'] = String(maxTokens);
  if (sent.model !== requested.model) headers['x-tollgate-requested-model'] = String(requested.model);
  return { changed, headers };
}
