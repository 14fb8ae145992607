import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { Agent, OpenAIProvider, Runner, tool } from '@openai/agents';
import { generateText, streamText } from 'ai';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { eventually, gatewayWith, POLICY, usedOf, writeConfig } from './support.js';

const bob = { user: 'bob' };

describe('agent frameworks through the gateway, on their default paths', () => {
  it('the AI SDK\'s openai(\'gpt-4o\') (the Responses API): generateText and streamText, each recorded exactly', async () => {
    const paths: string[] = [];
    const gateway = await gatewayWith(writeConfig(), { onSimulatedRequest: (body) => paths.push('input' in body ? 'responses' : 'other') });
    const model = createOpenAI({ apiKey: 'sk-test-bob', baseURL: `${gateway.url}/v1` })('gpt-4o');

    const generated = await generateText({ model, prompt: 'Hello from the AI SDK', maxOutputTokens: 200, maxRetries: 0 });
    const streamed = streamText({ model, prompt: 'Hello from the AI SDK', maxOutputTokens: 200, maxRetries: 0 });
    const text = await streamed.text;
    const usage = await streamed.usage;

    expect(paths).toEqual(['responses', 'responses']);
    expect(generated.text).toMatch(/^\(simulated\) /);
    expect(text).toBe(generated.text);
    const used = await eventually(() => usedOf(gateway.policy.limiter, bob), (u) => u.rpm === 2);
    expect(used.tpm).toBe(generated.usage.inputTokens! + generated.usage.outputTokens! + usage.inputTokens! + usage.outputTokens!);
  });

  it('LangChain\'s ChatOpenAI({ useResponsesApi: true }): invoke and stream, recorded exactly; a refusal is a 429, not a model error', async () => {
    const gateway = await gatewayWith(writeConfig(POLICY.replace('resource: cost, limit: 10,', 'resource: cost, limit: 0.001,')));
    const chat = new ChatOpenAI({ model: 'gpt-4o', useResponsesApi: true, apiKey: 'sk-test-bob', configuration: { baseURL: `${gateway.url}/v1` }, maxRetries: 0, maxTokens: 20 });

    const invoked = await chat.invoke('Hello from LangChain');
    let streamedText = '';
    for await (const chunk of await chat.stream('Hello from LangChain')) streamedText += chunk.text;

    expect(invoked.text).toMatch(/^\(simulated\) /);
    expect(streamedText).toBe(invoked.text);
    const used = await eventually(() => usedOf(gateway.policy.limiter, bob), (u) => u.rpm === 2);
    expect(used.tpm).toBe(2 * invoked.usage_metadata!.total_tokens);

    let refusal: unknown;
    for (let i = 0; i < 50 && refusal === undefined; i++) await chat.invoke('Hello from LangChain').catch((error: unknown) => (refusal = error));
    expect(refusal).toMatchObject({ status: 429, lc_error_code: 'MODEL_RATE_LIMIT' });
  });

  it('an @openai/agents agent with two tools runs to completion, each model call counted and recorded exactly', async () => {
    const gateway = await gatewayWith(writeConfig());
    const called: string[] = [];
    const weather = tool({ name: 'get_weather', description: 'The weather in a city', parameters: z.object({ city: z.string() }), execute: async ({ city }) => (called.push(`weather:${city}`), `Sunny in ${city}`) });
    const time = tool({ name: 'get_time', description: 'The local time in a city', parameters: z.object({ city: z.string() }), execute: async ({ city }) => (called.push(`time:${city}`), `12:00 in ${city}`) });
    const agent = new Agent({ name: 'Planner', instructions: 'Answer with the weather and the time.', model: 'gpt-4o', tools: [weather, time] });
    const runner = new Runner({ modelProvider: new OpenAIProvider({ apiKey: 'sk-test-bob', baseURL: `${gateway.url}/v1`, useResponses: true }), tracingDisabled: true });

    const result = await runner.run(agent, 'What is the weather and the time in Paris?');

    expect(called).toEqual(['weather:Paris', 'time:Paris']);
    expect(result.finalOutput).toMatch(/^\(simulated\) /);
    const { usage } = result.state;
    expect(usage.requests).toBe(3);
    const used = await eventually(() => usedOf(gateway.policy.limiter, bob), (u) => u.rpm === 3);
    expect(used.tpm).toBe(usage.inputTokens + usage.outputTokens);
  });
});

