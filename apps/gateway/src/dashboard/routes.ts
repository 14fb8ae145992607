import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InvalidInputError, StoreError } from '@tollgate/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken } from '../proxy/auth.js';
import { identityOf, type LivePolicy } from '../policy.js';
import type { Activity } from './activity.js';
import type { ApiKeys } from '../keys/api-keys.js';
import type { SpendLedger } from '../ledger/spend-ledger.js';
import type { SharedAddedGroups } from '../records/added-groups.js';
import type { SharedTierChanges } from '../records/tier-changes.js';
import { groupRoutes } from './group-routes.js';
import { keyRoutes } from './key-routes.js';
import { overview } from './overview.js';
import { pageSecurityHeaders } from './page-security.js';
import { spendRoutes } from './spend-routes.js';

export interface AdminDependencies {
  readonly policy: LivePolicy;
  readonly keys: ApiKeys;
  readonly tiers: SharedTierChanges;
  readonly groups: SharedAddedGroups;
  readonly activity: Activity;
  readonly ledger: SpendLedger;
  readonly adminToken: string;
  readonly about: { upstream: string; store: string };
}

const PAGE = readFileSync(new URL('./page.html', import.meta.url), 'utf8');
const PAGE_HEADERS = pageSecurityHeaders(PAGE);

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Compares digests, so neither the token's length nor its prefix leaks through timing. */
function tokenMatches(given: string | undefined, expected: Buffer): boolean {
  return given !== undefined && timingSafeEqual(digest(given), expected);
}

const problem = (reply: FastifyReply, status: number, message: string) => reply.code(status).send({ error: { message, status } });

/** A JSON object body with no field but `fields`, or undefined for any other body. */
function objectWith(body: unknown, fields: readonly string[]): Record<string, unknown> | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  return Object.keys(body).every((field) => fields.includes(field)) ? (body as Record<string, unknown>) : undefined;
}

/**
 * The dashboard page (`GET /dashboard`, public: it holds no data) and the admin API it reads
 * (`/admin/api/*`, which needs `Authorization: Bearer <admin token>`): the live overview, resetting
 * a user's counters, moving a user to another tier, the API keys it issues (`keyRoutes`) and the
 * spend ledger (`spendRoutes`).
 */
export async function adminRoutes(app: FastifyInstance, { policy, keys, tiers, groups, activity, ledger, adminToken, about }: AdminDependencies): Promise<void> {
  const expected = digest(adminToken);

  app.get('/dashboard', async (_request, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').headers(PAGE_HEADERS).send(PAGE));

  await app.register(async (api) => {
    api.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      if (!tokenMatches(bearerToken(request), expected)) {
        return problem(reply, 401, 'The admin API needs "Authorization: Bearer <admin token>" (printed at start, or TOLLGATE_ADMIN_TOKEN).');
      }
      return undefined;
    });
    api.setErrorHandler((error, request, reply) => {
      if (error instanceof InvalidInputError) return problem(reply, 400, error.message);
      if (error instanceof StoreError) return problem(reply, 503, `The store failed: ${error.message}`);
      const status = (error as { statusCode?: number }).statusCode ?? 500;
      if (status >= 500) request.log.error({ err: error }, 'admin request failed');
      return problem(reply, status, (error as Error).message);
    });

    api.get('/admin/api/overview', async () => overview(policy, activity, about));

    const userOf = (request: FastifyRequest<{ Params: { user: string } }>, reply: FastifyReply): string | undefined => {
      const { user } = request.params;
      if (policy.config.users.has(user)) return user;
      void problem(reply, 404, `No user is named ${JSON.stringify(user)}.`);
      return undefined;
    };

    api.post<{ Params: { user: string } }>('/admin/api/users/:user/reset', async (request, reply) => {
      const user = userOf(request, reply);
      if (user === undefined) return reply;
      // Only {} resets everything: any other body (a string, a list, a misspelt field) is a mistake.
      const body = objectWith(request.body, ['limit']);
      const limit = body?.limit;
      if (!body || (limit !== undefined && typeof limit !== 'string')) return problem(reply, 400, 'Send {} to reset every counter of the user, or { "limit": "<limit name>" } to reset one.');
      // The user's counters and each of their keys': `reset` clears what applies to the identity it is given.
      for (const identity of [{ user }, ...policy.keysOf(user).map((key) => identityOf({ user, keyId: key.id }))]) await policy.limiter.reset(identity, limit);
      request.log.info({ user, limit }, 'admin reset a user');
      return { ok: true, user, limit: limit ?? null };
    });

    api.put<{ Params: { user: string } }>('/admin/api/users/:user/tier', async (request, reply) => {
      const user = userOf(request, reply);
      if (user === undefined) return reply;
      const tier = objectWith(request.body, ['tier'])?.tier;
      if (typeof tier !== 'string') return problem(reply, 400, 'Send { "tier": "<tier name>" }.');
      await tiers.set(user, tier);
      request.log.info({ user, tier }, 'admin changed a tier');
      return { ok: true, user, tier };
    });

    keyRoutes(api, keys);
    groupRoutes(api, policy, groups);
    spendRoutes(api, ledger);
  });
}
