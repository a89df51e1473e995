import { Counter, type Registry } from 'prom-client';
import type { GuardrailOutcome, RequestContext } from '../gen/gateway/v1/common.js';
import type { CacheRequest } from '../gen/gateway/v1/routing.js';
import { GatewayError } from '../kit/errors.js';
import type { Logger } from '../kit/log.js';
import {
  type AdminGuardrails,
  chatSegments,
  guardrailError,
  Guardrails,
  StoragePolicies,
  withAdminGuardrails,
  withSegments,
  type GuardrailRun,
  type GuardrailsConfig,
  type TextSegment,
} from '../kit/guardrails/index.js';
import type { ChatChunk, ChatResponse, EmbeddingsRequest } from './canonical.js';
import { directText } from './direct-text.js';
import { invalid } from './formats/chat.js';
import type { Translation } from './formats/types.js';
import { guardChunks, rewriteAnswer } from './guarded-answers.js';

/**
 * The caller's guardrail policies on the request path (docs/guardrails.md):
 * routing checks the parsed request before the cache and the provider see it,
 * and every answer it renders, from a provider or from the cache, whole or
 * streamed. What the rules did goes back to ingress for the request's event.
 * The config file's policies and attachments (guardrail and storage ones)
 * apply with those of the admin API, swapped in as one when an admin changes them.
 */
export class RoutingGuardrails {
  private engine: Guardrails;
  private storage: StoragePolicies;
  private readonly actions: Counter<'policy' | 'rule' | 'action'>;

  constructor(
    private readonly file: GuardrailsConfig,
    metrics: Registry,
    private readonly log: Logger,
  ) {
    this.engine = new Guardrails(file);
    // Only what each policy does to prompts and answers is read here (for cache entries): no value is hashed.
    this.storage = new StoragePolicies(file.storage, file.custom, undefined);
    this.actions = new Counter({
      name: 'gateway_guardrail_actions_total',
      help: 'Values guardrail rules found in requests and answers, by policy, rule and action (block, redact, flag; analyzer_failed_open or analyzer_failed_closed: an external analyzer did not answer).',
      labelNames: ['policy', 'rule', 'action'],
      registers: [metrics],
    });
  }

  /** What is wrong with the admin API's policies and attachments together with the config file; empty when they can be applied. */
  check(admin: AdminGuardrails): string[] {
    return withAdminGuardrails(this.file, admin).problems;
  }

  /** Makes the admin API's policies and attachments apply (after check() found no problem). */
  apply(admin: AdminGuardrails): void {
    const { config, problems } = withAdminGuardrails(this.file, admin);
    if (!config) throw new Error(`guardrails from the admin API were not applied: ${problems.join('; ')}`);
    this.engine = new Guardrails(config);
    this.storage = new StoragePolicies(config.storage, config.custom, undefined);
    const names = (entries: Record<string, unknown>) => Object.keys(entries);
    this.log.info(
      {
        policies: names(admin.policies),
        attachments: names(admin.attachments),
        storagePolicies: names(admin.storage.policies),
        storageAttachments: names(admin.storage.attachments),
      },
      'applied guardrails from the admin API',
    );
  }

  /** The guardrails of one request, for the caller its context names. */
  begin(context: RequestContext | undefined): RequestGuard {
    const actor = context?.actor;
    const run = this.engine.begin({ keyId: actor?.keyId ?? '', teamId: actor?.teamId ?? '', customerId: actor?.customerId ?? '' });
    const storage = this.storage.forActor(actor);
    const keepsContent = !storage || (storage.treatmentOf('prompt') === 'keep' && storage.treatmentOf('completion') === 'keep');
    return new RequestGuard(run, this.actions, this.log, context?.requestId ?? '', keepsContent);
  }
}

export class RequestGuard {
  /** Whether the policies changed the request's text: then the cache takes no part (see cache()). */
  private changed = false;
  private settled: GuardrailOutcome[] | undefined;

  constructor(
    private readonly run: GuardrailRun | undefined,
    private readonly actions: Counter<'policy' | 'rule' | 'action'>,
    private readonly log: Logger,
    private readonly requestId: string,
    /** Whether the caller's storage policies keep its prompts and answers as they came (cache entries, stored responses). */
    readonly keepsContent: boolean,
  ) {}

