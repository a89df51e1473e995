import type { TextSegment } from '../kit/guardrails/index.js';

/**
 * The text a direct endpoint sends on to its provider, as segments the
 * guardrails read, and the body with checked segments put back. Each path is
 * the body's own (`query`, `documents[2].text`), named in a block's error.
 */
type Place = { path: string; get: () => unknown; set: (text: string) => void };

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A string field, or each string (or `{text}` part) of a list field. */
function places(container: Record<string, unknown>, field: string, prefix = ''): Place[] {
  const value = container[field];
  const path = `${prefix}${field}`;
  if (typeof value === 'string') return [{ path, get: () => container[field], set: (text) => (container[field] = text) }];
  if (!Array.isArray(value)) return [];
  return value.flatMap((item, i): Place[] => {
    if (typeof item === 'string') return [{ path: `${path}[${i}]`, get: () => value[i], set: (text) => (value[i] = text) }];
    if (isRecord(item) && typeof item.text === 'string') return [{ path: `${path}[${i}].text`, get: () => item.text, set: (text) => (item.text = text) }];
    return [];
  });
}

/** Where each direct endpoint carries text: Anthropic's messages for token counting, the rest their own fields. */
const TEXT_OF: Record<string, (body: Record<string, unknown>) => Place[]> = {
  'messages.count_tokens': (body) => [
    ...places(body, 'system'),
    ...(Array.isArray(body.messages) ? body.messages : []).flatMap((message, i) => (isRecord(message) ? places(message, 'content', `messages[${i}].`) : [])),
  ],
  moderations: (body) => places(body, 'input'),
  'images.generations': (body) => places(body, 'prompt'),
  'images.edits': (body) => places(body, 'prompt'),
  rerank: (body) => [...places(body, 'query'), ...places(body, 'documents')],
  'audio.speech': (body) => [...places(body, 'input'), ...places(body, 'instructions')],
  'audio.transcriptions': (body) => places(body, 'prompt'),
  'audio.translations': (body) => places(body, 'prompt'),
};

/** A copy of the body to check, its text segments, and how to write checked ones back into the copy. */
export function directText(
  endpoint: string,
  body: Record<string, unknown>,
): { copy: Record<string, unknown>; segments: TextSegment[]; write: (checked: TextSegment[]) => void } {
  const copy = structuredClone(body);
  const found = TEXT_OF[endpoint]?.(copy) ?? [];
  return {
    copy,
    segments: found.map((place) => ({ path: place.path, text: place.get() as string })),
    write: (checked) => checked.forEach((segment, i) => found[i]!.set(segment.text)),
  };
}
