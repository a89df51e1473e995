import { onFirstUse } from '../../kit/first-use.js';
import { LITERAL_SECRETS, type SecretLookup } from '../../kit/secrets/store.js';
import { PROVIDER_TYPES } from './catalog.js';
import type { SignatureV4 } from '@smithy/signature-v4';
import { z } from 'zod';
import type { ChatChunk, ChatRequest, ChatResponse } from '../canonical.js';
import { fromConverse, toConverse, type ConverseResponse } from './bedrock-mapping.js';
import { converseChunks, namedEvents, readEventStream } from './bedrock-stream.js';
import { classifyStatus, clip, Upstream, type ErrorClassifier, type UpstreamRequest } from './http.js';
import { providerBase } from './schema.js';
import {
  ProviderError,
  retryAfterMs,
  type CallCounts,
  type Capabilities,
  type Connection,
  type FailureKind,
  type NativeAnswer,
  type NativeRequest,
  type ProviderAdapter,
  type ProviderCall,
} from './types.js';

const EVENT_STREAM = 'application/vnd.amazon.eventstream';

export const bedrockProviderConfig = z.strictObject({
  type: z.literal('bedrock'),
  ...providerBase,
  region: z
    .string()
    .regex(/^[a-z0-9-]+$/)
    .describe('AWS region of the Bedrock runtime, e.g. us-east-1.'),
  baseUrl: z
    .url({ protocol: /^https?$/ })
    .optional()
    .describe('Bedrock runtime endpoint; default https://bedrock-runtime.<region>.amazonaws.com (set it for VPC endpoints or FIPS).'),
  credentials: z
    .array(
      z.strictObject({
        accessKeyId: z.string().min(1).describe('AWS access key id.'),
        secretAccessKey: z.string().min(1).describe('AWS secret access key (secret); use ${ENV_VAR} substitution.'),
        sessionToken: z.string().min(1).optional().describe('Session token of temporary credentials (secret).'),
      }),
    )
    .min(1)
    .describe('IAM key pairs allowed to call bedrock:InvokeModel; several are tried in turn on 401, 402 and 429.'),
});

export type BedrockProviderConfig = z.infer<typeof bedrockProviderConfig>;

type Credential = BedrockProviderConfig['credentials'][number];

/** The endpoint an entry's adapter calls: its baseUrl, else its region's public Bedrock runtime. */
export function bedrockBaseUrl(config: BedrockProviderConfig): string {
  return config.baseUrl ?? `https://bedrock-runtime.${config.region}.amazonaws.com`;
}

/**
 * Amazon Bedrock through the Converse and ConverseStream APIs, which give one
 * message format for every model on Bedrock. Requests are signed with SigV4
 * (service `bedrock`) using the key pair the router picked.
 */
export class BedrockAdapter implements ProviderAdapter {
  readonly type = 'bedrock';
  readonly capabilities: Capabilities = PROVIDER_TYPES.bedrock.capabilities;
  readonly models: readonly string[];
  private readonly upstream: Upstream;
  private readonly signers: () => Promise<SignatureV4[]>;
  readonly credentialCount: number;
  private readonly base: URL;

  constructor(
    readonly name: string,
    config: BedrockProviderConfig,
    connection: Connection,
    secrets: SecretLookup = LITERAL_SECRETS,
  ) {
    this.models = config.models;
    this.base = new URL(bedrockBaseUrl(config));
    this.upstream = new Upstream(name, this.base.href, connection, bedrockErrorClassifier(name), config.maxConnections);
    this.credentialCount = config.credentials.length;
    // AWS's signing code is loaded with the first call. Credentials are read at each signature, so keys rotated in
    // their secret store are used without a restart.
    this.signers = onFirstUse(async () => {
      const [{ SignatureV4 }, { Sha256 }] = await Promise.all([import('@smithy/signature-v4'), import('@aws-crypto/sha256-js')]);
      return config.credentials.map((credential: Credential) => {
        const [id, key, session] = [credential.accessKeyId, credential.secretAccessKey, credential.sessionToken].map((v) =>
          v === undefined ? undefined : secrets.get(v),
        );
        const credentials = async () => ({ accessKeyId: id!.value, secretAccessKey: key!.value, ...(session ? { sessionToken: session.value } : {}) });
        return new SignatureV4({ service: 'bedrock', region: config.region, credentials, sha256: Sha256 });
      });
    });
  }

  async chat({ request, credential, signal }: ProviderCall<ChatRequest>): Promise<ChatResponse> {
    const body = JSON.stringify(toConverse(request, this.name));
    const signed = await this.signed(bedrockModelPath(request.model, 'converse'), body, credential, signal, 'application/json');
    return this.upstream.json(signed, (answer: ConverseResponse) => fromConverse(answer, request.model));
  }

  async chatStream({ request, credential, signal }: ProviderCall<ChatRequest>): Promise<AsyncIterable<ChatChunk>> {
    const body = JSON.stringify(toConverse(request, this.name));
    const signed = await this.signed(bedrockModelPath(request.model, 'converse-stream'), body, credential, signal, EVENT_STREAM);
    return this.upstream.stream(signed, (stream) => converseChunks(readEventStream(stream, this.name), request.model, this.name));
  }

