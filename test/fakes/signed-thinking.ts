import { createHmac, randomBytes } from 'node:crypto';

/**
 * Signed thinking as Anthropic's models answer it, for the fakes of the APIs that serve them (Anthropic's own,
 * Bedrock's Converse): a signature is an HMAC of the text it vouches for, redacted data carries an HMAC of its nonce,
 * so only blocks the fake answered, unchanged, pass. The refusal is the real API's when thinking is enabled and the
 * assistant turn that called the tools does not start with its thinking
 * (https://docs.claude.com/en/docs/build-with-claude/extended-thinking), and so are the thinking settings it refuses.
 */

const SIGNING_KEY = randomBytes(32);

export const sign = (text: string): string => createHmac('sha256', SIGNING_KEY).update(text).digest('base64');

export function redactedData(): string {
  const nonce = randomBytes(12).toString('base64');
  return `${nonce}.${sign(nonce)}`;
}

export function validRedacted(data: string): boolean {
  const [nonce, mac] = data.split('.');
  return nonce !== undefined && nonce !== '' && mac === sign(nonce);
}

/** A thinking text for one answer, different each time. */
export const thinkingText = (): string => `The user wants a short answer (${randomBytes(4).toString('hex')}).`;

export function missingThinking(turn: number, found: string): string {
  return (
    `messages.${turn}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${found}\`. When \`thinking\` is enabled, ` +
    'a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). ' +
    'We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. ' +
    'Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking'
  );
}

/** Smallest budget_tokens the real API takes. */
const MIN_BUDGET_TOKENS = 1024;

/**
 * Why an Anthropic model would refuse its thinking settings: an enabled budget under 1024 or not under max tokens
 * (unless none were sent, as on Bedrock, whose default is the model's most), a temperature but 1 with it.
 */
export function thinkingSettingsRefusal(thinking: unknown, maxTokens: unknown, temperature: unknown): string | undefined {
  const settings = thinking as { type?: unknown; budget_tokens?: unknown } | undefined;
  if (settings?.type !== 'enabled') return undefined;
  const budget = Number(settings.budget_tokens);
  if (!Number.isInteger(budget)) return 'thinking.enabled.budget_tokens: Field required';
  if (budget < MIN_BUDGET_TOKENS) return `thinking.enabled.budget_tokens: Input should be greater than or equal to ${MIN_BUDGET_TOKENS}`;
  if (maxTokens !== undefined && Number(maxTokens) <= budget) return '`max_tokens` must be greater than `thinking.budget_tokens`.';
  if (temperature !== undefined && temperature !== 1) return '`temperature` may only be set to 1 when thinking is enabled.';
  return undefined;
}
