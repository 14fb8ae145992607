import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { banner } from '../src/banner.js';
import { ADMIN_TOKEN, gatewayWith, HELLO, writeConfig } from './support.js';

describe('the admin token at start', () => {
  it('is not printed when it was configured (the file, or TOLLGATE_ADMIN_TOKEN)', async () => {
    const file = writeConfig();
    const gateway = await gatewayWith(file);

    const printed = banner(gateway, file);

    expect(printed).not.toContain(ADMIN_TOKEN);
    expect(printed).toMatch(/admin token +set in the configuration \(not shown\)/);
    expect(printed).toContain(`${gateway.url}/dashboard\n`);
  });

  it('is printed, with the dashboard link that carries it, when the gateway generated it', async () => {
    const file = writeConfig();
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^admin: .*\n/m, ''));
    const gateway = await gatewayWith(file);

    const printed = banner(gateway, file);

    expect(gateway.adminTokenGenerated).toBe(true);
    expect(printed).toContain(`admin token      ${gateway.adminToken}   (generated for this run; set TOLLGATE_ADMIN_TOKEN to choose one)`);
    expect(printed).toContain(`${gateway.url}/dashboard#token=${gateway.adminToken}`);
  });
});

describe('headers forwarded upstream', () => {
  it('come from the allow-list only: the client cannot choose the operator\'s OpenAI organization or project', async () => {
    const seen: Headers[] = [];
    const gateway = await gatewayWith(writeConfig(), { onSimulatedRequest: (_body, headers) => seen.push(headers) });

    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer sk-test-alice',
        'content-type': 'application/json',
        'openai-organization': 'org-client-choice',
        'openai-project': 'proj-client-choice',
        'openai-beta': 'assistants=v2',
        'x-request-id': 'req-from-client',
        cookie: 'session=client',
      },
      body: JSON.stringify({ model: 'gpt-4o', messages: HELLO, max_tokens: 5 }),
    });

    expect(response.status).toBe(200);
    const [headers] = seen;
    expect(headers!.get('openai-organization')).toBeNull();
    expect(headers!.get('openai-project')).toBeNull();
    expect(headers!.get('cookie')).toBeNull();
    expect(headers!.get('openai-beta')).toBe('assistants=v2');
    expect(headers!.get('x-request-id')).toBe('req-from-client');
  });
});
