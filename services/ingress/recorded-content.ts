import { createHash } from 'node:crypto';
import type { StorageRule } from '../kit/guardrails/index.js';

/**
 * What a key's records keep of tool content (tool calls' arguments and
 * results, code mode's programs, results and their own errors): nothing
 * without the key's content logging; with it, what the caller's storage
 * policies allow (docs/guardrails.md, "What the gateway keeps").
 */
export class RecordedContent {
  constructor(
    private readonly logging: boolean,
    private readonly rule: StorageRule | undefined,
  ) {}

  /** The storage policies that applied, for the event that carries the content. */
  get policies(): readonly string[] {
    return this.rule?.policies ?? [];
  }

  text(text: string): string {
    if (!this.logging) return '';
    return this.rule ? this.rule.text('toolArguments', text) : text;
  }

  json(json: string): string {
    if (!this.logging) return '';
    return this.rule ? this.rule.json('toolArguments', json) : json;
  }

  /**
   * A failed call's error message, recorded whatever the content logging: an MCP server's refusal it quotes can
   * repeat the arguments, so the storage policies treat it as them.
   */
  errorMessage(message: string): string {
    return this.rule && message ? this.rule.text('toolArguments', message) : message;
  }

  /** A SHA-256 of content, unless the policies drop it: the digest of a short value can be matched by guessing it. */
  digest(text: string): string {
    return this.rule?.treatmentOf('toolArguments') === 'drop' ? '' : createHash('sha256').update(text).digest('hex');
  }
}