describe('tool calls at the gateway: charged against toolCalls limits once the model has answered', () => {
  const TOOLS_POLICY = `
tiers:
  refusing:
    limits:
      - { name: rpm, scope: user, resource: requests, limit: 1000, window: 1m }
      - { name: weather-calls, scope: user, resource: toolCalls, tool: get_weather, limit: 1, window: 1h }
  trimming:
    overToolLimit: remove
    limits:
      - { name: rpm, scope: user, resource: requests, limit: 1000, window: 1m }
      - { name: weather-calls, scope: user, resource: toolCalls, tool: get_weather, limit: 1, window: 1h }
users:
  carol: { tier: refusing }
  dave: { tier: trimming }
keys:
  sk-test-carol: { user: carol }
  sk-test-dave: { user: dave }
`;

  /** A two-tool agent through the gateway with `key`, and the tool calls it ran. */
  function plannerWith(url: string, key: string) {
    const called: string[] = [];
    const weather = tool({ name: 'get_weather', description: 'The weather in a city', parameters: z.object({ city: z.string() }), execute: async ({ city }) => (called.push(`weather:${city}`), `Sunny in ${city}`) });
    const time = tool({ name: 'get_time', description: 'The local time in a city', parameters: z.object({ city: z.string() }), execute: async ({ city }) => (called.push(`time:${city}`), `12:00 in ${city}`) });
    const agent = new Agent({ name: 'Planner', instructions: 'Answer with the weather and the time.', model: 'gpt-4o', tools: [weather, time] });
    const runner = new Runner({ modelProvider: new OpenAIProvider({ apiKey: key, baseURL: `${url}/v1`, useResponses: true }), tracingDisabled: true });
    const input = 'What is the weather and the time in Paris?';
    return {
      called,
      run: () => runner.run(agent, input),
      /** The same run over streams: the tool calls reach the gateway as stream events. */
      stream: async () => {
        const result = await runner.run(agent, input, { stream: true });
        await result.completed;
        return result;
      },
    };
  }

  it('counts an agent\'s tool calls per tool, and refuses its next request that offers a tool past its limit', async () => {
    const gateway = await gatewayWith(writeConfig(TOOLS_POLICY.replaceAll('tool: get_weather, limit: 1,', 'tool: get_weather, limit: 2,')));
    const planner = plannerWith(gateway.url, 'sk-test-carol');

    const first = await planner.run();
    expect(first.finalOutput).toMatch(/^\(simulated\) /);
    expect(await usedOf(gateway.policy.limiter, { user: 'carol' })).toMatchObject({ rpm: 3, 'weather-calls': 1 });
    // The second run's first answer calls get_weather a second time: its next request still offers it.
    const refused = await planner.run().catch((error: unknown) => error);

    expect(planner.called).toEqual(['weather:Paris', 'time:Paris', 'weather:Paris']);
    expect(refused).toMatchObject({ status: 429, error: { code: 'rate_limit_exceeded', limit: 'weather-calls', message: expect.stringMatching(/offers the model get_weather/) } });
    expect(await usedOf(gateway.policy.limiter, { user: 'carol' })).toMatchObject({ rpm: 4, 'weather-calls': 2 });
  });

  it('counts the tool calls of a streamed run as well', async () => {
    const gateway = await gatewayWith(writeConfig(TOOLS_POLICY.replaceAll('tool: get_weather, limit: 1,', 'tool: get_weather, limit: 2,')));
    const planner = plannerWith(gateway.url, 'sk-test-carol');

    const result = await planner.stream();

    expect(planner.called).toEqual(['weather:Paris', 'time:Paris']);
    expect(result.finalOutput).toMatch(/^\(simulated\) /);
    expect(await eventually(() => usedOf(gateway.policy.limiter, { user: 'carol' }), (u) => u.rpm === 3)).toMatchObject({ 'weather-calls': 1 });
  });

  it('on a tier with overToolLimit: remove, sends the next request without that tool and says so', async () => {
    const offered: Array<{ tools: string[]; choice: unknown }> = [];
    const gateway = await gatewayWith(writeConfig(TOOLS_POLICY), { onSimulatedRequest: (body) => offered.push({ tools: ((body.tools as Array<{ name: string }>) ?? []).map((t) => t.name), choice: body.tool_choice }) });
    const planner = plannerWith(gateway.url, 'sk-test-dave');

    const run = await planner.run();
    const direct = await fetch(`${gateway.url}/v1/responses`, { method: 'POST', headers: { authorization: 'Bearer sk-test-dave', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o', input: 'Weather?', tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: {} } }], tool_choice: { type: 'function', name: 'get_weather' } }) });

    // Its one get_weather call spent the limit: the run's next request went without the tool.
    expect(planner.called).toEqual(['weather:Paris']);
    expect(run.finalOutput).toMatch(/^\(simulated\) /);
    expect(offered.map(({ tools }) => tools)).toEqual([['get_weather', 'get_time'], ['get_time'], []]);
    expect(direct.status).toBe(200);
    expect(direct.headers.get('x-tollgate-tools-removed')).toBe('get_weather');
    expect(direct.headers.get('x-tollgate-tool-limit')).toBe('weather-calls');
    expect(offered.at(-1)!.choice).toBeUndefined();
  });
});
