import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Guardrails, type GuardrailRun, type StreamStep, guardrailsConfigSchema } from './index.js';
import { HOLD_BACK, MAX_HELD, RELEASE_STEP } from './stream.js';

const OPENAI_KEY = `sk-proj-${'Zx9Qw2Er7Ty4Ui1Op8As5Df3Gh6Jk0Lm'.repeat(2)}`;
const prose = (words: number) => 'the quick brown fox jumps over the lazy dog '.repeat(Math.ceil(words / 9));

const policies = {
  custom: [{ name: 'zed', pattern: 'Z+' }],
  policies: {
    pii: {
      rules: [
        { name: 'contact', detectors: ['email'], direction: 'request', action: 'redact', restore: true },
        { name: 'answer-pii', detectors: ['email', 'payment_card', 'us_ssn', 'custom'], direction: 'answer', action: 'redact' },
        { name: 'answer-ips', detectors: ['ipv4'], direction: 'answer', action: 'flag' },
        { name: 'no-secrets', detectors: ['secrets'], action: 'block' },
      ],
    },
    'restore-only': { rules: [{ name: 'contact', detectors: ['email'], direction: 'request', action: 'redact', restore: true }] },
  },
};
const config = guardrailsConfigSchema.parse({ ...policies, attach: { global: ['pii'] } });
/** No rule reads the answer: it only needs placeholders restored, if any. */
const restoreOnly = guardrailsConfigSchema.parse({ ...policies, attach: { global: ['restore-only'] } });

/** A run whose request had bob@example.com redacted to [EMAIL_1], to be restored in the answer. */
async function runAfterRequest(configured = config): Promise<GuardrailRun> {
  const run = new Guardrails(configured).begin({ keyId: 'vk_alice', teamId: '', customerId: '' })!;
  const checked = await run.checkRequest([{ path: 'messages[0].content', text: 'I am bob@example.com.' }]);
  expect(checked).toEqual({ segments: [{ path: 'messages[0].content', text: 'I am [EMAIL_1].' }] });
  return run;
}

/** What a client receives when the answer streams in these deltas: the text sent, and the block if one ended it. */
function streamed(run: GuardrailRun, deltas: readonly string[]) {
  const scanner = run.answerScanner('choices[0].delta.content');
  const steps: StreamStep[] = deltas.map((delta) => scanner.push(delta));
  let sent = steps.map((step) => step.text ?? '').join('');
  const sentBeforeEnd = sent.length;
  const last = scanner.end();
  sent += last.text ?? '';
  return { sent, sentBeforeEnd, blocked: last.blocked ?? steps.find((step) => step.blocked)?.blocked };
}

const splitAt = (text: string, cuts: number[]) => [0, ...cuts, text.length].slice(1).map((end, i, ends) => text.slice(i === 0 ? 0 : ends[i - 1], end));

// Values and a placeholder to restore, split anywhere; "42 123-45-6789" continues a number, so it is no SSN wherever it is cut.
const ANSWER = `${prose(30)}Dear [EMAIL_1], your card 4111 1111 1111 1111 was charged. ${prose(20)}Part 42 123-45-6789 shipped. Write to help@shop.example from 10.1.2.3; ${prose(25)}ZZZ done.`;
const EXPECTED = ANSWER.replace('[EMAIL_1]', 'bob@example.com')
  .replace('4111 1111 1111 1111', '[PAYMENT_CARD_1]')
  .replace('help@shop.example', '[EMAIL_2]')
  .replace('ZZZ', '[ZED_1]');

