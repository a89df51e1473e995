import { createPublicKey, generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenLocally, readBody, writeJson } from './local-server.js';
import { wordVector } from './vectors.js';
import { validate } from './gemini-validation.js';

/**
 * A local stand-in for Google's Gemini API, built from its references:
 * AI Studio (https://ai.google.dev/api: generateContent, streamGenerateContent
 * with alt=sse, countTokens, batchEmbedContents, embedContent; API key in x-goog-api-key or
 * ?key=), Vertex AI (https://cloud.google.com/vertex-ai/docs/reference/rest:
 * .../projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent,
 * OAuth2 bearer token) and the OAuth2 token endpoint's JWT bearer grant
 * (https://developers.google.com/identity/protocols/oauth2/service-account#httprest).
 * Errors use Google's body {"error": {"code", "message", "status", "details"}}.
 * gemini.test.ts checks it with the official @google/genai SDK.
 *
 * Models whose name starts with a trigger misbehave on purpose:
 *   fail-<status>    that HTTP status with a Google error body (429: retry-after: 1 and a RetryInfo of 1s)
 *   quota-exhausted  429 with only a RetryInfo detail (2s), as Google sends it
 *   too-long         400 INVALID_ARGUMENT, input token count exceeds the maximum
 *   blocked          200 with promptFeedback.blockReason SAFETY and no candidates
 *   thinking         adds a thought part, thoughtsTokenCount 7 and cachedContentTokenCount 3 (as any model does
 *                    asked for thoughts with thinkingConfig.includeThoughts; a thinkingConfig the real API
 *                    refuses, e.g. a budget over 24576, is refused)
 *   stall            never answers
 *   break-stream     streams two events, then drops the connection
 * Replies: "Fake Gemini reply to: <last user text>"; with tools declared and
 * "weather" in that text, a call of the first function with {"city": "Paris"}.
 */
export interface FakeGeminiRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** The JSON body, or the form fields for /token. */
  body: Record<string, unknown>;
}

export interface FakeGemini {
  readonly url: string;
  /** The OAuth token endpoint, for a service account's token_uri. */
  readonly tokenUrl: string;
  readonly requests: FakeGeminiRequest[];
  close(): Promise<void>;
}

export interface FakeGeminiOptions {
  apiKey: string;
  /** Public key (PEM or KeyObject) of the service account whose assertions /token accepts. */
  serviceAccountPublicKey?: string | KeyObject;
  /** Lifetime of issued access tokens, in seconds (Google's: 3599). */
  tokenExpiresIn?: number;
}

type Json = Record<string, unknown>;
interface Part {
  text?: string;
  thought?: boolean;
  inlineData?: { mimeType: string };
  fileData?: { mimeType: string };
  functionCall?: Json;
  functionResponse?: { name: string; response: Json };
}
interface Content {
  role?: string;
  parts?: Part[];
}

const STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};
const MESSAGES: Record<number, string> = {
  401: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
  403: 'The caller does not have permission',
  429: 'You exceeded your current quota, please check your plan and billing details.',
  500: 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
  503: 'The model is overloaded. Please try again later.',
};
const SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

export interface TestServiceAccount {
  clientEmail: string;
  publicKey: string;
  /** The key file's JSON, with token_uri pointing at the given token endpoint. */
  keyJson(tokenUri: string, overrides?: Partial<Record<'client_email' | 'project_id', string>>): string;
}

/** A throwaway service account: a fresh RSA key pair and a key file shaped like Google's. */
export function createTestServiceAccount(clientEmail = 'gateway-test@fake-project.iam.gserviceaccount.com'): TestServiceAccount {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const keyId = randomBytes(20).toString('hex');
  return {
    clientEmail,
    publicKey,
    keyJson: (tokenUri, overrides = {}) =>
      JSON.stringify({
        type: 'service_account',
        project_id: 'fake-project',
        private_key_id: keyId,
        private_key: privateKey,
        client_email: clientEmail,
        client_id: '100000000000000000000',
        auth_uri: 'https://accounts.google.com/o/oauth2/auth',
        token_uri: tokenUri,
        ...overrides,
      }),
  };
}

