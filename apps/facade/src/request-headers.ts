import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';

/**
 * Request headers read from Node's own parsed request. Hono's `c.req.header()` asks the adapter for
 * a web `Headers` object, which @hono/node-server builds (and validates) from every raw header of
 * every request: measurable on each `GET /metadata` (bench/FINDINGS.md). Values read here are what
 * that `Headers` object would give: repeated headers joined with ", ". Without a Node request (an
 * in-process `app.request()` in tests) the web headers are used.
 */
/** A UUID in any case (Ssp-TraceID, X-Request-ID: spec §3.1). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function requestHeader(c: Context, name: string): string | undefined {
  const incoming = nodeRequest(c);
  if (!incoming) return c.req.header(name);
  const values = incoming.headersDistinct[name.toLowerCase()];
  return values === undefined ? undefined : values.length === 1 ? values[0] : values.join(', ');
}

/** Every request header (lower-case names), e.g. for trace-context propagation. */
export function requestHeaders(c: Context): Record<string, string> {
  const incoming = nodeRequest(c);
  if (!incoming) return c.req.header();
  const all: Record<string, string> = {};
  for (const [name, values] of Object.entries(incoming.headersDistinct)) if (values) all[name] = values.join(', ');
  return all;
}

/** The Node request behind this context, when served by @hono/node-server. */
export function nodeRequest(c: Context): IncomingMessage | undefined {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
}
