import { chatCompletion, OPENAI_ENDPOINT_LIMITS, openAiSdkCases } from '@tollgate/test-kit';
import { describe } from 'vitest';
import { tollgate } from '../src/index.js';
import { bearer, create, limiterWith, listen } from './support.js';

describe('the official openai SDK against the tollgate plugin', () => {
  openAiSdkCases(async () => {
    const limiter = limiterWith(OPENAI_ENDPOINT_LIMITS, { clock: Date.now });
    const statuses: number[] = [];
    const app = create();
    // Before the reply goes out, so the list is complete when the client has its answer.
    app.addHook('onSend', async (_request, reply) => {
      statuses.push(reply.statusCode);
    });
    // The SDK's `Authorization: Bearer <apiKey>` is this app's authentication.
    await app.register(tollgate, { limiter, identify: (request) => ({ apiKey: bearer(request) }) });
    app.post('/v1/chat/completions', async (request) => chatCompletion((request.body as { model: string }).model, statuses.length));
    return { baseURL: `${await listen(app)}/v1`, statuses };
  });
});
