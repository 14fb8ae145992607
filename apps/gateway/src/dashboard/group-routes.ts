import type { FastifyInstance } from 'fastify';
import type { LivePolicy } from '../policy.js';
import type { SharedAddedGroups } from '../records/added-groups.js';

/**
 * The admin API's users and teams (under the admin token, in `adminRoutes`' context), beside the
 * file's: `PUT /admin/api/users/:user` adds a user (or changes one added before) with its tier and
 * team, `DELETE` removes it (its issued keys stop with it); `PUT /admin/api/teams/:team` adds a
 * team with its limits and organisation, `DELETE` removes one no user is in; `GET
 * /admin/api/teams` lists every team, the file's and the added.
 */
export function groupRoutes(api: FastifyInstance, policy: LivePolicy, groups: SharedAddedGroups): void {
  api.put<{ Params: { user: string } }>('/admin/api/users/:user', async (request) => {
    const { user } = request.params;
    const entry = await groups.setUser(user, request.body);
    request.log.info({ user, ...entry }, 'admin set a user');
    return { user, ...entry };
  });

  api.delete<{ Params: { user: string } }>('/admin/api/users/:user', async (request) => {
    const { user } = request.params;
    await groups.removeUser(user);
    request.log.info({ user }, 'admin removed a user');
    return { ok: true, user };
  });

  api.get('/admin/api/teams', async () => {
    const { config, addedGroups } = policy;
    return {
      teams: [...config.teams].map(([id, team]) => ({
        id,
        org: team.org ?? null,
        limits: team.limits,
        source: addedGroups.teams.has(id) ? 'admin' : 'file',
        users: [...config.users].filter(([, user]) => user.team === id).map(([user]) => user),
      })),
    };
  });

  api.put<{ Params: { team: string } }>('/admin/api/teams/:team', async (request) => {
    const { team } = request.params;
    const entry = await groups.setTeam(team, request.body);
    request.log.info({ team, org: entry.org, limits: entry.limits.map((limit) => limit.name) }, 'admin set a team');
    return { team, ...entry };
  });

  api.delete<{ Params: { team: string } }>('/admin/api/teams/:team', async (request) => {
    const { team } = request.params;
    await groups.removeTeam(team);
    request.log.info({ team }, 'admin removed a team');
    return { ok: true, team };
  });
}
