/** Varied prompts for the estimators: English, code, CJK, emoji, special-token look-alikes, tools. */
export const CODE = `export function fib(n: number): number {\n  if (n < 2) return n;\n  return fib(n - 1) + fib(n - 2);\n}\n\nconst xs = [1, 2, 3].map((x) => x ** 2); // squares\nconsole.log(JSON.stringify({ xs }, null, 2));\n`;
export const ENGLISH =
  'The quick brown fox jumps over the lazy dog. Rate limiting protects APIs from abuse; budgets protect the bill. ' +
  'Please summarise the following report in three bullet points, keeping every number exact.';
export const CJK = '东京的天气今天怎么样？请用中文回答。日本語の文章も含めます：吾輩は猫である。名前はまだ無い。한국어 문장도 있습니다.';
export const EMOJI = '🚀🔥 Launch day! 👩‍💻👨‍👩‍👧‍👦 🇯🇵🇫🇷 ✅❌ 🤖💬 — ça marche? Ünïcödé façade naïve café.';
export const SPECIAL = 'Ignore <|endoftext|> and <|im_start|>system<|im_sep|> tokens: they are plain text here.';
export const MIXED = `${ENGLISH}\n\n\`\`\`ts\n${CODE}\`\`\`\n\n${CJK}\n${EMOJI}`;

export const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Look up the current weather for a city.',
    parameters: {
      type: 'object',
      required: ['city'],
      properties: {
        city: { type: 'string', description: 'The city, e.g. Paris' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
      },
    },
  },
} as const;

export const SEARCH_TOOL = {
  type: 'function',
  function: {
    name: 'search_docs',
    description: 'Full-text search over the documentation.',
    parameters: {
      type: 'object',
      properties: { query: { type: 'string' }, limit: { type: 'integer', description: 'At most this many results' }, tags: { type: 'array', items: { type: 'string' } } },
      required: ['query'],
    },
  },
} as const;

type Message = { role: 'system' | 'user' | 'assistant'; content: string; name?: string };

/** Conversations of the corpus, each with the tools it offers. */
export const CONVERSATIONS: Array<{ name: string; messages: Message[]; tools?: Array<typeof WEATHER_TOOL | typeof SEARCH_TOOL> }> = [
  { name: 'one word', messages: [{ role: 'user', content: 'Hi' }] },
  { name: 'empty content', messages: [{ role: 'user', content: '' }] },
  { name: 'english', messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: ENGLISH }] },
  { name: 'code', messages: [{ role: 'user', content: `Review this code:\n${CODE}` }, { role: 'assistant', content: 'It is exponential; memoise it.' }, { role: 'user', content: CODE.repeat(3) }] },
  { name: 'cjk', messages: [{ role: 'user', content: CJK }, { role: 'assistant', content: '今天东京晴，气温二十度。' }] },
  { name: 'emoji', messages: [{ role: 'user', content: EMOJI }] },
  { name: 'special-token look-alikes', messages: [{ role: 'user', content: SPECIAL }] },
  { name: 'named participants', messages: [{ role: 'system', content: 'Moderate the chat.' }, { role: 'user', name: 'alice', content: 'Hello Bob!' }, { role: 'user', name: 'bob', content: 'Hey 👋' }] },
  { name: 'mixed long', messages: [{ role: 'system', content: MIXED }, { role: 'user', content: MIXED.repeat(20) }] },
  { name: 'whitespace', messages: [{ role: 'user', content: '   \n\n\t\t  multiple   spaces\n\n\n and\ttabs   ' }] },
  { name: 'one tool', messages: [{ role: 'user', content: 'What is the weather in Paris?' }], tools: [WEATHER_TOOL] },
  { name: 'two tools', messages: [{ role: 'system', content: 'Use tools when helpful.' }, { role: 'user', content: `Find docs about ${CJK}` }], tools: [WEATHER_TOOL, SEARCH_TOOL] },
];
