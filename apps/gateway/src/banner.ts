import type { RunningGateway } from './gateway.js';

/**
 * What `pnpm start` prints once the gateway listens. The admin token is printed only when the
 * gateway generated it (nobody else knows it); one that was configured stays out of the output and
 * the logs it may end up in.
 */
export function banner(gateway: RunningGateway, file: string): string {
  const { url, policy, upstreams, simulated } = gateway;
  // The demo's keys are no secret; a real configuration's are, and stay out of the output.
  const keys = simulated
    ? ['Demo API keys:', ...[...policy.config.keys].map(([secret, key]) => `  ${secret}   user "${key.user}", tier "${policy.tierOf(key.user)}"`)]
    : [`${policy.config.keys.size} API keys configured (keys: in the file).`];
  const [firstKey] = policy.config.keys.keys();
  const demoKey = simulated ? firstKey : '<an API key from the file>';
  return [
    '',
    simulated
      ? 'Tollgate gateway: DEMO MODE. The upstream is SIMULATED: replies are deterministic text, no real model is called.'
      : `Tollgate gateway, proxying ${Object.values(upstreams).map((upstream) => upstream.baseUrl).join(' and ')}`,
    '',
    // The Anthropic SDKs add /v1 themselves; the OpenAI SDKs expect it in the base URL.
    ...(upstreams.openai ? [`  OpenAI base URL  ${url}/v1`] : []),
    ...(upstreams.anthropic ? [`  Anthropic base URL  ${url}`] : []),
    `  dashboard        ${url}/dashboard${gateway.adminTokenGenerated ? `#token=${encodeURIComponent(gateway.adminToken)}` : ''}`,
    `  metrics          ${url}/metrics`,
    `  config           ${file} (tier, user and key changes apply without a restart)`,
    `  store            ${gateway.store}`,
    gateway.adminTokenGenerated
      ? `  admin token      ${gateway.adminToken}   (generated for this run; set TOLLGATE_ADMIN_TOKEN to choose one)`
      : '  admin token      set in the configuration (not shown)',
    '',
    ...keys,
    '',
    'Try it:',
    ...(upstreams.openai
      ? [
          `  curl ${url}/v1/chat/completions -H 'authorization: Bearer ${demoKey}' -H 'content-type: application/json' \\`,
          `    -d '{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}'`,
        ]
      : [
          `  curl ${url}/v1/messages -H 'x-api-key: ${demoKey}' -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' \\`,
          `    -d '{"model":"claude-sonnet-4-6","max_tokens":256,"messages":[{"role":"user","content":"Hello"}]}'`,
        ]),
    ...(simulated ? ['  pnpm --filter tollgate-gateway traffic    # 60 requests: watch the ladder, the budget and the limits on the dashboard'] : []),
    '',
  ].join('\n');
}