export async function startFakeGemini(options: FakeGeminiOptions): Promise<FakeGemini> {
  const requests: FakeGeminiRequest[] = [];
  const tokens = new Map<string, number>(); // access token → expiry (ms)
  const publicKey = options.serviceAccountPublicKey === undefined ? undefined : createPublicKey(options.serviceAccountPublicKey);
  const server = createServer((req, res) => void handle(req, res).catch(() => res.destroy()));
  const { url, close } = await listenLocally(server);
  const tokenUrl = `${url}/token`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = (await readBody(req)).toString('utf8');
    const parsed = new URL(req.url ?? '/', url);
    const query = Object.fromEntries(parsed.searchParams);
    const record = (body: Json) => requests.push({ method: req.method ?? '', path: parsed.pathname, query, headers: req.headers, body });

    if (req.method === 'POST' && parsed.pathname === '/token') {
      const form = Object.fromEntries(new URLSearchParams(text));
      record(form);
      return token(res, form);
    }
    const studio = /^\/v1(?:beta)?\/models\/([^/:]+):(\w+)$/.exec(parsed.pathname);
    const vertex = /^\/v1(?:beta1)?\/projects\/[^/]+\/locations\/[^/]+\/publishers\/google\/models\/([^/:]+):(\w+)$/.exec(parsed.pathname);
    const match = studio ?? vertex;
    if (req.method !== 'POST' || !match) return sendError(res, 404, `Method not found: ${req.method} ${parsed.pathname}`);
    let body: Json;
    try {
      body = JSON.parse(text || '{}') as Json;
    } catch {
      return sendError(res, 400, 'Invalid JSON payload received. Unexpected token.');
    }
    record(body);
    if (studio) {
      const key = req.headers['x-goog-api-key'] ?? query.key;
      if (!key)
        return sendError(
          res,
          403,
          "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        );
      if (key !== options.apiKey) {
        return sendError(res, 400, 'API key not valid. Please pass a valid API key.', [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'API_KEY_INVALID',
            domain: 'googleapis.com',
            metadata: { service: 'generativelanguage.googleapis.com' },
          },
        ]);
      }
    } else {
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const expiry = bearer === undefined ? undefined : tokens.get(bearer);
      if (expiry === undefined || expiry < Date.now())
        return sendError(res, 401, MESSAGES[401]!, [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: expiry ? 'ACCESS_TOKEN_EXPIRED' : 'ACCESS_TOKEN_TYPE_UNSUPPORTED',
            domain: 'googleapis.com',
          },
        ]);
    }
    const [, model = '', method = ''] = match;
    return serve(res, model, method, body, query.alt === 'sse', Boolean(studio));
  }

  function serve(res: ServerResponse, model: string, method: string, body: Json, sse: boolean, studio: boolean): void {
    const failure = /^fail-(\d{3})/.exec(model);
    if (failure) {
      const status = Number(failure[1]);
      if (status === 429) res.setHeader('retry-after', '1');
      return sendError(res, status, MESSAGES[status] ?? 'Request contains an invalid argument.', status === 429 ? [retryInfo('1s')] : undefined);
    }
    if (model.startsWith('quota-exhausted')) return sendError(res, 429, MESSAGES[429]!, [retryInfo('2s')]);
    if (model.startsWith('too-long')) return sendError(res, 400, 'The input token count (250000) exceeds the maximum number of tokens allowed (128000).');
    if (model.startsWith('stall')) return; // never answers
    if (studio && method === 'batchEmbedContents') return embedBatch(res, model, body);
    if (studio && method === 'embedContent')
      return sendJson(res, 200, { embedding: { values: wordVector(partsText(body.content), dimensionsOf(body.outputDimensionality)) } });
    if (studio && method === 'countTokens') return countTokens(res, body);
    if (method !== 'generateContent' && method !== 'streamGenerateContent') return sendError(res, 404, `Method not found: ${method}`);
    const invalid = validate(body);
    if (invalid) return sendError(res, 400, invalid);
    const events = model.startsWith('blocked') ? [blockedResponse(body, model)] : respond(body, model, method === 'streamGenerateContent');
    if (method === 'generateContent') return sendJson(res, 200, events[0]);
    if (!sse) return sendJson(res, 200, events); // without alt=sse the stream is one JSON array
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
    if (model.startsWith('break-stream')) {
      for (const event of events.slice(0, 2)) res.write(`data: ${JSON.stringify(event)}\r\n\r\n`);
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    for (const event of events) res.write(`data: ${JSON.stringify(event)}\r\n\r\n`);
    res.end();
  }

  function token(res: ServerResponse, form: Record<string, string>): void {
    const refuse = (error: string, description: string) => sendJson(res, 400, { error, error_description: description });
    if (form.grant_type !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
      return refuse('unsupported_grant_type', `Invalid grant_type: ${form.grant_type ?? ''}`);
    const [header = '', payload = '', signature = ''] = (form.assertion ?? '').split('.');
    let claims: { iss?: unknown; aud?: unknown; scope?: unknown; iat?: unknown; exp?: unknown };
    let alg: unknown;
    try {
      alg = (JSON.parse(Buffer.from(header, 'base64url').toString()) as { alg?: unknown }).alg;
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as typeof claims;
    } catch {
      return refuse('invalid_grant', 'Invalid JWT: could not decode the assertion.');
    }
    if (alg !== 'RS256' || !publicKey || !verify('sha256', Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(signature, 'base64url'))) {
      return refuse('invalid_grant', 'Invalid JWT Signature.');
    }
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.iss !== 'string' || !claims.iss.includes('@')) return refuse('invalid_grant', 'Invalid JWT: iss is not a service account.');
    if (claims.aud !== tokenUrl) return refuse('invalid_grant', 'Invalid JWT: aud does not name this token endpoint.');
    if (typeof claims.iat !== 'number' || typeof claims.exp !== 'number' || claims.exp <= now || claims.exp - claims.iat > 3600 || claims.iat > now + 60) {
      return refuse(
        'invalid_grant',
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.',
      );
    }
    if (typeof claims.scope !== 'string' || !claims.scope.split(' ').includes(SCOPE))
      return refuse('invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    const expiresIn = options.tokenExpiresIn ?? 3599;
    const accessToken = `ya29.fake-${randomBytes(24).toString('base64url')}`;
    tokens.set(accessToken, Date.now() + expiresIn * 1000);
    sendJson(res, 200, { access_token: accessToken, expires_in: expiresIn, token_type: 'Bearer' });
  }

  return { url, tokenUrl, requests, close };
}

function retryInfo(delay: string): Json {
  return { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: delay };
}

function partsText(content: unknown): string {
  return ((content as Content | undefined)?.parts ?? []).map((p) => p.text ?? '').join('');
}

function usage(body: Json, completion: number, thinking: boolean) {
  const prompt = Math.ceil(JSON.stringify([body.systemInstruction ?? null, body.contents]).length / 4);
  const thoughts = thinking ? 7 : 0;
  return {
    promptTokenCount: prompt,
    candidatesTokenCount: completion,
    totalTokenCount: prompt + completion + thoughts,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
    ...(thinking ? { thoughtsTokenCount: thoughts, cachedContentTokenCount: 3 } : {}),
  };
}

/** The candidates' parts and finish reason for a request, then as one response or as stream events. */
function respond(body: Json, model: string, stream: boolean): Json[] {
  const contents = body.contents as Content[];
  const lastUser = [...contents].reverse().find((c) => c.role !== 'model' && c.parts?.some((p) => typeof p.text === 'string' && !p.thought));
  const userText = (lastUser?.parts ?? []).map((p) => p.text ?? '').join('');
  const media = (lastUser?.parts ?? []).map((p) => (p.inlineData ?? p.fileData)?.mimeType).filter(Boolean);
  const result = contents.at(-1)?.parts?.find((p) => p.functionResponse)?.functionResponse;
  const declarations = ((body.tools ?? []) as { functionDeclarations?: { name: string }[] }[]).flatMap((t) => t.functionDeclarations ?? []);
  const config = (body.generationConfig ?? {}) as { candidateCount?: number; maxOutputTokens?: number; responseMimeType?: string };
  const mode = (body.toolConfig as { functionCallingConfig?: { mode?: string } } | undefined)?.functionCallingConfig?.mode;
  // Thought summaries come back when asked for (includeThoughts), as the real API sends them; "thinking" models always send one.
  const thinking =
    model.startsWith('thinking') ||
    (body.generationConfig as { thinkingConfig?: { includeThoughts?: boolean } } | undefined)?.thinkingConfig?.includeThoughts === true;
  const base = { modelVersion: model, responseId: randomBytes(12).toString('base64url') };

  if (!result && declarations[0] && mode !== 'NONE' && /weather/i.test(userText)) {
    const call = {
      functionCall: { name: declarations[0].name, args: { city: 'Paris' } },
      thoughtSignature: Buffer.from(`signature-${randomBytes(6).toString('hex')}`).toString('base64'),
    };
    return [{ candidates: [{ content: { parts: [call], role: 'model' }, finishReason: 'STOP', index: 0 }], usageMetadata: usage(body, 5, thinking), ...base }];
  }
  let text = result
    ? `Fake Gemini read the result of ${result.name}: ${JSON.stringify(result.response)}`
    : `Fake Gemini reply to: ${userText}${media.length > 0 ? ` (with ${media.join(', ')})` : ''}`;
  if (config.responseMimeType === 'application/json') text = JSON.stringify({ reply: text });
  let words = text.split(/(?<= )/);
  let finishReason = 'STOP';
  if (config.maxOutputTokens !== undefined && words.length > config.maxOutputTokens) {
    words = words.slice(0, config.maxOutputTokens);
    finishReason = 'MAX_TOKENS';
  }
  const count = Math.max(1, config.candidateCount ?? 1);
  const full = usage(body, words.length * count, thinking);
  const thought = thinking ? [{ text: 'Considering the question.', thought: true }] : [];
  if (!stream) {
    const candidates = Array.from({ length: count }, (_, index) => ({
      content: { parts: [...thought, { text: words.join('') }], role: 'model' },
      finishReason,
      index,
    }));
    return [{ candidates, usageMetadata: full, ...base }];
  }
  // Streamed: one event per word; every event carries usage so far, the last one the finish reason and full usage.
  const partial = { promptTokenCount: full.promptTokenCount, totalTokenCount: full.promptTokenCount };
  const events: Json[] = [];
  for (let index = 0; index < count; index++) {
    if (thought.length > 0) events.push({ candidates: [{ content: { parts: thought, role: 'model' }, index }], usageMetadata: partial, ...base });
    words.forEach((word, i) => {
      const last = index === count - 1 && i === words.length - 1;
      const candidate = { content: { parts: [{ text: word }], role: 'model' }, index, ...(i === words.length - 1 ? { finishReason } : {}) };
      events.push({ candidates: [candidate], usageMetadata: last ? full : partial, ...base });
    });
  }
  return events;
}

function blockedResponse(body: Json, model: string): Json {
  const prompt = Math.ceil(JSON.stringify(body.contents).length / 4);
  return {
    promptFeedback: { blockReason: 'SAFETY', safetyRatings: [{ category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true }] },
    usageMetadata: { promptTokenCount: prompt, totalTokenCount: prompt },
    modelVersion: model,
    responseId: randomBytes(12).toString('base64url'),
  };
}

function embedBatch(res: ServerResponse, model: string, body: Json): void {
  const items = (body.requests ?? []) as { model?: string; content?: Content; outputDimensionality?: number }[];
  if (!Array.isArray(items) || items.length === 0) return sendError(res, 400, '* BatchEmbedContentsRequest.requests: requests is not specified');
  if (items.length > 100) return sendError(res, 400, '* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch');
  const wrong = items.find((item) => item.model !== `models/${model}`);
  if (wrong) return sendError(res, 400, `Model names should be the same in all requests and the URL; got ${String(wrong.model)} for models/${model}.`);
  sendJson(res, 200, { embeddings: items.map((item) => ({ values: wordVector(partsText(item.content), dimensionsOf(item.outputDimensionality)) })) });
}

/** countTokens: the prompt of `contents`, or of a whole `generateContentRequest`, as generateContent would count it. */
function countTokens(res: ServerResponse, body: Json): void {
  const request = (body.generateContentRequest ?? body) as Json;
  if (!Array.isArray(request.contents) || request.contents.length === 0) return sendError(res, 400, '* CountTokensRequest.contents: contents is not specified');
  const { promptTokenCount, promptTokensDetails } = usage(request, 0, false);
  sendJson(res, 200, { totalTokens: promptTokenCount, promptTokensDetails });
}

/** outputDimensionality, else the model's 768. */
const dimensionsOf = (requested: unknown) => (typeof requested === 'number' && requested > 0 ? requested : 768);

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  writeJson(res, status, body, { 'content-type': 'application/json; charset=UTF-8' });
}

function sendError(res: ServerResponse, status: number, message: string, details?: Json[]): void {
  sendJson(res, status, { error: { code: status, message, status: STATUS[status] ?? 'UNKNOWN', ...(details ? { details } : {}) } });
}
