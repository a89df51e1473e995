import { searchUnitsOf } from '../../kit/pricing/units.js';
import { MalformedAnswer } from './http.js';

/**
 * Reranking answers, in the shape the gateway answers with: Cohere's
 * (https://docs.cohere.com/v2/reference/rerank): `results` of `{index,
 * relevance_score}` by relevance, and `meta.billed_units.search_units`. vLLM
 * answers in Jina's shape (https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html#re-rank-api):
 * `results` with the same two fields (and the document), `usage.total_tokens`,
 * no search units: those are counted as Cohere bills them, one per query over up
 * to 100 documents (searchUnitsOf), so a price per search unit applies to either.
 */

type Fields = Record<string, unknown>;

const isObject = (value: unknown): value is Fields => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The answer in Cohere's shape, checked for what the gateway reads and clients use; `documents` as sent, for the fallback count. */
export function rerankAnswer(body: unknown, documents: unknown): Fields {
  if (!isObject(body)) throw new MalformedAnswer('the rerank answer is not an object');
  if (!Array.isArray(body.results)) throw new MalformedAnswer('results is not an array');
  const count = Array.isArray(documents) ? documents.length : 0;
  const results = body.results.map((raw, i) => {
    if (!isObject(raw)) throw new MalformedAnswer(`results[${i}] is not an object`);
    const { index, relevance_score } = raw;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= count)
      throw new MalformedAnswer(`results[${i}].index is not the index of a document`);
    if (typeof relevance_score !== 'number') throw new MalformedAnswer(`results[${i}].relevance_score is not a number`);
    return raw.document === undefined ? { index, relevance_score } : { index, relevance_score, document: raw.document };
  });
  const meta = isObject(body.meta) ? body.meta : {};
  const billed = isObject(meta.billed_units) ? meta.billed_units : {};
  const units = typeof billed.search_units === 'number' && billed.search_units >= 0 ? billed.search_units : searchUnitsOf(documents);
  return { id: typeof body.id === 'string' ? body.id : '', results, meta: { ...meta, billed_units: { ...billed, search_units: units } } };
}
