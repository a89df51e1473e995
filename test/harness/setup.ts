import { captureResponses } from './responses.js';

// Runs before every test file (vitest setupFiles).
captureResponses();