  /**
   * Bedrock Runtime's own API passed through (routing/passthrough.ts): the client's body to its model path, signed
   * with the provider's credentials; a stream's frames as events named by their union member.
   */
  async native({ request, credential, signal }: ProviderCall<NativeRequest>): Promise<NativeAnswer> {
    const signed = await this.signed(request.path, JSON.stringify(request.body), credential, signal, request.stream ? EVENT_STREAM : 'application/json');
    if (request.stream) return { events: await this.upstream.stream(signed, (stream) => namedEvents(readEventStream(stream, this.name))) };
    return { whole: await this.upstream.raw(signed) };
  }

  /** One call to a model path, signed; the body sent is the exact string that was signed. */
  private async signed(path: string, body: string, credential: number, signal: AbortSignal, accept: string): Promise<UpstreamRequest> {
    const basePath = this.base.pathname.replace(/\/+$/, '');
    const signers = await this.signers();
    const signer = signers[credential % signers.length]!;
    const signed = await signer.sign({
      method: 'POST',
      protocol: this.base.protocol,
      hostname: this.base.hostname,
      port: this.base.port ? Number(this.base.port) : undefined,
      path: `${basePath}${path}`,
      query: {},
      headers: { host: this.base.host, 'content-type': 'application/json', accept },
      body,
    });
    return { path, headers: flatHeaders(signed.headers), body, signal };
  }

  callCounts(): CallCounts {
    return this.upstream.callCounts();
  }

  close(): Promise<void> {
    return this.upstream.close();
  }
}

/**
 * A model's path for an operation. The AWS SDK encodes the model id as one path label (ids hold ':' and may be ARNs
 * with '/'); SigV4 then escapes the encoded path once more for the canonical request, on both sides.
 */
export const bedrockModelPath = (model: string, operation: string) => `/model/${encodeLabel(model)}/${operation}`;

/** encodeURIComponent plus the characters RFC 3986 reserves that it leaves alone, as the AWS SDK encodes labels. */
function encodeLabel(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function flatHeaders(headers: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = value;
  return out;
}

const CONTEXT_WINDOW = /too many (?:input )?tokens|input is too long|prompt is too long|context (?:length|window)|maximum context/i;

/** Bedrock's error types (x-amzn-errortype or __type) that decide the kind regardless of status. */
const ERROR_KINDS: Record<string, FailureKind> = {
  ThrottlingException: 'rate_limit',
  // The account's quota for the model; another account's key may still have room.
  ServiceQuotaExceededException: 'rate_limit',
  AccessDeniedException: 'auth',
  UnrecognizedClientException: 'auth',
  InvalidSignatureException: 'auth',
  IncompleteSignatureException: 'auth',
  MissingAuthenticationTokenException: 'auth',
  ExpiredTokenException: 'auth',
  InvalidClientTokenId: 'auth',
  ServiceUnavailableException: 'server',
  InternalServerException: 'server',
  // Sent with HTTP 429 while a model is loaded, but it is not the key's rate limit.
  ModelNotReadyException: 'server',
  ModelErrorException: 'server',
  ModelTimeoutException: 'timeout',
};

/** The bare type name: the header may carry a namespace suffix (`Type:http://...`) and __type a prefix (`ns#Type`). */
function errorType(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  const name = raw.split(':')[0]!;
  return name.includes('#') ? name.split('#').pop() : name;
}

/**
 * Classifies Bedrock's REST-JSON errors by their type first (the status alone
 * is ambiguous: ModelNotReadyException is a 429) and by status otherwise.
 */
export function bedrockErrorClassifier(provider: string): ErrorClassifier {
  return (status, body, headers) => {
    let parsed: { message?: string; Message?: string; __type?: string; code?: string } = {};
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      parsed = {};
    }
    const header = headers['x-amzn-errortype'];
    const type = errorType(typeof header === 'string' ? header : (parsed.__type ?? parsed.code));
    const message = parsed.message ?? parsed.Message ?? '';
    let kind = type ? ERROR_KINDS[type] : undefined;
    if (!kind && type === 'ValidationException' && CONTEXT_WINDOW.test(message)) kind = 'context_window';
    if (!kind) return classifyStatus(provider, status, { message, type }, headers);
    const options = { upstreamStatus: status, retryAfterMs: retryAfterMs(headers) };
    // Auth failures may echo part of the key, so their text is not passed on.
    if (kind === 'auth') {
      return new ProviderError(
        'auth',
        provider,
        `Provider ${provider} refused the gateway's credentials (HTTP ${status}, ${type}); an admin must fix the provider key.`,
        options,
      );
    }
    const what = kind === 'context_window' ? 'rejected the request' : kind === 'rate_limit' ? 'is rate limiting requests' : 'failed';
    return new ProviderError(kind, provider, `Provider ${provider} ${what} (HTTP ${status}, ${type})${message ? `: ${clip(message)}` : ''}`, options);
  };
}

export function createBedrockAdapter(name: string, config: BedrockProviderConfig, connection: Connection, secrets?: SecretLookup): BedrockAdapter {
  return new BedrockAdapter(name, config, connection, secrets);
}
