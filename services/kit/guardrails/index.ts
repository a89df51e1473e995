import { PERSONAL_DATA_DETECTORS } from './detectors.js';
import { SECRET_DETECTORS } from './secrets.js';
import type { Detector } from './scan.js';

/**
 * Sensitive-data detectors that run in the gateway, with no external service:
 * personal data, credentials, and an operator's own patterns and word lists;
 * and the policies that block, redact or flag what they find in requests and
 * answers. docs/guardrails.md describes each detector and how policies apply.
 */
export { scan, type Detector, type Finding } from './scan.js';
export { customDetectorsSchema, customDetectors, type CustomDetectorConfig } from './custom.js';
export {
  guardrailsConfigSchema,
  guardrailPolicySchema,
  attachmentsSchema,
  type GuardrailsConfig,
  type GuardrailPolicyConfig,
  type Attachments,
  type CallerScope,
  type DataClass,
  type StorageConfig,
} from './policy.js';
export { hashedValue, StoragePolicies, StorageRule } from './storage.js';
export { type AdminGuardrails, type AdminPolicies, NO_ADMIN_POLICIES, withAdminGuardrails } from './admin.js';
export { Guardrails, GuardrailRun, guardrailError, type Block, type Checked, type Outcome, type AnalyzerFailure, type TextSegment } from './engine.js';
export { AnswerScanner, type StreamStep } from './stream.js';
export { PresidioAnalyzer, AnalyzerUnavailable, type Analyzer, type AnalyzerFinding } from './external.js';
export { chatSegments, withSegments } from './chat.js';

/** Every built-in detector: personal data, then secrets. */
export const BUILTIN_DETECTORS: readonly Detector[] = [...PERSONAL_DATA_DETECTORS, ...SECRET_DETECTORS];
