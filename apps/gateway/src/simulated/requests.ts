import type { FastifyRequest } from 'fastify';

/** A request's headers as a `Headers` (repeated ones joined, as fetch would send them). */
export function headersOf(request: FastifyRequest): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  return headers;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
