import { z } from 'zod';

/**
 * The shortest bearer token the gateway takes for its own APIs (admin tokens,
 * the ops token). 32 characters is 128 random bits as hex (`openssl rand -hex
 * 16`), the usual floor for a secret that anyone who reaches the port may guess
 * at; what a person makes up and types is shorter.
 */
export const MIN_TOKEN_LENGTH = 32;

/** Values this project once shipped as defaults, and the words of placeholders copied from examples. */
const PUBLISHED = new Set(['change-me-admin-token']);
const PLACEHOLDER = /change.?me|replace.?me|placeholder|example|^<.*>$/i;

/** Why a token cannot guard an API, or undefined when it can. Never quotes the token. */
export function weakTokenProblem(token: string): string | undefined {
  if (PUBLISHED.has(token.toLowerCase()) || PLACEHOLDER.test(token)) {
    return 'is a published or placeholder value that anyone could guess; generate one: openssl rand -hex 32';
  }
  if (token.length < MIN_TOKEN_LENGTH) {
    return `is ${token.length} characters long; a token needs at least ${MIN_TOKEN_LENGTH} random characters: openssl rand -hex 32`;
  }
  return undefined;
}

/** A config value holding a bearer token: refused when weak; empty only where `optional` (then it is not set). */
export function strongToken(options: { optional: boolean }): z.ZodString {
  return z.string().superRefine((value, ctx) => {
    if (options.optional && value === '') return;
    const problem = weakTokenProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: `the token ${problem}` });
  });
}
