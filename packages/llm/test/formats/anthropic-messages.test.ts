import { describe, expect, it } from 'vitest';
import { anthropicUsage, approximateTokens, estimateAnthropicMessage, genaiPrices, streamMeter } from '../../src/index.js';
import { ENGLISH, WEATHER_TOOL } from '../corpus.js';
import { MESSAGE, MESSAGE_EVENTS } from '../fixtures.js';

const prices = genaiPrices();

describe('estimateAnthropicMessage', () => {
  it('estimates Anthropic requests: system, blocks, tools and max_tokens', async () => {
    const estimate = await estimateAnthropicMessage({
      model: 'claude-sonnet-4-5',
      max_tokens: 1024,
      system: 'Be brief.',
      messages: [{ role: 'user', content: [{ type: 'text', text: ENGLISH }] }],
    });
    // 2 framings of 5, then each text by the ratio.
    const input = 10 + approximateTokens('Be brief.') + approximateTokens(ENGLISH);
    expect(estimate).toEqual({ model: 'claude-sonnet-4-5', inputTokens: input, outputTokens: 1024, tokens: input + 1024 });
    const withTools = await estimateAnthropicMessage({
      model: 'claude-sonnet-4-5',
      max_tokens: 1024,
      system: 'Be brief.',
      messages: [{ role: 'user', content: [{ type: 'text', text: ENGLISH }] }],
      tools: [{ name: 'get_weather', input_schema: WEATHER_TOOL.function.parameters }],
    });
    expect(withTools.inputTokens - estimate.inputTokens).toBeGreaterThan(530);
  });
});

describe('Anthropic prompt caching in the reservation', () => {
  const prices = genaiPrices();
  const text = (cache?: object) => ({ type: 'text', text: ENGLISH, ...(cache && { cache_control: cache }) });

  it('reserves a prompt with cache_control blocks at the cache-write rate, and 1-hour writes at theirs', async () => {
    const plain = await estimateAnthropicMessage({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: [text()] }] }, { prices });
    const fiveMinutes = await estimateAnthropicMessage({ model: 'claude-sonnet-4-5', max_tokens: 100, system: [text({ type: 'ephemeral' })], messages: [{ role: 'user', content: 'Hi' }] }, { prices });
    const oneHour = await estimateAnthropicMessage(
      { model: 'claude-sonnet-4-5', max_tokens: 100, system: [text({ type: 'ephemeral', ttl: '5m' })], messages: [{ role: 'user', content: [text({ type: 'ephemeral', ttl: '1h' })] }] },
      { prices },
    );
    // $3 plain, $3.75 a 5-minute write, $6 a 1-hour write, per million input tokens; $15 per million out.
    expect(plain.cost).toBe(prices.costOf('claude-sonnet-4-5', { inputTokens: plain.inputTokens, outputTokens: 100 }));
    expect(fiveMinutes.cost).toBe(prices.costOf('claude-sonnet-4-5', { inputTokens: fiveMinutes.inputTokens, cacheWriteTokens: fiveMinutes.inputTokens, outputTokens: 100 }));
    expect(oneHour.cost).toBe(
      prices.costOf('claude-sonnet-4-5', { inputTokens: oneHour.inputTokens, cacheWriteTokens: oneHour.inputTokens, cacheWrite1hTokens: oneHour.inputTokens, outputTokens: 100 }),
    );
    expect(oneHour.cost).toBe((oneHour.inputTokens * 6 + 100 * 15) / 1e6);
  });

  it('counts cache_control on tools and on the request itself', async () => {
    const tool = { name: 'get_weather', input_schema: WEATHER_TOOL.function.parameters, cache_control: { type: 'ephemeral', ttl: '1h' } };
    const withTool = await estimateAnthropicMessage({ model: 'claude-haiku-4-5', max_tokens: 10, tools: [tool], messages: [{ role: 'user', content: 'Hi' }] }, { prices });
    expect(withTool.cost).toBe((withTool.inputTokens * 2 + 10 * 5) / 1e6);
    const automatic = await estimateAnthropicMessage({ model: 'claude-haiku-4-5', max_tokens: 10, cache_control: { type: 'ephemeral' }, messages: [{ role: 'user', content: 'Hi' }] }, { prices });
    expect(automatic.cost).toBe((automatic.inputTokens * 1.25 + 10 * 5) / 1e6);
  });
});


