import type { OpenAIUsage } from './canonical.js';
import type { Target } from './router/router.js';
import { endSpan, SpanKind, startSpan, tracingContent, tracingOn, type Span } from '../kit/tracing.js';

/**
 * The span of one provider call, with the OpenTelemetry GenAI semantic
 * conventions. Prompt and completion text go in only with
 * telemetry.traces.includeContent, and only when given (not when the caller's
 * storage policies withhold them); undefined when tracing is off.
 */
export function startProviderSpan(operation: 'chat' | 'text_completion' | 'embeddings', target: Target, input: unknown): Span | undefined {
  if (!tracingOn()) return undefined;
  const { provider, model, id } = target.deployment;
  const span = startSpan(`${operation} ${model}`, SpanKind.CLIENT, {
    'gen_ai.operation.name': operation,
    'gen_ai.system': provider.type,
    'gen_ai.provider.name': provider.type,
    'gen_ai.request.model': model,
    'gateway.provider': provider.name,
    'gateway.deployment': id,
  });
  if (span && tracingContent() && input !== undefined) span.setAttribute('gen_ai.input.messages', JSON.stringify(input));
  return span;
}

/** Ends a provider call's span with what the provider answered: its model, its token counts (and its text, with includeContent). */
export function endProviderSpan(span: Span | undefined, answer: { model?: unknown; usage?: OpenAIUsage; output?: unknown }, err?: unknown): void {
  if (!span) return;
  if (typeof answer.model === 'string' && answer.model) span.setAttribute('gen_ai.response.model', answer.model);
  if (answer.usage) {
    span.setAttribute('gen_ai.usage.input_tokens', answer.usage.prompt_tokens);
    span.setAttribute('gen_ai.usage.output_tokens', answer.usage.completion_tokens);
  }
  if (answer.output !== undefined && tracingContent()) span.setAttribute('gen_ai.output.messages', JSON.stringify(answer.output));
  endSpan(span, err);
}
