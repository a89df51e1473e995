import { randomUUID } from 'node:crypto';

/**
 * Reranking as Cohere's POST /v2/rerank (https://docs.cohere.com/v2/reference/rerank) and vLLM's POST /v1/rerank
 * (Jina's shape, https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html#re-rank-api) answer it.
 * A document's score is the share of the query's words it holds, so tests know the order; ties keep document order.
 */
function ranked(body: Record<string, unknown>): { index: number; relevance_score: number; text: string }[] | undefined {
  const { query, documents } = body;
  if (typeof query !== 'string' || !Array.isArray(documents) || !documents.every((d) => typeof d === 'string')) return undefined;
  const words = query.toLowerCase().match(/\w+/g) ?? [];
  const scored = (documents as string[]).map((text, index) => {
    const held = new Set(text.toLowerCase().match(/\w+/g) ?? []);
    const hits = words.filter((w) => held.has(w)).length;
    return { index, relevance_score: words.length ? Math.round((hits / words.length) * 1e4) / 1e4 : 0, text };
  });
  scored.sort((a, b) => b.relevance_score - a.relevance_score || a.index - b.index);
  return typeof body.top_n === 'number' ? scored.slice(0, body.top_n) : scored;
}

/** Cohere: results of index and score, one search unit per 100 documents in meta.billed_units. */
export function cohereRerank(body: Record<string, unknown>): { status: number; message?: string; body?: unknown } {
  const results = ranked(body);
  if (!results) return { status: 400, message: 'invalid request: query must be a string and documents a list of strings.' };
  const searchUnits = Math.ceil((body.documents as unknown[]).length / 100);
  return {
    status: 200,
    body: {
      id: randomUUID(),
      results: results.map(({ index, relevance_score }) => ({ index, relevance_score })),
      meta: { api_version: { version: '2' }, billed_units: { search_units: searchUnits } },
    },
  };
}

/** vLLM (Jina's shape): each result with its document, usage in tokens, no search units. */
export function jinaRerank(body: Record<string, unknown>): { status: number; body: unknown } {
  const results = ranked(body);
  if (!results)
    return { status: 400, body: { object: 'error', message: 'documents must be a list of strings', type: 'BadRequestError', param: null, code: 400 } };
  const tokens = (body.documents as string[]).reduce((sum, text) => sum + text.split(/\s+/).length, 0);
  return {
    status: 200,
    body: {
      id: `rerank-${randomUUID()}`,
      model: body.model,
      usage: { total_tokens: tokens },
      results: results.map(({ index, relevance_score, text }) => ({ index, document: { text }, relevance_score })),
    },
  };
}
