/**
 * Helpers every request runs, timed alone: what `npm run bench` cannot resolve,
 * since a few microseconds per request are within its run-to-run noise here.
 *
 * - an audit row's payload as storable canonical JSON (the text stored, and
 *   the check that PostgreSQL can hold it), then the row's canonical JSON
 *   around it (the input of its chain hash);
 * - Pricing.priceOf (three lookups per request: admit, settle, meter);
 * - KeyRing.stamp (the provider credential's fingerprint, one per call);
 * - boundedEvent (every event emitted, before the bus; here a request.completed
 *   with nothing to cut, as nearly every one is);
 * - an inbound chat body (four messages, one tool: 1.2 KB) parsed with its depth
 *   checked, then checked against its API's schema, as ingress does first;
 * - the sensitive-data scan with every built-in detector, over prompts of 1, 10
 *   and 100 KB of mixed prose with a few values planted: its cost per KB.
 *
 * Run: npm run bench:hot [-- --calls 200000]
 */
import { parseArgs } from 'node:util';
import { Ajv } from 'ajv';
import { CanonicalText, canonicalJson } from '../../services/kit/canonical-json.js';
import { boundedEvent } from '../../services/kit/bus/event-bounds.js';
import { storableJsonText } from '../../services/kit/db/storable.js';
import { EventType, requestEvent } from '../../services/kit/events.js';
import { Pricing } from '../../services/kit/pricing/index.js';
import { KeyRing } from '../../services/routing/providers/schema.js';
import { ingressConfig } from '../../services/ingress/config.js';
import { bodySchemas, validatorOptions } from '../../services/ingress/validation.js';
import { parseJson } from '../../services/kit/http.js';
import { BUILTIN_DETECTORS, Guardrails, guardrailsConfigSchema, scan } from '../../services/kit/guardrails/index.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '200000' }, help: { type: 'boolean' } } });
if (values.help) {
  console.log('npm run bench:hot [-- --calls N]   time per call of the helpers each request runs (median of 5 rounds of N calls)');
  process.exit(0);
}
const calls = Number(values.calls);

// A request.completed payload and row as the audit writer builds them.
const payload = {
  request: {
    endpoint: 'chat.completions',
    model: 'openai/gpt-4o-mini',
    served: { provider: 'openai', model: 'gpt-4o-mini', deployment: 'openai/gpt-4o-mini' },
    httpStatus: 200,
    usage: {
      promptTokens: 12,
      completionTokens: 40,
      totalTokens: 52,
      cachedTokens: 0,
      reasoningTokens: 0,
      cacheWriteTokens: 0,
      cacheWrite1hTokens: 0,
      billed: undefined,
    },
    durationMs: 3.2,
    attempts: [{ provider: 'openai', deployment: 'openai/gpt-4o-mini', outcome: 'ok', durationMs: 1.8, httpStatus: 200 }],
  },
};
const row = {
  event_id: '0193a7b2-1c2d-7e3f-8a9b-0c1d2e3f4a5b',
  event_type: 'request.completed',
  occurred_at: new Date().toISOString(),
  request_id: 'req_0123456789abcdef01234567',
  trace_id: '0123456789abcdef0123456789abcdef',
  service: 'ingress',
  source_address: '127.0.0.1',
  actor_key_id: 'vk_0123456789abcdef',
  actor_team_id: 'team_0123456789abcdef',
  actor_customer_id: '',
  actor_admin: '',
  schema_version: 1,
  payload,
};
const event = requestEvent(
  EventType.requestCompleted,
  {
    service: 'ingress',
    context: {
      requestId: row.request_id,
      traceId: row.trace_id,
      sourceAddress: row.source_address,
      actor: { keyId: row.actor_key_id, keyName: 'ci', teamId: row.actor_team_id, customerId: '', admin: '' },
    },
  },
  {
    ...payload.request,
    stream: false,
    cacheHit: false,
    errorCode: '',
    errorMessage: '',
    attempts: [
      {
        provider: 'openai',
        model: 'gpt-4o-mini',
        deployment: 'openai/gpt-4o-mini',
        credential: 0,
        outcome: 'ok',
        upstreamStatus: 200,
        durationMs: 1.8,
        reason: 'initial',
        errorMessage: '',
      },
    ],
  },
);
const pricing = new Pricing();
const ring = new KeyRing(['sk-upstream-0123456789'], { get: (value) => ({ value }) });

const chatBody = Buffer.from(
  JSON.stringify({
    model: 'openai/gpt-4o-mini',
    temperature: 0.2,
    max_tokens: 512,
    messages: [
      { role: 'system', content: 'You are a helpful assistant who answers briefly and cites sources when it can.' },
      { role: 'user', content: 'What is the weather in Paris tomorrow, and should I bring an umbrella to the museum?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_0123456789abcdef', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","day":"tomorrow"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_0123456789abcdef', content: '{"forecast":"light rain in the afternoon","high_c":14,"low_c":8,"precipitation_mm":3}' },
    ],
    tools: [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'The forecast for a city and a day.',
          parameters: { type: 'object', properties: { city: { type: 'string' }, day: { type: 'string' } }, required: ['city'] },
        },
      },
    ],
  }),
);
const validateChat = new Ajv(validatorOptions.customOptions).compile(bodySchemas(ingressConfig.parse({}).limits)['chat.completions']!);
const parsedChat = parseJson(chatBody, 64);

