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
 *   checked, then checked against its API's schema, as ingress does first.
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

const { values } = parseArgs({ options: { calls: { type: 'string', default: '200000' }, help: { type: 'boolean' } } });
if (values.help) {
  console.log('npm run bench:hot [-- --calls N]   time per call of the helpers each request runs (median of 5 rounds of N calls)');
  process.exit(0);
}
const calls = Number(values.calls);

// A request.completed payload and row as the audit writer builds them.
const payload = {
  request: {
    endpoint: 'chat.completions', model: 'openai/gpt-4o-mini', served: { provider: 'openai', model: 'gpt-4o-mini', deployment: 'openai/gpt-4o-mini' },
    httpStatus: 200, usage: { promptTokens: 12, completionTokens: 40, totalTokens: 52, cachedTokens: 0, reasoningTokens: 0, cacheWriteTokens: 0, cacheWrite1hTokens: 0 },
    durationMs: 3.2, attempts: [{ provider: 'openai', deployment: 'openai/gpt-4o-mini', outcome: 'ok', durationMs: 1.8, httpStatus: 200 }],
  },
};
const row = {
  event_id: '0193a7b2-1c2d-7e3f-8a9b-0c1d2e3f4a5b', event_type: 'request.completed', occurred_at: new Date().toISOString(),
  request_id: 'req_0123456789abcdef01234567', trace_id: '0123456789abcdef0123456789abcdef', service: 'ingress', source_address: '127.0.0.1',
  actor_key_id: 'vk_0123456789abcdef', actor_team_id: 'team_0123456789abcdef', actor_customer_id: '', actor_admin: '', schema_version: 1, payload,
};
const event = requestEvent(
  EventType.requestCompleted,
  { service: 'ingress', context: { requestId: row.request_id, traceId: row.trace_id, sourceAddress: row.source_address, actor: { keyId: row.actor_key_id, keyName: 'ci', teamId: row.actor_team_id, customerId: '', admin: '' } } },
  {
    ...payload.request, stream: false, cacheHit: false, errorCode: '', errorMessage: '',
    attempts: [{ provider: 'openai', model: 'gpt-4o-mini', deployment: 'openai/gpt-4o-mini', credential: 0, outcome: 'ok', upstreamStatus: 200, durationMs: 1.8, reason: 'initial', errorMessage: '' }],
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
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_0123456789abcdef', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","day":"tomorrow"}' } }] },
      { role: 'tool', tool_call_id: 'call_0123456789abcdef', content: '{"forecast":"light rain in the afternoon","high_c":14,"low_c":8,"precipitation_mm":3}' },
    ],
    tools: [{ type: 'function', function: { name: 'get_weather', description: 'The forecast for a city and a day.', parameters: { type: 'object', properties: { city: { type: 'string' }, day: { type: 'string' } }, required: ['city'] } } }],
  }),
);
const validateChat = new Ajv(validatorOptions.customOptions).compile(bodySchemas(ingressConfig.parse({}).limits)['chat.completions']!);
const parsedChat = parseJson(chatBody, 64);

const cases: [string, () => unknown][] = [
  ['audit row (payload, row)', () => canonicalJson({ ...row, payload: new CanonicalText(storableJsonText(payload, canonicalJson).json) })],
  ['Pricing.priceOf', () => pricing.priceOf('openai', 'gpt-4o-mini')],
  ['KeyRing.stamp', () => ring.stamp(0)],
  ['boundedEvent', () => boundedEvent(event)],
  [`parseJson (${(chatBody.length / 1024).toFixed(1)} KB chat body)`, () => parseJson(chatBody, 64)],
  ['chat body schema check', () => validateChat(parsedChat)],
];
let sink = 0;
for (const [name, run] of cases) {
  const rounds: number[] = [];
  for (let round = 0; round < 5; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) sink += run() ? 1 : 0;
    rounds.push(Number(process.hrtime.bigint() - start) / calls);
  }
  rounds.sort((a, b) => a - b);
  console.log(`${name.padEnd(28)} ${(rounds[2]! / 1000).toFixed(3)} µs per call`);
}
if (sink === 0) console.log('(nothing ran)');
