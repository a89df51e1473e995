import type { GatewayError } from '../../kit/errors.js';
import type { ChatChunk, ChatMessage, ChatRequest, ChatResponse } from '../canonical.js';

/** One server-sent event for the client: an optional event name and its data. */
export interface OutEvent {
  event?: string;
  data: string;
  /** With this event the client holds a complete answer (a finish reason, a terminal event): it and every event after it wait for the request's record (StreamData.final). */
  final?: boolean;
}

/** One client request in an inbound API, translated to and from the OpenAI chat shape routing works in. */
export interface Translation {
  /** The request as routing sends it on (model still as the client named it). */
  readonly chat: ChatRequest;
  /** The client's response body for a chat response. */
  response(result: ChatResponse): unknown;
  /**
   * The client's stream for a stream of chat chunks (the last of which carries
   * usage), ending with the API's own terminal events (e.g. `data: [DONE]`).
   */
  stream(chunks: AsyncIterable<ChatChunk>): AsyncIterable<OutEvent>;
  /** The Responses API's input items for these (possibly redacted) messages: what a stored response keeps of its conversation. */
  conversation?(messages: ChatMessage[]): unknown[];
  /** The caller's storage policies withhold its prompts or answers: no span carries them, whatever includeContent says. */
  readonly contentWithheld?: boolean;
}

/** An inbound API served on top of chat completions: OpenAI chat, completions, responses, Anthropic messages. */
export interface InboundFormat {
  /** Endpoint name as ingress sends it, e.g. "chat.completions" or "messages". */
  readonly endpoint: string;
  /** Validates the client's body (throwing GatewayError 'invalid_request' with a param) and translates it. */
  parse(body: unknown): Translation;
  /** The event that ends a stream that failed after it began, in the API's error shape. */
  errorEvent(error: GatewayError): OutEvent;
}