// Chat prose of several kinds (plain, technical, numbers that are not values), each paragraph with one planted value after it.
const paragraphs = [
  'Could you summarise the attached meeting notes? We agreed to move the launch to the second week of March, keep the budget at $12,500 and review the vendor list again in 2025.',
  'The build fails on Node 20.18 with "TypeError: Cannot read properties of undefined (reading \'map\')" in src/components/UserList.tsx line 42; commit 3f786850e387 changed getUserAccountSettings().',
  'Order #A-20931 shipped on 2024-01-15 at 10:30; tracking says three parcels, 2.4 kg in all, and the invoice total was 1,299.99 EUR including 20% VAT.',
  "Write a friendly reply to the customer explaining that refunds take five to seven working days, and that they can reach us any weekday between 9 and 17 o'clock.",
  'In Python, why does sorted(items, key=lambda x: x[1]) keep equal elements in their original order, and is that guaranteed by the language or just CPython?',
];
const planted = [
  'Reach me at jane.doe@example.com.',
  'My number is +44 20 7946 0958.',
  'Card 4242 4242 4242 4242, exp 12/34.',
  'IBAN GB82 WEST 1234 5698 7654 32.',
  'Key AKIAIOSFODNN7EXAMPLE in us-east-1.',
  'Server 192.168.10.24 is down.',
];
const prose = Array.from({ length: 400 }, (_, i) => `${paragraphs[i % paragraphs.length]} ${planted[i % planted.length]}\n`).join('');
const prompts = [1, 10, 100].map((kb) => ({ kb, text: prose.slice(0, kb * 1024) }));

const cases: [string, () => unknown][] = [
  ['audit row (payload, row)', () => canonicalJson({ ...row, payload: new CanonicalText(storableJsonText(payload, canonicalJson).json) })],
  ['Pricing.priceOf', () => pricing.priceOf('openai', 'gpt-4o-mini')],
  ['KeyRing.stamp', () => ring.stamp(0)],
  ['boundedEvent', () => boundedEvent(event)],
  [`parseJson (${(chatBody.length / 1024).toFixed(1)} KB chat body)`, () => parseJson(chatBody, 64)],
  ['chat body schema check', () => validateChat(parsedChat)],
];
let sink = 0;
/** Median time per call, in µs, over 5 rounds of n calls. */
function timePerCall(run: () => unknown, n: number): number {
  const rounds: number[] = [];
  for (let round = 0; round < 5; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sink += run() ? 1 : 0;
    rounds.push(Number(process.hrtime.bigint() - start) / n);
  }
  rounds.sort((a, b) => a - b);
  return rounds[2]! / 1000;
}
for (const [name, run] of cases) console.log(`${name.padEnd(28)} ${timePerCall(run, calls).toFixed(3)} µs per call`);
// A scan costs about as much as 10^4 of the calls above per KB: fewer calls for longer prompts.
for (const { kb, text } of prompts) {
  const perCall = timePerCall(() => scan(text, BUILTIN_DETECTORS), Math.max(5, Math.round(calls / 200 / kb)));
  console.log(`${`guardrails scan (${kb} KB)`.padEnd(28)} ${perCall.toFixed(1)} µs per call, ${(perCall / kb).toFixed(1)} µs per KB`);
}
// An answer streamed in deltas of 4 characters (about a token each) with every built-in detector redacting:
// the scanner scans its held-back window again at each delta, so this is the cost of streaming against one scan.
const streamRules = { rules: [{ name: 'all', detectors: ['personal_data', 'secrets'], direction: 'answer', action: 'redact' }] };
const guardrails = new Guardrails(guardrailsConfigSchema.parse({ policies: { all: streamRules }, attach: { global: ['all'] } }));
const answer = prompts[1]!;
const deltas = answer.text.match(/[\s\S]{1,4}/g)!;
const perStream = timePerCall(
  () => {
    const scanner = guardrails.begin({ keyId: '', teamId: '', customerId: '' })!.answerScanner('bench');
    for (const delta of deltas) scanner.push(delta);
    return scanner.end().text;
  },
  Math.max(5, Math.round(calls / 20_000)),
);
console.log(
  `${`guardrails stream (${answer.kb} KB)`.padEnd(28)} ${(perStream / answer.kb).toFixed(1)} µs per KB, ${(perStream / deltas.length).toFixed(2)} µs per delta of 4 characters`,
);
if (sink === 0) console.log('(nothing ran)');
