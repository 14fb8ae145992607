import { chatCompletion, OPENAI_ENDPOINT_LIMITS, openAiSdkCases } from '@tollgate/test-kit';
import express from 'express';
import { describe } from 'vitest';
import { tollgate } from '../src/index.js';
import { bearer, frameworks, limiterWith, listen } from './support.js';

describe.each(frameworks)('the official openai SDK against tollgate() on $name', ({ create }) => {
  openAiSdkCases(async () => {
    const limiter = limiterWith(OPENAI_ENDPOINT_LIMITS, { clock: Date.now });
    const statuses: number[] = [];
    const app = create();
    app.use((_req, res, next) => {
      res.on('finish', () => statuses.push(res.statusCode));
      next();
    });
    app.use(express.json());
    // The SDK's `Authorization: Bearer <apiKey>` is this app's authentication.
    app.use('/v1', tollgate({ limiter, identify: (req) => ({ apiKey: bearer(req) }) }));
    app.post('/v1/chat/completions', (req, res) => {
      res.json(chatCompletion(req.body.model, statuses.length));
    });
    return { baseURL: `${await listen(app)}/v1`, statuses };
  });
});
