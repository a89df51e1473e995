import { describe, expect, it } from 'vitest';
import {
  Guardrails,
  type CallerScope,
  type GuardrailRun,
  type TextSegment,
  chatSegments,
  guardrailError,
  guardrailsConfigSchema,
  withSegments,
} from './index.js';

const OPENAI_KEY = `sk-proj-${'Zx9Qw2Er7Ty4Ui1Op8As5Df3Gh6Jk0Lm'.repeat(2)}`;
const CARD = '4242 4242 4242 4242';
const caller: CallerScope = { keyId: 'vk_alice', teamId: 'team_data', customerId: 'acme' };

/** A run for `caller` under policies given as configuration. */
function runFor(config: unknown, scope: CallerScope = caller): GuardrailRun {
  const run = new Guardrails(guardrailsConfigSchema.parse(config)).begin(scope);
  if (!run) throw new Error('no policy applies');
  return run;
}
const segments = (...texts: string[]): TextSegment[] => texts.map((text, i) => ({ path: `messages[${i}].content`, text }));
const texts = async (run: GuardrailRun, input: TextSegment[]) => {
  const checked = await run.checkRequest(input);
  if (checked.blocked) throw new Error(`blocked by ${checked.blocked.rule}`);
  return checked.segments.map((segment) => segment.text);
};

const policies = {
  policies: {
    baseline: { rules: [{ name: 'no-secrets', detectors: ['secrets'], action: 'block' }] },
    pii: { rules: [{ name: 'contact', detectors: ['email', 'phone', 'payment_card'], direction: 'request', action: 'redact', restore: true }] },
    watch: { rules: [{ name: 'ips', detectors: ['ipv4', 'email'], action: 'flag' }] },
  },
};

describe('a policy that blocks', () => {
  it('refuses the request naming the rule and where, never the value', async () => {
    const run = runFor({ ...policies, attach: { global: ['baseline'] } });
    const checked = await run.checkRequest(segments('You are helpful.', `Why does ${OPENAI_KEY} not work?`));
    expect(checked.blocked).toEqual({
      policy: 'baseline',
      rule: 'no-secrets',
      direction: 'request',
      path: 'messages[1].content',
      reason: 'detected',
      detector: 'secret.openai_key',
    });
    const error = guardrailError(checked.blocked!);
    expect(error.toOpenAI()).toEqual({
      error: {
        message: 'The request was blocked by guardrail rule "no-secrets" (policy "baseline"): messages[1].content holds secret.openai_key.',
        type: 'invalid_request_error',
        param: 'messages[1].content',
        code: 'content_policy_violation',
      },
    });
    expect(JSON.stringify(error.toOpenAI())).not.toContain(OPENAI_KEY.slice(8, 20));
  });

  it('lets a request without the value through unchanged', async () => {
    const run = runFor({ ...policies, attach: { global: ['baseline'] } });
    expect(await texts(run, segments('What is an API key?'))).toEqual(['What is an API key?']);
  });
});

describe('a policy that redacts', () => {
  it('gives each value one placeholder across the request, numbered per kind, and leaves none of them', async () => {
    const run = runFor({ ...policies, attach: { teams: { team_data: ['pii'] } } });
    const input = segments('Write to bob@example.com or call +44 20 7946 0958.', `Card ${CARD}; cc alice@example.org and bob@example.com again.`);
    expect(await texts(run, input)).toEqual(['Write to [EMAIL_1] or call [PHONE_1].', 'Card [PAYMENT_CARD_1]; cc [EMAIL_2] and [EMAIL_1] again.']);
    expect(run.outcomes()).toEqual([
      { policy: 'pii', rule: 'contact', action: 'redact', detector: 'email', count: 3 },
      { policy: 'pii', rule: 'contact', action: 'redact', detector: 'phone', count: 1 },
      { policy: 'pii', rule: 'contact', action: 'redact', detector: 'payment_card', count: 1 },
    ]);
  });

  it('redacts system prompts, text parts and tool-call arguments of a canonical request, and leaves the rest as it was', async () => {
    const run = runFor({ ...policies, attach: { customers: { acme: ['pii'] } } });
    const image = { type: 'image_url', image_url: { url: 'https://example.com/a.png' } };
    const messages = [
      { role: 'system', content: 'Escalate to ops@example.com.' },
      { role: 'user', content: [{ type: 'text', text: 'My card is 4242424242424242.' }, image] },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'email', arguments: '{"to":"ops@example.com"}' } }],
      },
      { role: 'tool', content: 'sent', tool_call_id: 'call_1' },
    ];
    const checked = await run.checkRequest(chatSegments(messages));
    if (checked.blocked) throw new Error('blocked');
    const redacted = withSegments(messages, checked.segments);
    expect(redacted).toEqual([
      { role: 'system', content: 'Escalate to [EMAIL_1].' },
      { role: 'user', content: [{ type: 'text', text: 'My card is [PAYMENT_CARD_1].' }, image] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'email', arguments: '{"to":"[EMAIL_1]"}' } }] },
      { role: 'tool', content: 'sent', tool_call_id: 'call_1' },
    ]);
    expect(redacted[3]).toBe(messages[3]);
    expect(messages[0]!.content).toBe('Escalate to ops@example.com.');
  });
});

