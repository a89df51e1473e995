import type { TextSegment } from './engine.js';

/**
 * The text of a chat request in the canonical (OpenAI Chat Completions) shape
 * that routing holds, as segments for the guardrails and back: every message's
 * text content (system prompt included) and every tool call's arguments.
 * Typed by structure, so that the kit does not import routing's types.
 */

interface TextPartLike {
  readonly type: string;
  readonly text?: unknown;
}

export interface ChatMessageLike {
  readonly content?: string | readonly TextPartLike[] | null;
  readonly tool_calls?: readonly { readonly function: { readonly arguments: string } }[];
}

/** The segments of a request's messages, with paths such as `messages[1].content[0].text`. */
export function chatSegments(messages: readonly ChatMessageLike[]): TextSegment[] {
  const segments: TextSegment[] = [];
  rewriteTexts(messages, (path, text) => {
    segments.push({ path, text });
    return text;
  });
  return segments;
}

/** The messages with the text of each segment put back at its path; messages nothing changed in are the same objects. */
export function withSegments<M extends ChatMessageLike>(messages: readonly M[], segments: readonly TextSegment[]): M[] {
  const byPath = new Map(segments.map((segment) => [segment.path, segment.text]));
  return rewriteTexts(messages, (path, text) => byPath.get(path) ?? text);
}

/** Calls `rewrite` on each text in order and builds messages anew where it returned another text. */
function rewriteTexts<M extends ChatMessageLike>(messages: readonly M[], rewrite: (path: string, text: string) => string): M[] {
  return messages.map((message, i) => {
    const at = `messages[${i}]`;
    let changed: { content?: ChatMessageLike['content']; tool_calls?: ChatMessageLike['tool_calls'] } | undefined;
    const { content, tool_calls } = message;
    if (typeof content === 'string') {
      const text = rewrite(`${at}.content`, content);
      if (text !== content) changed = { content: text };
    } else if (Array.isArray(content)) {
      const parts = content.map((part: TextPartLike, j) => {
        if (part.type !== 'text' || typeof part.text !== 'string') return part;
        const text = rewrite(`${at}.content[${j}].text`, part.text);
        return text === part.text ? part : { ...part, text };
      });
      if (parts.some((part, j) => part !== content[j])) changed = { content: parts };
    }
    if (tool_calls) {
      const calls = tool_calls.map((call, j) => {
        const args = rewrite(`${at}.tool_calls[${j}].function.arguments`, call.function.arguments);
        return args === call.function.arguments ? call : { ...call, function: { ...call.function, arguments: args } };
      });
      if (calls.some((call, j) => call !== tool_calls[j])) changed = { ...changed, tool_calls: calls };
    }
    return changed ? { ...message, ...changed } : message;
  });
}