  /**
   * Checks a chat request's messages and returns the translation to go on
   * with: its messages redacted, its answers checked as they are rendered. A
   * legacy completions request under a policy takes the chat path, so that its
   * prompt and answer are read in the one canonical shape.
   */
  async chat(translation: Translation): Promise<Translation> {
    const run = this.run;
    if (!run) return translation;
    if ('batched' in translation && translation.batched) {
      throw invalid("Guardrail policies apply to this key: send one prompt per request, 'prompt' as a single string.", 'prompt');
    }
    const messages = translation.chat.messages;
    const checked = await this.check(chatSegments(messages));
    return {
      chat: this.changed ? { ...translation.chat, messages: withSegments(messages, checked) } : translation.chat,
      response: (result: ChatResponse) => translation.response(checkAnswer(run, result)),
      stream: (chunks: AsyncIterable<ChatChunk>) => translation.stream(guardChunks(run, chunks)),
    };
  }

  /** Checks an embeddings request's text inputs (token arrays carry no text to read) and returns it redacted. */
  async embeddings(request: EmbeddingsRequest): Promise<EmbeddingsRequest> {
    const { input } = request;
    if (!this.run || (typeof input !== 'string' && typeof input[0] !== 'string')) return request;
    const texts = typeof input === 'string' ? [input] : (input as string[]);
    const checked = await this.check(texts.map((text, i) => ({ path: typeof input === 'string' ? 'input' : `input[${i}]`, text })));
    if (!this.changed) return request;
    return { ...request, input: typeof input === 'string' ? checked[0]!.text : checked.map((segment) => segment.text) };
  }

  /**
   * Checks the text a direct endpoint sends on (a prompt, a query and its
   * documents, inputs to moderate, messages to count) and returns the body to
   * send, redacted. Their answers carry no model-written text to check.
   */
  async direct(endpoint: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (!this.run) return body;
    const { copy, segments, write } = directText(endpoint, body);
    if (segments.length === 0) return body;
    const checked = await this.check(segments);
    if (!this.changed) return body;
    write(checked);
    return copy;
  }

  /** Whether guardrail policies apply to the caller. */
  get underPolicies(): boolean {
    return this.run !== undefined;
  }

  /**
   * A provider-native request (passthrough) is sent on unread and its answer returned as sent, so no policy could
   * redact or check it: a caller under guardrail policies is refused rather than let around them.
   */
  passthrough(): void {
    if (this.underPolicies) {
      throw new GatewayError(
        'passthrough_not_allowed',
        'Guardrail policies apply to this key, and provider-native passthrough does not apply them: send the request through the unified API (/v1/...).',
      );
    }
  }

  /**
   * What the cache may do for this request. One whose text the policies changed
   * is neither looked up nor stored: its cache key would be derived from the
   * values the policy keeps from the provider, and its answer holds placeholders
   * only this request's run can restore. One whose caller's storage policies
   * withhold prompts or answers is not stored: an entry is both, as they came.
   */
  cache(request: CacheRequest | undefined): CacheRequest | undefined {
    if (!request) return request;
    if (this.changed) return { ...request, noLookup: true, noStore: true };
    return this.keepsContent ? request : { ...request, noStore: true };
  }

  /** What the rules did, for the request's event; counted in the metric once. */
  settle(): GuardrailOutcome[] {
    if (!this.settled) {
      this.settled = (this.run?.outcomes() ?? []).map(({ policy, rule, action, detector, count }) => ({ policy, rule, action, detector, count }));
      for (const { policy, rule, action, count } of this.settled) this.actions.inc({ policy, rule, action }, count);
      for (const failure of this.run?.analyzerFailures ?? []) this.log.warn({ ...failure, requestId: this.requestId }, 'guardrail analyzer failed');
    }
    return this.settled;
  }

  /** The error a failed request ends with, carrying what the rules did (a block among it) to its event. */
  failed(err: unknown): unknown {
    const outcomes = this.settle();
    if (err instanceof GatewayError && outcomes.length > 0) err.guardrails = outcomes;
    return err;
  }

  private async check(segments: TextSegment[]): Promise<TextSegment[]> {
    const checked = await this.run!.checkRequest(segments);
    if (checked.blocked) throw guardrailError(checked.blocked);
    this.changed ||= checked.segments.some((segment, i) => segment.text !== segments[i]!.text);
    return checked.segments;
  }
}

/** A whole answer with the answer rules applied and placeholders restored; a block is thrown as its error. */
function checkAnswer(run: GuardrailRun, response: ChatResponse): ChatResponse {
  const segments: TextSegment[] = [];
  rewriteAnswer(response, (path, text) => {
    segments.push({ path, text });
    return text;
  });
  const checked = run.checkAnswer(segments);
  if (checked.blocked) throw guardrailError(checked.blocked);
  const byPath = new Map(checked.segments.map((segment) => [segment.path, segment.text]));
  return rewriteAnswer(response, (path, text) => byPath.get(path) ?? text);
}
