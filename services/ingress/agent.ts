import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Attempt, GuardrailOutcome, Served, StoredAnswer, Usage } from '../gen/gateway/v1/common.js';
import type { CompletionRequest, CompletionResponse } from '../gen/gateway/v1/routing.js';
import { streamErrorEvent } from '../kit/api-errors.js';
import { asGatewayError, GatewayError } from '../kit/errors.js';
import { headerValue } from '../kit/http.js';
import type { AgentConfig } from './config.js';
import { servedHeaders, type InboundRequest, type PipelineDeps } from './pipeline.js';
import { callMetaTool, META_TOOLS } from './code-mode/meta-tools.js';
import { SseWriter } from './sse.js';
import { functionName, resultText, ToolAccess, toolNameOf } from './tools.js';

export const TOOL_MODES = ['off', 'inject', 'agent', 'code'] as const;
export type ToolMode = (typeof TOOL_MODES)[number];

/**
 * How a chat completion uses the key's MCP tools: the x-gateway-tools header, else the key's tool_mode. In code
 * mode the model gets the meta-tools, which the gateway runs itself (agent mode over programs).
 */
export function toolModeOf(request: FastifyRequest, inbound: InboundRequest): ToolMode {
  const keyMode = inbound.key?.toolMode;
  const value = headerValue(request.headers['x-gateway-tools'])?.toLowerCase() || keyMode || 'off';
  if (!(TOOL_MODES as readonly string[]).includes(value)) {
    throw new GatewayError('invalid_request', `x-gateway-tools must be one of ${TOOL_MODES.join(', ')}.`, { param: 'x-gateway-tools' });
  }
  return value as ToolMode;
}

type Message = Record<string, unknown>;
interface ToolCallJson {
  id: string;
  function: { name: string; arguments: string };
}
interface ChatCompletionJson {
  choices?: { message?: Message & { tool_calls?: ToolCallJson[] } }[];
  [field: string]: unknown;
}

/** The key's tools offered on one request, and which of them the gateway may run itself. */
export interface ToolOffer {
  readonly body: Record<string, unknown>;
  readonly access: ToolAccess;
  /** Function names of tools an admin marked auto-executable (agent mode only), or the meta-tools (code mode). */
  readonly auto: ReadonlySet<string>;
  /** The offered tools are code mode's meta-tools. */
  readonly code: boolean;
}

/**
 * Adds the approved tools the key may use to the request's tools, as OpenAI
 * functions named <server>__<tool> (a tool the client sent under the same
 * name wins), and reserves the prompt they add. Undefined when the key may use none.
 */
export async function offerTools(deps: PipelineDeps, inbound: InboundRequest, body: Record<string, unknown>, mode: ToolMode): Promise<ToolOffer | undefined> {
  const key = inbound.key;
  if (mode === 'off' || !key) return undefined;
  const access = await ToolAccess.forKey(deps, inbound.context, key.hash);
  const tools = await access.list();
  if (tools.length === 0) return undefined;
  const own = Array.isArray(body.tools) ? (body.tools as { function?: { name?: string } }[]) : [];
  const taken = new Set(own.map((tool) => tool.function?.name));
  if (mode === 'code') return offerMetaTools(inbound, body, access, own, taken);
  const offered = tools.filter((tool) => !taken.has(functionName(tool.name)));
  const functions = offered.map((tool) => ({
    type: 'function',
    function: { name: functionName(tool.name), description: tool.description, parameters: JSON.parse(tool.inputSchemaJson) as unknown },
  }));
  const auto = new Set(mode === 'agent' ? offered.filter((tool) => tool.autoExecute).map((tool) => functionName(tool.name)) : []);
  await inbound.reserveAddedPrompt({ tools: functions });
  return { body: { ...body, tools: [...own, ...functions] }, access, auto, code: false };
}

/** Code mode on chat completions: the meta-tools instead of the key's tools, all run by the gateway. */
async function offerMetaTools(
  inbound: InboundRequest,
  body: Record<string, unknown>,
  access: ToolAccess,
  own: unknown[],
  taken: Set<unknown>,
): Promise<ToolOffer> {
  const functions = META_TOOLS.filter((tool) => !taken.has(tool.name)).map((tool) => ({
    type: 'function',
    function: { name: tool.name, description: tool.description, parameters: tool.inputSchema },
  }));
  await inbound.reserveAddedPrompt({ tools: functions });
  return { body: { ...body, tools: [...own, ...functions] }, access, auto: new Set(functions.map((f) => f.function.name)), code: true };
}

function addUsage(total: Usage | undefined, more: Usage | undefined): Usage | undefined {
  if (!total || !more) return total ?? more;
  return {
    promptTokens: total.promptTokens + more.promptTokens,
    completionTokens: total.completionTokens + more.completionTokens,
    totalTokens: total.totalTokens + more.totalTokens,
    cachedTokens: total.cachedTokens + more.cachedTokens,
    reasoningTokens: total.reasoningTokens + more.reasoningTokens,
    cacheWriteTokens: total.cacheWriteTokens + more.cacheWriteTokens,
    cacheWrite1hTokens: total.cacheWrite1hTokens + more.cacheWrite1hTokens,
    billed: total.billed ?? more.billed,
  };
}

