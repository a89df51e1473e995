import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Guardrails, PresidioAnalyzer, guardrailError, guardrailsConfigSchema, type TextSegment } from './index.js';

/**
 * A stand-in for Presidio's analyzer: POST /analyze {text, language, entities?,
 * score_threshold?} → [{entity_type, start, end, score, analysis_explanation,
 * recognition_metadata}], offsets in code points as Python counts them.
 * It finds the names it is told of, and can be made slow or broken.
 */
const NAMES = ['John Smith', 'Zoë Ødegaard'];
let received: Record<string, unknown>[] = [];
let behaviour: 'answer' | 'slow' | 'error' | 'garbage' = 'answer';
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/analyze') return void res.writeHead(404).end();
      const request = JSON.parse(body) as { text: string };
      received.push(request);
      const reply = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (behaviour === 'slow') return void setTimeout(() => reply(200, []), 5_000);
      if (behaviour === 'error') return reply(500, { error: 'model not loaded' });
      if (behaviour === 'garbage') return reply(200, { results: [] });
      const findings = NAMES.flatMap((name) =>
        [...request.text.matchAll(new RegExp(name, 'g'))].map((match) => {
          const start = [...request.text.slice(0, match.index)].length;
          const end = start + [...name].length;
          return { entity_type: 'PERSON', start, end, score: 0.85, analysis_explanation: null, recognition_metadata: { recognizer_name: 'SpacyRecognizer' } };
        }),
      );
      reply(200, findings);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  received = [];
  behaviour = 'answer';
});

const scope = { keyId: 'vk_alice', teamId: '', customerId: '' };
function runFor(onAnalyzerError: 'open' | 'closed') {
  const config = guardrailsConfigSchema.parse({
    analyzers: { presidio: { url, entities: ['PERSON'], timeoutMs: 1_000 } },
    policies: {
      people: {
        rules: [
          { name: 'names', external: 'presidio', onAnalyzerError, action: 'redact' },
          { name: 'contact', detectors: ['email'], action: 'redact' },
        ],
      },
    },
    attach: { global: ['people'] },
  });
  return new Guardrails(config).begin(scope)!;
}
const request: TextSegment[] = [
  { path: 'messages[0].content', text: 'You help 🎉 John Smith.' },
  { path: 'messages[1].content', text: 'I am Zoë Ødegaard 🙂, zoe@example.no; John Smith is my boss.' },
];

describe('an external analyzer with Presidio’s API', () => {
  it("redacts what it finds, in one call per request, with its offsets counted as Python's", async () => {
    const run = runFor('closed');
    expect(await run.checkRequest(request)).toEqual({
      segments: [
        { path: 'messages[0].content', text: 'You help 🎉 [PERSON_1].' },
        { path: 'messages[1].content', text: 'I am [PERSON_2] 🙂, [EMAIL_1]; [PERSON_1] is my boss.' },
      ],
    });
    expect(received).toEqual([{ text: `${request[0]!.text}\n\n${request[1]!.text}`, language: 'en', entities: ['PERSON'] }]);
    expect(run.outcomes()).toContainEqual({ policy: 'people', rule: 'names', action: 'redact', detector: 'external.presidio.PERSON', count: 3 });
  });

  it('lets the request through when it times out and the rule fails open, recording the failure', async () => {
    behaviour = 'slow';
    const run = runFor('open');
    const started = Date.now();
    const checked = await run.checkRequest(request);
    // Well before the analyzer's answer: the rule's timeout ended the wait.
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(checked).toEqual({ segments: [request[0], { path: 'messages[1].content', text: 'I am Zoë Ødegaard 🙂, [EMAIL_1]; John Smith is my boss.' }] });
    expect(run.analyzerFailures).toEqual([
      { policy: 'people', rule: 'names', analyzer: 'presidio', failedOpen: true, error: 'analyzer presidio did not answer within 1000 ms' },
    ]);
    // The request's event says its text went unread by the analyzer.
    expect(run.outcomes()).toContainEqual({ policy: 'people', rule: 'names', action: 'analyzer_failed_open', detector: 'external.presidio', count: 1 });
  });

  it('refuses the request when it times out and the rule fails closed, with a 503 naming the rule', async () => {
    behaviour = 'slow';
    const run = runFor('closed');
    const checked = await run.checkRequest(request);
    expect(run.outcomes()).toEqual([{ policy: 'people', rule: 'names', action: 'analyzer_failed_closed', detector: 'external.presidio', count: 1 }]);
    expect(checked.blocked).toEqual({ policy: 'people', rule: 'names', direction: 'request', path: '', reason: 'analyzer_unavailable' });
    const error = guardrailError(checked.blocked!);
    expect([error.status, error.code, error.message]).toEqual([
      503,
      'service_unavailable',
      'The request was refused: guardrail rule "names" (policy "people") could not check it.',
    ]);
  });

  it('takes an error status or an answer not in its shape for a failure', async () => {
    const analyzer = new PresidioAnalyzer('presidio', { url, language: 'en', timeoutMs: 500 });
    behaviour = 'error';
    await expect(analyzer.analyze('John Smith')).rejects.toThrow('analyzer presidio answered 500');
    behaviour = 'garbage';
    await expect(analyzer.analyze('John Smith')).rejects.toThrow('analyzer presidio answered something other than a list of findings');
    expect((await runFor('closed').checkRequest(request)).blocked?.reason).toBe('analyzer_unavailable');
  });
});