describe('anthropicUsage', () => {
  it('Anthropic Messages: cache writes and reads are input tokens, and the cost prices the writes', () => {
    expect(anthropicUsage(MESSAGE)).toEqual({ model: 'claude-sonnet-4-5-20250929', inputTokens: 4835, outputTokens: 255 });
    // 100 × $3 + 4,735 × $3.75 + 255 × $15 per million.
    expect(anthropicUsage(MESSAGE, { prices })).toEqual({ model: 'claude-sonnet-4-5-20250929', inputTokens: 4835, outputTokens: 255, cost: 0.02188125 });
    const read = { ...MESSAGE, usage: { input_tokens: 10, cache_read_input_tokens: 5000, cache_creation_input_tokens: 0, output_tokens: 20 } };
    expect(anthropicUsage(read)).toEqual({ model: 'claude-sonnet-4-5-20250929', inputTokens: 5010, cachedInputTokens: 5000, outputTokens: 20 });
  });
});

describe('the Anthropic stream meter', () => {
  it('Anthropic: message_start bills the input, message_delta the cumulative output', async () => {
    const meter = streamMeter('anthropic', { model: 'claude-sonnet-4-5', inputTokens: 3000, prices });
    for (const event of MESSAGE_EVENTS) meter.push(event);
    // 25 × $3 + 2,000 × $0.30 + 15 × $15 per million.
    expect(await meter.usage()).toEqual({ model: 'claude-sonnet-4-5-20250929', inputTokens: 2025, cachedInputTokens: 2000, outputTokens: 15, cost: 0.0009 });
  });

  it('Anthropic cut off: the input message_start reported, plus the output received', async () => {
    const meter = streamMeter('anthropic', { inputTokens: 3000 });
    for (const event of MESSAGE_EVENTS.slice(0, 4)) meter.push(event);
    expect(meter.complete).toBe(false);
    // The input is what Anthropic billed, not the estimate; "Hello" is 2 tokens by the ratio.
    expect(await meter.usage()).toEqual({ model: 'claude-sonnet-4-5-20250929', inputTokens: 2025, cachedInputTokens: 2000, outputTokens: 2 });
  });

  it('Anthropic: message_delta input counts (newer API versions) override message_start', async () => {
    const meter = streamMeter('anthropic');
    meter.push(MESSAGE_EVENTS[0]);
    meter.push({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { input_tokens: 30, cache_read_input_tokens: null, output_tokens: 9 } });
    expect(await meter.usage()).toEqual({ model: 'claude-sonnet-4-5-20250929', inputTokens: 2030, cachedInputTokens: 2000, outputTokens: 9 });
  });
});

describe('the Anthropic stream meter: usage that cannot be trusted', () => {
  it('Anthropic: a malformed message_delta leaves the stream incomplete, and the input message_start billed stands', async () => {
    const meter = streamMeter('anthropic', { inputTokens: 3000 });
    for (const event of MESSAGE_EVENTS.slice(0, 6)) meter.push(event);
    meter.push({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 'many' } });
    expect(meter.complete).toBe(false);
    expect(await meter.usage()).toMatchObject({ inputTokens: 2025, cachedInputTokens: 2000 });
  });

  it('prices a served model name the table does not know as the model asked for', async () => {
    const meter = streamMeter('anthropic', { model: 'claude-sonnet-4-5', prices });
    for (const event of MESSAGE_EVENTS) meter.push(event.type === 'message_start' ? { ...event, message: { ...(event as { message: object }).message, model: 'anthropic/claude-sonnet-4.5' } } : event);
    // 25 × $3 + 2,000 × $0.30 + 15 × $15 per million.
    expect(await meter.usage()).toEqual({ model: 'anthropic/claude-sonnet-4.5', inputTokens: 2025, cachedInputTokens: 2000, outputTokens: 15, cost: 0.0009 });
  });
});