function usageJson(usage: Usage) {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.totalTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedTokens },
    completion_tokens_details: { reasoning_tokens: usage.reasoningTokens },
  };
}

/** One tool call the gateway ran, as the client sees it in x_gateway_agent. */
interface StepRecord {
  step: number;
  tool: string;
  tool_call_id: string;
  status: 'running' | 'ok' | 'tool_error' | string;
  duration_ms?: number;
}

/** Why the loop handed the model's tool calls to the client instead of running them. */
type Stop = 'client_tools' | 'max_steps' | 'time_budget';

export interface AgentRun {
  request: FastifyRequest;
  reply: FastifyReply;
  offer: ToolOffer;
  hints: CompletionRequest['hints'];
  model: string;
  settings: AgentConfig;
}

/**
 * Agent mode: the gateway runs model → tool calls → results → model itself
 * while every tool the model calls is auto-executable, up to maxSteps rounds
 * and timeBudgetMs; otherwise the model's tool calls go back to the client as
 * usual. A streamed request gets one progress chunk (empty choices,
 * x_gateway_agent) per tool call as it starts and ends, then the final answer
 * as a stream. Usage is summed over every model call.
 */
export async function runAgent(deps: PipelineDeps, inbound: InboundRequest, run: AgentRun): Promise<unknown> {
  const { offer, reply, model, settings } = run;
  const stream = offer.body.stream === true;
  let maxSteps: number;
  try {
    if (typeof offer.body.n === 'number' && offer.body.n !== 1)
      throw new GatewayError('invalid_request', 'Agent mode answers with one choice; leave n unset.', { param: 'n' });
    maxSteps = Math.min(settings.maxSteps, requestedMaxSteps(run.request) ?? settings.maxSteps);
  } catch (err) {
    throw inbound.fail(err, model, stream);
  }
  const { stream: _stream, stream_options: _options, ...whole } = offer.body;
  const messages = [...((offer.body.messages as Message[] | undefined) ?? [])];
  const deadline = performance.now() + settings.timeBudgetMs;
  const steps: StepRecord[] = [];
  let usage: Usage | undefined;
  let served: Served | undefined;
  const attempts: Attempt[] = [];
  const guardrails: GuardrailOutcome[] = [];
  let sse: SseWriter | undefined;
  let clientGone = false;
  const onClose = () => void (clientGone = true);
  reply.raw.on('close', onClose);
  const progress = async (record: StepRecord) => {
    steps.push(record);
    if (!stream) return;
    if (!sse) {
      reply.hijack();
      sse = new SseWriter(reply.raw);
      sse.start(reply.getHeaders() as Record<string, string>);
    }
    const chunk = {
      id: `chatcmpl-agent-${inbound.context.requestId}`,
      object: 'chat.completion.chunk',
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [],
      x_gateway_agent: record,
    };
    await sse.event('', JSON.stringify(chunk));
  };

  try {
    for (let round = 1; ; round++) {
      if (clientGone) throw new GatewayError('client_closed_request', 'The client closed the connection before the agent loop ended.');
      const call = { ...whole, messages };
      const body = Buffer.from(JSON.stringify(call));
      // The admission reserved the first model call; each further one, with its longer prompt, is reserved before it is made.
      const hints = round === 1 ? run.hints : { ...run.hints!, maxOutputTokens: await inbound.extend(call, body) };
      const result: CompletionResponse = await deps.clients.routing.complete({
        context: inbound.context,
        endpoint: 'chat.completions',
        body,
        hints,
        replay: undefined,
        keepAnswer: stream,
        cache: undefined,
        uploads: [],
        passthrough: undefined,
      });
      usage = addUsage(usage, result.usage);
      served = result.served;
      attempts.push(...result.attempts);
      guardrails.push(...result.guardrails);
      const completion = JSON.parse(result.body.toString('utf8')) as ChatCompletionJson;
      const message = completion.choices?.[0]?.message;
      const calls = message?.tool_calls ?? [];
      const stop: Stop | undefined = !calls.every((call) => offer.auto.has(call.function.name))
        ? 'client_tools'
        : round > maxSteps
          ? 'max_steps'
          : performance.now() > deadline
            ? 'time_budget'
            : undefined;
      if (calls.length === 0 || stop) {
        const agent = { steps: steps.filter((s) => s.status !== 'running'), ...(calls.length > 0 && stop ? { stopped: stop } : {}) };
        return await answer(deps, inbound, run, { result, completion, usage, served, attempts, guardrails, agent, sse });
      }
      messages.push(message!);
      // The round's calls run together; their results go back in the order the model asked.
      const results = await Promise.all(calls.map((call) => runTool(deps, offer, round, call, progress)));
      messages.push(...results.map((content, i) => ({ role: 'tool', tool_call_id: calls[i]!.id, content })));
    }
  } catch (err) {
    const error = asGatewayError(err);
    // The model calls made before the failure were billed: their usage is recorded and charged either way.
    void inbound.finish({
      model,
      stream,
      httpStatus: error.status,
      served,
      usage,
      attempts: [...attempts, ...error.attempts],
      guardrails: [...guardrails, ...error.guardrails],
      error,
    });
    if (!sse) throw error;
    const event = streamErrorEvent('chat.completions', error);
    await sse.event(event.event ?? '', event.data);
    sse.end();
    return reply;
  } finally {
    reply.raw.off('close', onClose);
  }
}

