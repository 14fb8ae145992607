import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ApiKeys, KeyRequest } from '../keys/api-keys.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;
const MODEL = /^\S{1,200}$/;

/** The fields a key's creation takes, checked; a message saying what to send otherwise. */
function keyRequest(body: unknown): KeyRequest | string {
  const usage = 'Send { "user": "<user>", "name": "<key name>", "models"?: ["<model>", ...], "limits"?: [<limit>, ...], "expiresAt"?: "<ISO date>" }.';
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return usage;
  const { user, name, models, limits, expiresAt, ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length > 0) return `Unknown field ${JSON.stringify(Object.keys(rest)[0])}. ${usage}`;
  if (typeof user !== 'string') return `user must be a user's id. ${usage}`;
  if (typeof name !== 'string' || !NAME.test(name)) return 'name must be 1 to 64 letters, digits, "_", ".", "@" or "-", starting with a letter or digit.';
  if (models !== undefined && (!Array.isArray(models) || models.length === 0 || !models.every((model) => typeof model === 'string' && MODEL.test(model)))) {
    return 'models, when given, must be a non-empty list of model names.';
  }
  const expires = typeof expiresAt === 'string' ? Date.parse(expiresAt) : NaN;
  if (expiresAt !== undefined && Number.isNaN(expires)) return 'expiresAt, when given, must be an ISO date, e.g. "2027-01-31T00:00:00Z".';
  return { user, name, ...(models !== undefined && { models: models as string[] }), ...(limits !== undefined && { limits }), ...(expiresAt !== undefined && { expiresAt: expires }) };
}

const problem = (reply: FastifyReply, status: number, message: string) => reply.code(status).send({ error: { message, status } });

/**
 * The admin API's keys (under the admin token, in `adminRoutes`' context): `POST /admin/api/keys`
 * issues one (its secret in the answer, the only time it is shown), `GET /admin/api/keys` lists
 * them, `POST /admin/api/keys/:name/rotate` gives a key a new secret (the old one stops at once),
 * `POST /admin/api/keys/:name/revoke` stops one.
 */
export function keyRoutes(api: FastifyInstance, keys: ApiKeys): void {
  api.post('/admin/api/keys', async (request, reply) => {
    const parsed = keyRequest(request.body);
    if (typeof parsed === 'string') return problem(reply, 400, parsed);
    const issued = await keys.issue(parsed);
    request.log.info({ key: issued.key.name, user: issued.key.user }, 'admin issued an API key');
    return reply.code(201).send(issued);
  });

  api.get('/admin/api/keys', async () => ({ keys: await keys.list() }));

  api.post<{ Params: { name: string } }>('/admin/api/keys/:name/rotate', async (request) => {
    const rotated = await keys.rotate(request.params.name);
    request.log.info({ key: rotated.key.name, user: rotated.key.user }, 'admin rotated an API key');
    return rotated;
  });

  api.post<{ Params: { name: string } }>('/admin/api/keys/:name/revoke', async (request) => {
    const key = await keys.revoke(request.params.name);
    request.log.info({ key: key.name, user: key.user }, 'admin revoked an API key');
    return { key };
  });
}
