import type { CompletionChunk, CompletionRequest, CompletionResponse, Passthrough } from '../gen/gateway/v1/routing.js';
import { GatewayError } from '../kit/errors.js';
import { NATIVE_RESPONSES_TYPES } from '../kit/passthrough.js';
import { hostedToolCallCap, IMAGE_TOOL_MODEL, meteredHostedTool, webSearchKind } from '../kit/pricing/units.js';
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

/**
 * Whether a Responses API body is served natively: it offers web search or image generation, and every deployment its
 * model may reach (fallbacks too) is OpenAI's or, for web search alone, Azure's (whose Responses API does not stream
 * image generation).
 */
export function servedNatively(router: Router, body: Record<string, unknown>): boolean {
  if (typeof body.model !== 'string' || !meteredHostedTool(body)) return false;
  const types = toolsOf(body).some((tool) => tool?.type === 'image_generation') ? ['openai'] : NATIVE_RESPONSES_TYPES;
  const providers = new Map(router.catalog.allProviders().map((provider) => [provider.name, provider]));
  const targets = router.catalog.targetsOf(body.model);
  return (
    targets.length > 0 && targets.every(({ provider }) => types.includes(providers.get(provider)?.type ?? '') && providers.get(provider)?.native !== undefined)
  );
}

const toolsOf = (body: Record<string, unknown>) => (Array.isArray(body.tools) ? (body.tools as (Item | null)[]) : []);

/**
 * What the ledger could not meter of the hosted tools offered, refused naming the parameter: web search and image
 * generation together (a usage row bills one kind of unit), an image model other than the one priced
 * (IMAGE_TOOL_MODEL), and partial images, which OpenAI bills as image tokens on top of the image.
 */
function refuseUnmetered(body: Record<string, unknown>): void {
  const tools = toolsOf(body);
  const searches = tools.some((tool) => webSearchKind(tool?.type));
  tools.forEach((tool, i) => {
    if (tool?.type !== 'image_generation') return;
    const refuse = (param: string, why: string) => {
      throw new GatewayError('invalid_request', `Invalid 'tools[${i}].${param}': ${why}`, { param: `tools[${i}].${param}` });
    };
    if (searches) refuse('type', 'offer web search or image generation in a request, not both: the gateway meters one kind of hosted tool call per response.');
    if (tool.model !== undefined && tool.model !== IMAGE_TOOL_MODEL)
      refuse('model', `the gateway prices the image generation tool's images as ${IMAGE_TOOL_MODEL}'s; leave model out or name ${IMAGE_TOOL_MODEL}.`);
    if (tool.partial_images !== undefined && tool.partial_images !== 0)
      refuse('partial_images', 'partial images are billed as image tokens the gateway does not meter; leave partial_images out.');
  });
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
   * `max_tool_calls` at most the hosted tool calls ingress reserved for (hostedToolCallCap); an image tool names its model.
   */
  private async prepare(request: CompletionRequest, body: Record<string, unknown>, guard: RequestGuard) {
    if (guard.underPolicies) {
      throw new GatewayError(
        'passthrough_not_allowed',
        "Guardrail policies apply to this key, and web search and image generation are answered by the provider's Responses API as it sends them, where they cannot be applied: leave the hosted tool out.",
      );
    }
    refuseUnmetered(body);
    const resolved = await this.state.resolve(body, request.context, guard.keepsContent, true);
    const { previous_response_id: _previous, ...sent } = resolved;
    const input = inputItems(resolved.input);
    const tools = toolsOf(sent).map(pricedImageModel);
    return {
      sent: { ...sent, ...(sent.tools ? { tools } : {}), store: false, max_tool_calls: hostedToolCallCap(sent) },
      keep: this.state.keeper(resolved, () => input, request.context),
    };
  }
}

/** An image generation tool names the image model it is priced as, so OpenAI's default (which may change) is not what runs. */
const pricedImageModel = (tool: Item | null) => (tool?.type === 'image_generation' && tool.model === undefined ? { ...tool, model: IMAGE_TOOL_MODEL } : tool);

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
