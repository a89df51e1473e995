import type { FastifyReply, FastifyRequest } from 'fastify';
import { type BilledUnits, Usage } from '../gen/gateway/v1/common.js';
import type { CompletionRequest, Upload } from '../gen/gateway/v1/routing.js';
import { billedImages, billedSpeech, billedUpload, searchUnitsOf } from '../kit/pricing/units.js';
import { hintsOf, streamed, whole } from './api.js';
import { InboundRequest, type PipelineDeps } from './pipeline.js';

/** The units an endpoint billed by unit may bill at most, from its checked body; reserved against budgets at their price. */
const BILLED: Record<string, (body: Record<string, unknown>, uploads: Upload[]) => BilledUnits> = {
  'images.generations': (body) => billedImages(body),
  'images.edits': (body) => billedImages(body),
  'images.variations': (body) => billedImages(body),
  rerank: (body) => ({ unit: 'search_unit', quantity: searchUnitsOf(body.documents), variant: '' }),
  'audio.speech': (body) => billedSpeech(body.input),
  'audio.transcriptions': (_, uploads) => billedUpload(uploads[0]?.data ?? new Uint8Array()),
  'audio.translations': (_, uploads) => billedUpload(uploads[0]?.data ?? new Uint8Array()),
};

/** The direct endpoints a client may ask to stream, and whether its checked body asks: speech as SSE, a transcription streamed. */
const STREAMED: Record<string, (body: Record<string, unknown>) => boolean> = {
  'audio.speech': (body) => body.stream_format === 'sse',
  'audio.transcriptions': (body) => body.stream === 'true',
};

/** A request's checked fields and uploaded files, for an endpoint whose body is not JSON (a multipart form). */
export type ReadForm = (request: FastifyRequest) => Promise<{ body: Record<string, unknown> & { model: string }; uploads: Upload[] }>;

/**
 * An endpoint answered by one call: free at the providers (Anthropic's count_tokens, OpenAI's moderations) or billed
 * by unit (images, rerank, audio); its body JSON, or a multipart form read by `readForm` (audio and image uploads). Admitted
 * like any request (the key, the model allowed for it, its request limits), with no prompt or output reserved against
 * budgets, only the units it may bill; routing answers with those it did bill (none for the free ones, whose ledger
 * row costs nothing). Never cached; streamed only where the API streams its own events (STREAMED).
 */
export function directEndpoint(deps: PipelineDeps, endpoint: string, readForm?: ReadForm) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    // A form that cannot be read is refused as a body failing its schema is: before the key is looked at.
    const form = await readForm?.(request);
    const inbound = new InboundRequest(deps, request, reply, endpoint);
    const parsed = form?.body ?? (request.body as Record<string, unknown> & { model: string });
    const { model } = parsed;
    const stream = STREAMED[endpoint]?.(parsed) ?? false;
    const billed = BILLED[endpoint]?.(parsed, form?.uploads ?? []);
    let call: CompletionRequest;
    try {
      await inbound.admit(model, undefined, billed);
      const body = form ? Buffer.from(JSON.stringify(form.body)) : (request.rawBody ?? Buffer.from(JSON.stringify(request.body)));
      call = {
        context: inbound.context,
        endpoint,
        body,
        hints: hintsOf(request),
        replay: undefined,
        keepAnswer: false,
        cache: undefined,
        uploads: form?.uploads ?? [],
        passthrough: undefined,
      };
    } catch (err) {
      throw inbound.fail(err, model, stream);
    }
    // A stream the client cuts is billed what was reserved: the provider bills the input it was sent whatever it answered.
    if (stream) return streamed(deps, inbound, request, reply, call, model, Usage.fromPartial({ billed }));
    return whole(deps, inbound, reply, call, model);
  };
}
