import { Counter, Histogram, type Registry } from 'prom-client';
import type { Served } from '../gen/gateway/v1/common.js';
import type {
  CompletionChunk,
  CompletionRequest,
  CompletionResponse,
  ListModelsRequest,
  ListModelsResponse,
  RoutingService,
} from '../gen/gateway/v1/routing.js';
import { GatewayError } from '../kit/errors.js';
import type { Api, CallOptions } from '../kit/grpc.js';
import { LATENCY_BUCKETS } from '../kit/metrics.js';
import type { ChatRequest, Provider } from './providers/types.js';
import { EMPTY_USAGE } from './providers/types.js';

interface Target {
  provider: Provider;
  request: ChatRequest;
  served: Served;
}

/** Resolves `provider/model` to a configured provider and calls it. */
export class Routing implements Api<typeof RoutingService> {
  private readonly calls: Counter<'provider' | 'outcome'>;
  private readonly duration: Histogram<'provider'>;

  constructor(
    private readonly providers: ReadonlyMap<string, Provider>,
    metrics: Registry,
  ) {
    this.calls = new Counter({
      name: 'gateway_upstream_requests_total',
      help: 'Calls to providers, by provider and outcome (ok, or the gateway error code).',
      labelNames: ['provider', 'outcome'],
      registers: [metrics],
    });
    this.duration = new Histogram({
      name: 'gateway_upstream_duration_seconds',
      help: 'Time from sending a request to a provider to its last byte.',
      labelNames: ['provider'],
      buckets: LATENCY_BUCKETS,
      registers: [metrics],
    });
  }

  async complete(request: CompletionRequest, options: CallOptions = {}): Promise<CompletionResponse> {
    const target = this.resolve(request);
    const stop = this.duration.startTimer({ provider: target.provider.name });
    try {
      const result = await target.provider.complete({ request: target.request, signal: options.signal ?? neverAborted });
      this.calls.inc({ provider: target.provider.name, outcome: 'ok' });
      return { body: result.body, usage: result.usage, served: target.served };
    } catch (err) {
      this.calls.inc({ provider: target.provider.name, outcome: err instanceof GatewayError ? err.code : 'internal_error' });
      throw err;
    } finally {
      stop();
    }
  }

  async *completeStream(request: CompletionRequest, options: CallOptions = {}): AsyncGenerator<CompletionChunk> {
    const target = this.resolve(request);
    const clientWantsUsage = target.request.stream_options?.include_usage === true;
    const stop = this.duration.startTimer({ provider: target.provider.name });
    let outcome = 'ok';
    try {
      const pieces = await target.provider.stream({ request: target.request, signal: options.signal ?? neverAborted });
      yield { kind: { $case: 'start', start: { served: target.served } } };
      let usage = EMPTY_USAGE;
      for await (const piece of pieces) {
        if (piece.usage) usage = piece.usage;
        if (piece.usageOnly && !clientWantsUsage) continue;
        yield { kind: { $case: 'data', data: Buffer.from(piece.data) } };
      }
      yield { kind: { $case: 'end', end: { usage } } };
    } catch (err) {
      outcome = err instanceof GatewayError ? err.code : 'internal_error';
      throw err;
    } finally {
      this.calls.inc({ provider: target.provider.name, outcome });
      stop();
    }
  }

  async listModels(_request: ListModelsRequest): Promise<ListModelsResponse> {
    const models = [];
    for (const provider of this.providers.values()) {
      for (const model of provider.models) models.push({ id: `${provider.name}/${model}`, ownedBy: provider.name });
    }
    return { models };
  }

  private resolve(request: CompletionRequest): Target {
    let body: ChatRequest;
    try {
      body = JSON.parse(request.body.toString('utf8')) as ChatRequest;
    } catch {
      throw new GatewayError('invalid_json', 'Request body is not valid JSON.');
    }
    const model = typeof body.model === 'string' ? body.model : '';
    const slash = model.indexOf('/');
    const provider = slash > 0 ? this.providers.get(model.slice(0, slash)) : undefined;
    if (!provider || slash === model.length - 1) {
      const known = [...this.providers.keys()].join(', ');
      throw new GatewayError(
        'model_not_found',
        `The model \`${model}\` does not exist. Address models as <provider>/<model>; configured providers: ${known}.`,
        { param: 'model' },
      );
    }
    const upstreamModel = model.slice(slash + 1);
    return {
      provider,
      request: { ...body, model: upstreamModel },
      served: { provider: provider.name, model: upstreamModel, deployment: '' },
    };
  }
}

const neverAborted = new AbortController().signal;
