import type { CompletionChunk, CompletionRequest, CompletionResponse, Passthrough } from '../gen/gateway/v1/routing.js';
import { GatewayError } from '../kit/errors.js';
import { NATIVE_RESPONSES_TYPES } from '../kit/passthrough.js';
import { webSearchCallCap, webSearchKind } from '../kit/pricing/units.js';
import { newId } from './formats/responses-object.js';
import type { RequestGuard } from './guardrails.js';
import { passthroughStream, passthroughWhole } from './passthrough.js';
import type { ResponsesState } from './responses-state.js';
import type { Router } from './router/router.js';

/**
 * The unified /v1/responses served by OpenAI's (or Azure OpenAI's) own Responses API (docs/routing.md, "Web search, served by OpenAI"):
 * a request offering a web search tool whose every reachable deployment is an OpenAI or Azure provider goes to that provider's
 * POST /v1/responses as the client wrote it (output capped, stored state resolved by the gateway), and the answer
 * comes back as OpenAI sent it, metered from its usage and its web search calls (routing/passthrough.ts).
 */

type Item = Record<string, unknown>;

/** OpenAI's Responses API, as passthrough calls it; the provider is the model group's. */
const RESPONSES: Passthrough = { provider: '', api: 'openai', path: '/v1/responses', headers: {} };

/** Whether a Responses API body is served natively: it offers web search, and every deployment its model may reach (fallbacks too) is OpenAI's or Azure's. */
export function servedNatively(router: Router, body: Record<string, unknown>): boolean {
  const tools = Array.isArray(body.tools) ? (body.tools as (Item | null)[]) : [];
  if (typeof body.model !== 'string' || !tools.some((tool) => webSearchKind(tool?.type))) return false;
  const providers = new Map(router.catalog.allProviders().map((provider) => [provider.name, provider]));
  const targets = router.catalog.targetsOf(body.model);
  return (
    targets.length > 0 &&
    targets.every(({ provider }) => NATIVE_RESPONSES_TYPES.includes(providers.get(provider)?.type ?? '') && providers.get(provider)?.native !== undefined)
  );
}

export class NativeResponses {
  constructor(private readonly state: ResponsesState) {}

  async whole(router: Router, request: CompletionRequest, body: Record<string, unknown>, guard: RequestGuard, signal: AbortSignal) {
    const { sent, keep } = await this.prepare(request, body, guard);
    const answer: Omit<CompletionResponse, 'guardrails'> = await passthroughWhole(router, RESPONSES, sent, request.hints, signal, true);
    const response = jsonObject(answer.body.toString('utf8'));
    if (keep && response) await keep(response);
    return answer;
  }

  async *stream(router: Router, request: CompletionRequest, body: Record<string, unknown>, guard: RequestGuard, signal: AbortSignal) {
    const { sent, keep } = await this.prepare(request, body, guard);
    for await (const chunk of passthroughStream(router, RESPONSES, sent, request.hints, signal, true)) {
      // The Response of the stream's last event is kept before that event goes to the client, as for a translated stream.
      const event = keep && chunk.kind?.$case === 'data' ? jsonObject(chunk.kind.data.data.toString('utf8')) : undefined;
      if (event && (event.type === 'response.completed' || event.type === 'response.incomplete')) await keep!(event.response as Item);
      yield chunk satisfies CompletionChunk;
    }
  }

  /**
   * The body OpenAI is sent: previous_response_id resolved by the gateway into the input (the tenant's stored
   * responses, not OpenAI's account), `store: false`, since the gateway keeps what the client asked to store, and
   * `max_tool_calls` at most the web search calls ingress reserved for (webSearchCallCap).
   */
  private async prepare(request: CompletionRequest, body: Record<string, unknown>, guard: RequestGuard) {
    if (guard.underPolicies) {
      throw new GatewayError(
        'passthrough_not_allowed',
        "Guardrail policies apply to this key, and web search is answered by OpenAI's Responses API as OpenAI sends it, where they cannot be applied: leave the web_search tool out.",
      );
    }
    const resolved = await this.state.resolve(body, request.context, guard.keepsContent, true);
    const { previous_response_id: _previous, ...sent } = resolved;
    const input = inputItems(resolved.input);
    return { sent: { ...sent, store: false, max_tool_calls: webSearchCallCap(sent) }, keep: this.state.keeper(resolved, () => input, request.context) };
  }
}

/** The input as stored items: a string is the user's message; an item without an id is given one, for input_items. */
function inputItems(input: unknown): Item[] {
  const items = typeof input === 'string' ? [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: input }] }] : ((input as Item[]) ?? []);
  return (Array.isArray(items) ? items : []).map((item) => (item.id ? item : { id: newId('msg'), ...item }));
}

function jsonObject(text: string): Item | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Item) : undefined;
  } catch {
    return undefined;
  }
}