describe('a policy that flags', () => {
  it('leaves the text as it is and counts each value per rule and detector', async () => {
    const run = runFor({ ...policies, attach: { keys: { vk_alice: ['watch'] } } });
    const input = segments('Servers 10.0.0.1 and 10.0.0.2, owner bob@example.com.');
    expect(await texts(run, input)).toEqual([input[0]!.text]);
    expect(run.outcomes()).toEqual([
      { policy: 'watch', rule: 'ips', action: 'flag', detector: 'ipv4', count: 2 },
      { policy: 'watch', rule: 'ips', action: 'flag', detector: 'email', count: 1 },
    ]);
  });
});

describe('scopes', () => {
  const config = {
    ...policies,
    attach: { global: ['watch'], customers: { acme: ['baseline'] }, teams: { team_data: ['pii'] }, keys: { vk_alice: ['watch'] } },
  };

  it('applies the policies of every scope of the caller, global first, each once', () => {
    const guardrails = new Guardrails(guardrailsConfigSchema.parse(config));
    expect(guardrails.policiesFor(caller)).toEqual(['watch', 'baseline', 'pii']);
    expect(guardrails.policiesFor({ keyId: 'vk_bob', teamId: '', customerId: '' })).toEqual(['watch']);
    expect(new Guardrails(guardrailsConfigSchema.parse(policies)).begin(caller)).toBeUndefined();
  });

  it('takes the strongest action where rules of several scopes read one value, and counts it for each', async () => {
    const run = runFor(config);
    expect(await texts(run, segments('Mail bob@example.com from 10.0.0.1.'))).toEqual(['Mail [EMAIL_1] from 10.0.0.1.']);
    expect(run.outcomes()).toEqual([
      { policy: 'watch', rule: 'ips', action: 'flag', detector: 'email', count: 1 },
      { policy: 'pii', rule: 'contact', action: 'redact', detector: 'email', count: 1 },
      { policy: 'watch', rule: 'ips', action: 'flag', detector: 'ipv4', count: 1 },
    ]);
    expect((await runFor(config).checkRequest(segments(`key ${OPENAI_KEY}`))).blocked?.rule).toBe('no-secrets');
  });
});

describe('restoring placeholders in a whole answer', () => {
  const config = {
    policies: {
      pii: {
        rules: [
          { name: 'contact', detectors: ['email'], direction: 'request', action: 'redact', restore: true },
          { name: 'cards', detectors: ['payment_card'], direction: 'request', action: 'redact' },
          { name: 'answer-contact', detectors: ['email'], direction: 'answer', action: 'redact' },
        ],
      },
    },
    attach: { global: ['pii'] },
  };

  it("puts the caller's values back where the rule says so, and redacts values the model made up", async () => {
    const run = runFor(config);
    expect(await texts(run, segments(`I am bob@example.com, card ${CARD}.`))).toEqual(['I am [EMAIL_1], card [PAYMENT_CARD_1].']);
    const answer = run.checkAnswer([
      { path: 'choices[0].message.content', text: 'Hello [EMAIL_1]; [PAYMENT_CARD_1] is noted; write to help@shop.example. [EMAIL_9] is not ours.' },
    ]);
    expect(answer).toEqual({
      segments: [{ path: 'choices[0].message.content', text: 'Hello bob@example.com; [PAYMENT_CARD_1] is noted; write to [EMAIL_2]. [EMAIL_9] is not ours.' }],
    });
    expect(run.restorations).toEqual(new Map([['[EMAIL_1]', 'bob@example.com']]));
  });

  it('blocks an answer with the answer named, not the value', () => {
    const run = runFor({ ...policies, attach: { global: ['baseline'] } });
    const answer = run.checkAnswer([{ path: 'choices[0].message.content', text: `Try ${OPENAI_KEY}.` }]);
    expect(answer.blocked && guardrailError(answer.blocked).message).toBe(
      'The answer was blocked by guardrail rule "no-secrets" (policy "baseline"): choices[0].message.content holds secret.openai_key.',
    );
  });
});
