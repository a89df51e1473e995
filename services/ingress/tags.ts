import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../kit/errors.js';

/** A tag: short, and free of the comma that separates tags in a header and in the ledger's batch insert. */
const TAG = /^[A-Za-z0-9_.:/=@+-]{1,64}$/;
const MAX_TAGS = 16;

/** Where a request's tags may come from, in the order they are read: our header, LiteLLM's, LiteLLM's body field. */
const SOURCES = ['x-gateway-tags', 'x-litellm-tags', 'metadata.tags'] as const;

/**
 * The labels a client gave its request for spend reports: `x-gateway-tags: a,b`,
 * or as LiteLLM's clients send them (`x-litellm-tags`, `metadata.tags` as a list
 * or a comma-separated string). Each source's tags, in order, without repeats.
 * A tag that is not one, or too many, is the client's error, named.
 */
export function requestTags(headers: IncomingHttpHeaders, body: unknown): string[] {
  const metadata = typeof body === 'object' && body !== null ? (body as { metadata?: unknown }).metadata : undefined;
  const given: Record<(typeof SOURCES)[number], unknown> = {
    'x-gateway-tags': headers['x-gateway-tags'],
    'x-litellm-tags': headers['x-litellm-tags'],
    'metadata.tags': typeof metadata === 'object' && metadata !== null ? (metadata as { tags?: unknown }).tags : undefined,
  };
  const tags = new Set<string>();
  for (const source of SOURCES) {
    for (const tag of listOf(given[source], source)) {
      if (!TAG.test(tag)) {
        throw new GatewayError('invalid_request', `${source}: "${tag.slice(0, 80)}" is not a tag (1-64 of letters, digits and _ . : / = @ + -).`, {
          param: source,
        });
      }
      tags.add(tag);
    }
    if (tags.size > MAX_TAGS) throw new GatewayError('invalid_request', `A request has at most ${MAX_TAGS} tags.`, { param: source });
  }
  return [...tags];
}

function listOf(value: unknown, source: string): string[] {
  if (value === undefined || value === null) return [];
  const items = Array.isArray(value) ? value : [value];
  return items.flatMap((item) => {
    if (typeof item !== 'string') throw new GatewayError('invalid_request', `${source} holds strings: tags, or tags separated by commas.`, { param: source });
    return item
      .split(',')
      .map((tag) => tag.trim())
      .filter(Boolean);
  });
}
