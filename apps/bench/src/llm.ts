import { fileURLToPath } from 'node:url';
import { estimateAnthropicMessage, estimateChatCompletion, preloadTokenizer } from '@tollgate/llm';
import { compare, type Suite } from './harness.js';

/**
 * What estimating a request costs before an LLM call: `estimateChatCompletion` with gpt-4o's real
 * tokenizer (loaded before measuring) and `estimateAnthropicMessage` with the conservative ratio,
 * for a small prompt and a 100 KB one. Each operation estimates a fresh body, as a gateway would.
 */
const PARAGRAPH =
  'Tollgate rate-limits and budgets AI-agent APIs. One agent request can trigger many LLM calls; ' +
  'function estimate(body) { return body.messages.length * 3; } // code, too. 東京の天気は晴れ。 🚀\n';

const hundredKb = (() => {
  let text = '';
  while (text.length < 100_000) text += PARAGRAPH;
  return text.slice(0, 100_000);
})();

const small = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'Summarise the three main risks of running an LLM API without budgets.' },
];
const large = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: hundredKb },
];

function openai(messages: typeof small): Suite['contenders'][number] {
  return {
    name: 'estimateChatCompletion (gpt-4o, tokenizer)',
    async setup() {
      await preloadTokenizer('gpt-4o');
      // A different last character each time, so no cache of whole prompts can help.
      return (i) => estimateChatCompletion({ model: 'gpt-4o', messages: [...messages.slice(0, -1), { ...messages.at(-1)!, content: `${messages.at(-1)!.content}${i % 10}` }], max_tokens: 512 });
    },
  };
}

function anthropic(messages: typeof small): Suite['contenders'][number] {
  return {
    name: 'estimateAnthropicMessage (claude, ratio)',
    setup: () => (i) =>
      estimateAnthropicMessage({ model: 'claude-sonnet-4-5', max_tokens: 512, system: messages[0]!.content, messages: [{ role: 'user', content: `${messages[1]!.content}${i % 10}` }] }),
  };
}

export const module = fileURLToPath(import.meta.url);
export const suites: Record<string, Suite> = {
  small: { title: 'small prompt (2 messages, ~100 characters)', contenders: [openai(small), anthropic(small)] },
  large: { title: '100 KB prompt', contenders: [openai(large), anthropic(large)] },
};

/** A Markdown table of microseconds per estimate, for every suite. */
export async function llmReport(): Promise<string> {
  const rows: string[] = ['| prompt | estimator | µs per request | requests/s |', '| --- | --- | ---: | ---: |'];
  for (const [key, suite] of Object.entries(suites)) {
    for (const result of await compare(module, key, suite, { rounds: 3, warmupMs: 500, measureMs: 1_000 })) {
      const us = 1e6 / result.opsPerSecond;
      rows.push(`| ${suite.title} | ${result.name} | ${us.toLocaleString('en-US', { maximumFractionDigits: us < 10 ? 2 : 0 })} | ${Math.round(result.opsPerSecond).toLocaleString('en-US')} |`);
    }
  }
  return rows.join('\n');
}
