/**
 * What the documentation's examples deliberately leave to the reader's app: calling a model,
 * estimating a request, authenticating a caller. Every example is type-checked with these in scope
 * (see README.md). Keep this list short: an example that can be complete should be.
 */
export {};

declare global {
  /** Your call to an LLM provider: any OpenAI-style chat completion with `usage`. */
  function callModel(body: { model: string; max_tokens?: number | undefined; [field: string]: unknown }): Promise<{
    choices: Array<{ message: { role: string; content: string | null } }>;
    usage: { prompt_tokens: number; completion_tokens: number };
  }>;

  /** Your estimate of a request's tokens (`@tollgate/llm`'s `estimateChatCompletion` is one). */
  function estimateTokens(body: unknown): number;

  /** Your session check in a Next.js route or proxy. */
  function verifySession(request: Request): Promise<{ userId: string }>;

  /** Your authentication: Express middleware or a Fastify `onRequest` hook that sets `req.user`. */
  function authenticate(req: any, res: any, next: (error?: Error) => void): void;

  namespace Express {
    interface Request {
      /** Set by your `authenticate` middleware. */
      user: { id: string };
    }
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by your `authenticate` hook. */
    user: { id: string };
  }
}
