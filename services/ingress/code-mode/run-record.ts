import type { CodeRun, CodeRunCall } from '../../gen/gateway/v1/mcp.js';
import type { RecordedContent } from '../recorded-content.js';
import type { RunOutcome } from './sandbox.js';

/**
 * The record of one program run (the code.executed event): what an auditor
 * needs to see what an agent did. The program, its result and a program's own
 * error are content, kept only with the key's content logging and as its
 * storage policies allow, as a tool call's arguments and result are; the
 * gateway's own messages (limits, busy)
 * and every call's tool, duration and outcome are kept always.
 */
export function runRecord(
  run: { readonly id: string; readonly calls: readonly CodeRunCall[] },
  program: string,
  outcome: RunOutcome,
  durationMs: number,
  content: RecordedContent,
): CodeRun {
  const resultJson = outcome.ok ? outcome.resultJson : '';
  const ownError = !outcome.ok && outcome.reason === 'program_error';
  return {
    runId: run.id,
    programSha256: content.digest(program),
    program: content.text(program),
    outcome: outcome.ok ? 'ok' : outcome.reason,
    errorMessage: outcome.ok ? '' : ownError ? content.text(outcome.error) : outcome.error,
    resultJson: content.json(resultJson),
    resultBytes: Buffer.byteLength(resultJson),
    durationMs,
    calls: [...run.calls],
  };
}
