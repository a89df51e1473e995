import { guardrailError, type AnswerScanner, type GuardrailRun } from '../kit/guardrails/index.js';
import type { ChatChoice, ChatChunk, ChatResponse, ChunkChoice, ToolCallDelta } from './canonical.js';

/**
 * The texts of an answer in routing's canonical shape, for the guardrails'
 * answer rules: each choice's reasoning, content and refusal, and each tool
 * call's arguments, whole (rewriteAnswer) or as they stream (guardChunks).
 */

const TEXT_FIELDS = ['reasoning_content', 'content', 'refusal'] as const;
type TextField = (typeof TEXT_FIELDS)[number];

/** The answer with each text replaced by `rewrite(path, text)`; choices nothing changed in stay the same objects. */
export function rewriteAnswer(response: ChatResponse, rewrite: (path: string, text: string) => string): ChatResponse {
  let changed = false;
  const choices = response.choices.map((choice): ChatChoice => {
    const at = `choices[${choice.index}].message`;
    let touched = false;
    const replace = (path: string, text: string) => {
      const result = rewrite(path, text);
      touched ||= result !== text;
      return result;
    };
    const message = { ...choice.message };
    for (const field of TEXT_FIELDS) {
      const text = message[field];
      if (typeof text === 'string' && text !== '') message[field] = replace(`${at}.${field}`, text);
    }
    // Rewritten thinking no longer matches its signature, so Anthropic refuses it back: the redaction holds.
    if (message.thinking_blocks) {
      message.thinking_blocks = message.thinking_blocks.map((block, j) =>
        block.type === 'thinking' && block.thinking ? { ...block, thinking: replace(`${at}.thinking_blocks[${j}].thinking`, block.thinking) } : block,
      );
    }
    if (message.tool_calls) {
      message.tool_calls = message.tool_calls.map((call, j) => ({
        ...call,
        function: { ...call.function, arguments: replace(`${at}.tool_calls[${j}].function.arguments`, call.function.arguments) },
      }));
    }
    if (!touched) return choice;
    changed = true;
    return { ...choice, message };
  });
  return changed ? { ...response, choices } : response;
}

/**
 * A stream of canonical chunks with the answer rules applied as it streams:
 * each text goes through a scanner of its own, which holds back what might be
 * the start of a value, so a value split across chunks is seen whole. When a
 * choice moves on to another text (content to a tool call, one tool call to
 * the next) or finishes, the text held for the previous one is sent first, so
 * every API's rendering sees each text's pieces in order. A block ends the
 * stream with the rule's error.
 */
export async function* guardChunks(run: GuardrailRun, chunks: AsyncIterable<ChatChunk>): AsyncGenerator<ChatChunk> {
  const choices = new Map<number, ChoiceGuard>();
  for await (const chunk of chunks) {
    if (!chunk.choices?.length) {
      yield chunk;
      continue;
    }
    yield {
      ...chunk,
      choices: chunk.choices.map((choice) => {
        let guard = choices.get(choice.index);
        if (!guard) choices.set(choice.index, (guard = new ChoiceGuard(run, choice.index)));
        return guard.apply(choice);
      }),
    };
  }
}

/** Where a streamed text goes: one of a choice's text fields, or a tool call's arguments. */
type Target = { readonly field: TextField } | { readonly tool: number };

class ChoiceGuard {
  private readonly scanners = new Map<string, AnswerScanner>();
  /** The text that received the last delta, whose scanner may hold some of it. */
  private current: { readonly path: string; readonly target: Target } | undefined;

  constructor(
    private readonly run: GuardrailRun,
    private readonly index: number,
  ) {}

  apply(choice: ChunkChoice): ChunkChoice {
    const { tool_calls, ...rest } = choice.delta;
    const delta: ChunkChoice['delta'] = { ...rest };
    // Each text is replaced by what its scanner releases; text held back for an earlier one is sent before it.
    for (const field of TEXT_FIELDS) if (delta[field]) delta[field] = '';
    const calls: ToolCallDelta[] = [];
    const emit = (target: Target, text: string) => {
      if (text === '') return;
      if ('field' in target) delta[target.field] = (delta[target.field] ?? '') + text;
      else calls.push({ index: target.tool, function: { arguments: text } });
    };
    const pass = (target: Target, text: string): string => {
      const path = `choices[${this.index}].delta.${'field' in target ? target.field : `tool_calls[${target.tool}].function.arguments`}`;
      if (this.current && this.current.path !== path) this.flush(emit);
      this.current = { path, target };
      let scanner = this.scanners.get(path);
      if (!scanner) this.scanners.set(path, (scanner = this.run.answerScanner(path)));
      return checked(scanner.push(text));
    };
    for (const field of TEXT_FIELDS) {
      const text = choice.delta[field];
      if (text) delta[field] = (delta[field] ?? '') + pass({ field }, text);
    }
    for (const call of tool_calls ?? []) {
      const args = call.function?.arguments;
      calls.push(args ? { ...call, function: { ...call.function, arguments: pass({ tool: call.index }, args) } } : call);
    }
    // A thinking block's signature ends its text: what the scanner holds of that text goes before it.
    if (choice.finish_reason || choice.delta.thinking_blocks) this.flush(emit);
    if (calls.length > 0) delta.tool_calls = calls;
    return { ...choice, delta };
  }

  /** Sends what the current text's scanner holds. */
  private flush(emit: (target: Target, text: string) => void): void {
    if (!this.current) return;
    emit(this.current.target, checked(this.scanners.get(this.current.path)!.end()));
    this.current = undefined;
  }
}

function checked(step: ReturnType<AnswerScanner['push']>): string {
  if (step.blocked) throw guardrailError(step.blocked);
  return step.text;
}
