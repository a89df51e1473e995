import { PERSONAL_DATA_DETECTORS } from './detectors.js';
import { SECRET_DETECTORS } from './secrets.js';
import type { Detector } from './scan.js';

/**
 * Sensitive-data detectors that run in the gateway, with no external service:
 * personal data, credentials, and an operator's own patterns and word lists.
 * docs/guardrails.md describes each detector, what it checks and what it misses.
 */
export { scan, type Detector, type Finding } from './scan.js';
export { customDetectorsSchema, customDetectors, type CustomDetectorConfig } from './custom.js';

/** Every built-in detector: personal data, then secrets. */
export const BUILTIN_DETECTORS: readonly Detector[] = [...PERSONAL_DATA_DETECTORS, ...SECRET_DETECTORS];