/** A client may lower the configured round limit with x-gateway-agent-max-steps. */
function requestedMaxSteps(request: FastifyRequest): number | undefined {
  const value = headerValue(request.headers['x-gateway-agent-max-steps']);
  if (value === undefined) return undefined;
  const steps = Number(value);
  if (!Number.isInteger(steps) || steps < 0)
    throw new GatewayError('invalid_request', 'x-gateway-agent-max-steps must be a whole number.', { param: 'x-gateway-agent-max-steps' });
  return steps;
}

/** Runs one tool call; a refused or failing call becomes text the model reads, as a tool error. */
async function runTool(
  deps: PipelineDeps,
  { access, code }: ToolOffer,
  step: number,
  call: ToolCallJson,
  progress: (record: StepRecord) => Promise<void>,
): Promise<string> {
  const tool = toolNameOf(call.function.name);
  const started = performance.now();
  await progress({ step, tool, tool_call_id: call.id, status: 'running' });
  let status: string;
  let content: string;
  try {
    if (code) {
      const result = await callMetaTool(access, deps, tool, argumentsOf(call.function.arguments));
      status = result?.isError ? 'tool_error' : 'ok';
      content = (result?.content ?? []).map((block) => (block.type === 'text' ? block.text : JSON.stringify(block))).join('\n');
    } else {
      const result = await access.call(tool, call.function.arguments || '{}', 'agent');
      status = result.isError ? 'tool_error' : 'ok';
      content = resultText(result);
    }
  } catch (err) {
    const error = asGatewayError(err);
    status = error.code;
    content = `Error: ${error.message}`;
  }
  await progress({ step, tool, tool_call_id: call.id, status, duration_ms: Math.round(performance.now() - started) });
  return content;
}

/** A model's tool call arguments as an object; what is not one is no arguments, and the meta-tool says what it lacks. */
function argumentsOf(json: string): Record<string, unknown> {
  try {
    const value = JSON.parse(json || '{}') as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

interface Final {
  result: CompletionResponse;
  completion: ChatCompletionJson;
  usage: Usage | undefined;
  served: Served | undefined;
  attempts: Attempt[];
  /** Each round's guardrail outcomes; rendering the last answer as a stream checks it again, uncounted here. */
  guardrails: GuardrailOutcome[];
  agent: { steps: StepRecord[]; stopped?: Stop };
  sse: SseWriter | undefined;
}

/** Sends the last model answer (usage summed over the loop), whole or as a stream rendered by routing. */
async function answer(deps: PipelineDeps, inbound: InboundRequest, run: AgentRun, final: Final): Promise<unknown> {
  const { reply, model, offer } = run;
  const { usage, served, attempts, guardrails, agent } = final;
  const total = usage ? { usage: usageJson(usage) } : {};
  const headers = { ...servedHeaders(served, attempts), 'x-gateway-agent-steps': String(agent.steps.length) };
  if (offer.body.stream !== true) {
    await inbound.finish({ model, stream: false, httpStatus: 200, served, usage, attempts, guardrails });
    return reply
      .headers(headers)
      .type('application/json')
      .send(JSON.stringify({ ...final.completion, ...total, x_gateway_agent: agent }));
  }
  const stored = JSON.parse(final.result.answer.toString('utf8')) as { chat: Record<string, unknown> };
  const replay: StoredAnswer = { answer: Buffer.from(JSON.stringify({ chat: { ...stored.chat, ...total } })), usage, served };
  let sse = final.sse;
  if (!sse) {
    reply.hijack();
    sse = new SseWriter(reply.raw);
    sse.start({ ...(reply.getHeaders() as Record<string, string>), ...headers });
  }
  const body = Buffer.from(JSON.stringify(offer.body));
  for await (const chunk of deps.clients.routing.completeStream({
    context: inbound.context,
    endpoint: 'chat.completions',
    body,
    hints: run.hints,
    replay,
    keepAnswer: false,
    cache: undefined,
    uploads: [],
    passthrough: undefined,
  })) {
    if (chunk.kind?.$case === 'data') await sse.data(chunk.kind.data);
  }
  await sse.complete(inbound.finish({ model, stream: true, httpStatus: 200, served, usage, attempts, guardrails }), 'chat.completions');
  return reply;
}