describe('streamed answers', () => {
  it('sends the same text as a whole answer gets, whatever the split of two deltas', async () => {
    const whole = (await runAfterRequest()).checkAnswer([{ path: 'choices[0].message.content', text: ANSWER }]);
    expect(whole).toEqual({ segments: [{ path: 'choices[0].message.content', text: EXPECTED }] });
    for (let cut = 1; cut < ANSWER.length; cut++) {
      const { sent } = streamed(await runAfterRequest(), splitAt(ANSWER, [cut]));
      if (sent !== EXPECTED) expect({ cut, sent }).toEqual({ cut, sent: EXPECTED });
    }
  });

  it('sends the same text one character at a time, counting each value once, and holds back no more than the window', async () => {
    const run = await runAfterRequest();
    const { sent, sentBeforeEnd } = streamed(run, [...ANSWER]);
    expect(sent).toBe(EXPECTED);
    // Only the window and less than a step were held (ZZZ, redacted among them, counted as it came).
    const held = sent.slice(sentBeforeEnd).replace('[ZED_1]', 'ZZZ').length;
    expect(held).toBeGreaterThanOrEqual(HOLD_BACK);
    expect(held).toBeLessThan(HOLD_BACK + RELEASE_STEP);
    expect(run.outcomes().filter((outcome) => outcome.rule !== 'contact')).toEqual([
      { policy: 'pii', rule: 'answer-pii', action: 'redact', detector: 'payment_card', count: 1 },
      { policy: 'pii', rule: 'answer-pii', action: 'redact', detector: 'email', count: 1 },
      { policy: 'pii', rule: 'answer-ips', action: 'flag', detector: 'ipv4', count: 1 },
      { policy: 'pii', rule: 'answer-pii', action: 'redact', detector: 'custom.zed', count: 1 },
    ]);
  });

  it('sends the same text for any split into deltas', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: ANSWER.length - 1 }), { maxLength: 40 }), async (cuts) => {
        const { sent } = streamed(
          await runAfterRequest(),
          splitAt(
            ANSWER,
            cuts.sort((a, b) => a - b),
          ),
        );
        expect(sent).toBe(EXPECTED);
      }),
      { numRuns: 300 },
    );
  });

  it('stops at a blocked value without having sent any of it, and stays stopped', async () => {
    const run = await runAfterRequest();
    const scanner = run.answerScanner('choices[0].delta.content');
    const answer = `${prose(40)}Use ${OPENAI_KEY} then ${prose(40)}`;
    let sent = '';
    let step: StreamStep = { text: '' };
    for (const char of answer) {
      step = scanner.push(char);
      if (step.blocked) break;
      sent += step.text;
    }
    expect(step.blocked).toEqual({
      policy: 'pii',
      rule: 'no-secrets',
      direction: 'answer',
      path: 'choices[0].delta.content',
      reason: 'detected',
      detector: 'secret.openai_key',
    });
    expect(sent.length).toBeGreaterThan(200);
    expect(sent).not.toContain('sk-');
    expect(scanner.push('more').blocked?.rule).toBe('no-secrets');
    expect(scanner.end().blocked?.rule).toBe('no-secrets');
  });

  it('holds a private key as it grows, token by token, and sends none of it', async () => {
    const body = Array.from({ length: 26 }, (_, i) => `${'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7'.slice(i % 7)}x9Qw2Er7Ty4Ui1O`).join('\n');
    const key = `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----`;
    const answer = `${prose(30)}Here it is:\n${key}\n${prose(30)}`;
    const run = await runAfterRequest();
    const scanner = run.answerScanner('choices[0].delta.content');
    let sent = '';
    let step: StreamStep = { text: '' };
    for (const delta of answer.match(/[\s\S]{1,4}/g)!) {
      step = scanner.push(delta);
      if (step.blocked) break;
      sent += step.text;
    }
    step = step.blocked ? step : scanner.end();
    expect(key.length).toBeGreaterThan(1_500);
    expect(step.blocked?.detector).toBe('secret.private_key');
    expect(sent).toBe(answer.slice(0, sent.length));
    expect(sent.length).toBeGreaterThan(100);
    expect(sent).not.toContain('-----BEGIN');
  });

  it('holds a value still growing up to MAX_HELD characters, then decides on what it has', async () => {
    const run = await runAfterRequest();
    const scanner = run.answerScanner('choices[0].delta.content');
    const sent: string[] = [];
    for (let pushed = 0; pushed < MAX_HELD + 1_000; pushed += 100) sent.push(scanner.push('Z'.repeat(100)).text ?? '');
    expect(sent.join('')).toBe('[ZED_1]');
    expect(sent.slice(0, Math.floor(MAX_HELD / 100))).toEqual(Array(Math.floor(MAX_HELD / 100)).fill(''));
  });

  it('passes deltas through at once when no answer rule applies and nothing is to be restored', () => {
    const run = new Guardrails(restoreOnly).begin({ keyId: 'vk_alice', teamId: '', customerId: '' })!;
    const scanner = run.answerScanner('choices[0].delta.content');
    expect(scanner.push('Hello ').text).toBe('Hello ');
    expect(scanner.push('bob@example.com [EMAIL_1]').text).toBe('bob@example.com [EMAIL_1]');
    expect(scanner.end().text).toBe('');
  });

  it('restores a placeholder split across deltas when only restoring', async () => {
    const run = await runAfterRequest(restoreOnly);
    const answer = `${prose(30)}Hi [EMAIL_1]! ${prose(30)}`;
    for (let cut = answer.indexOf('[EMAIL_1]'); cut <= answer.indexOf('!'); cut++) {
      expect(streamed(run, splitAt(answer, [cut])).sent).toBe(answer.replace('[EMAIL_1]', 'bob@example.com'));
    }
  });
});
