import { z } from 'zod';

const agentConfig = z
  .strictObject({
    maxSteps: z
      .number()
      .int()
      .min(1)
      .max(50)
      .default(5)
      .describe("Most rounds of tool calls the gateway runs for one request in agent mode; then the model's tool calls go to the client."),
    timeBudgetMs: z
      .number()
      .int()
      .positive()
      .default(120_000)
      .describe("After this long, agent mode starts no further round of tool calls and hands the model's tool calls to the client."),
  })
  .prefault({})
  .describe('Agent mode: the gateway running model → MCP tool calls → model itself (see docs/mcp.md).');

export type AgentConfig = z.infer<typeof agentConfig>;

const codeModeConfig = z
  .strictObject({
    timeMs: z.number().int().min(100).max(300_000).default(10_000).describe('Wall time of one program, its tool calls included; then it is stopped.'),
    memoryMb: z.number().int().min(16).max(1_024).default(64).describe("Memory of one program's JavaScript engine, the engine's own included."),
    maxToolCalls: z.number().int().min(1).max(10_000).default(50).describe('Most tool calls one program may make; further calls fail inside the program.'),
    maxResultBytes: z.number().int().min(1_024).default(65_536).describe('Largest result (as JSON) a program may return to the model.'),
    maxLogBytes: z.number().int().min(0).default(16_384).describe('Most console.log output of one program kept for the model; the rest is cut.'),
    workers: z.number().int().min(1).max(64).default(2).describe("Worker threads running programs at once, off ingress's event loop."),
    queueSize: z.number().int().min(0).max(10_000).default(32).describe('Programs that may wait for a worker; beyond them a program is refused with an error.'),
    killAfterMs: z
      .number()
      .int()
      .min(100)
      .max(60_000)
      .default(2_000)
      .describe("How long past its time limit a program's worker thread may stay busy before it is terminated and replaced."),
  })
  .prefault({})
  .describe('Code mode on /mcp: programs that call MCP tools, run in a sandbox (see docs/mcp.md).');

export type CodeModeConfig = z.infer<typeof codeModeConfig>;

const batchesConfig = z
  .strictObject({
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(1_000)
      .default(8)
      .describe("Lines of one batch this process runs at once (each is a request through the gateway, as the batch's key)."),
    pollIntervalMs: z
      .number()
      .int()
      .min(100)
      .default(5_000)
      .describe(
        "How often this process asks for a batch to run when it has none: batches created through it start at once, others (another replica's, or one let go) within this.",
      ),
  })
  .prefault({})
  .describe('The runner of the Batch API: every ingress process runs the lines of open batches (see docs/routing.md#batches).');

export type BatchesConfig = z.infer<typeof batchesConfig>;

const limit = (fallback: number, max: number, description: string) => z.number().int().min(1).max(max).default(fallback).describe(description);

const limitsConfig = z
  .strictObject({
    maxJsonDepth: limit(64, 1_000, 'Deepest nesting of a JSON body (objects and arrays); deeper bodies get 400 before anything reads them.'),
    maxModelNameLength: limit(256, 4_096, 'Longest `model` name, in characters.'),
    maxNameLength: limit(256, 4_096, 'Longest name or identifier in a body: tool and function names, tool call ids, message `name`, `user`.'),
    maxMessages: limit(10_000, 1_000_000, 'Most messages (chat, Anthropic messages) or input items (responses) in one request.'),
    maxTools: limit(512, 100_000, 'Most tools offered in one request.'),
    maxInputs: limit(2_048, 1_000_000, 'Most inputs in one embeddings or moderations request, or prompts in one completions request.'),
  })
  .prefault({})
  .describe('What one request may hold, checked at the edge before anything else runs (see docs/operations.md, "What the gateway accepts").');

export type IngressLimits = z.infer<typeof limitsConfig>;

/** An origin as browsers send it: scheme, host and port, nothing after. */
const origin = z.string().refine((value) => URL.canParse(value) && new URL(value).origin === value && /^https?:/.test(value), {
  message: 'an origin is http(s)://host[:port], with no path or trailing slash',
});

const corsConfig = z
  .strictObject({
    allowedOrigins: z
      .array(origin)
      .default([])
      .describe(
        "Web pages (origins, such as https://app.example.com) whose script may call the API from a browser, with a key it holds; never with cookies. A request with any other Origin gets 403. A process that also serves the console allows the console's own origins too (docs/console.md).",
      ),
  })
  .prefault({})
  .describe('Browsers calling the API from other web pages (CORS).');

export const ingressConfig = z
  .strictObject({
    port: z.number().int().min(0).max(65_535).default(8080).describe('Port of the OpenAI-compatible API.'),
    bodyLimitBytes: z
      .number()
      .int()
      .positive()
      .default(10 * 1024 * 1024)
      .describe('Largest request body accepted; larger ones get 413.'),
    maxUploadBytes: z
      .number()
      .int()
      .positive()
      .default(25 * 1024 * 1024)
      .describe(
        "Most bytes the files of a multipart upload may carry together (the audio of /v1/audio/transcriptions and translations, the images of /v1/images/edits and variations, a batch's input file on /v1/files; OpenAI's limit is 25 MB a file); more get 413.",
      ),
    limits: limitsConfig,
    emitReceived: z.boolean().default(false).describe('Also emit request.received when a request arrives (then the audit log has two rows per request).'),
    emitAttempts: z
      .boolean()
      .default(false)
      .describe("Also emit one upstream.attempt event per provider call (every attempt is listed in the request's outcome anyway)."),
    trustProxy: z.boolean().default(false).describe('Take the client address from X-Forwarded-For (only behind a load balancer you control).'),
    cors: corsConfig,
    agent: agentConfig,
    codeMode: codeModeConfig,
    batches: batchesConfig,
  })
  .prefault({});

export type IngressConfig = z.infer<typeof ingressConfig>;
