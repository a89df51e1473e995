import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EventType } from '../kit/events.js';
import { renderEventsReference } from './events-reference.js';

describe('events reference', () => {
  it('docs/events.md matches what the formatters produce (regenerate with npm run docs:events)', () => {
    const committed = readFileSync(new URL('../../docs/events.md', import.meta.url), 'utf8');
    expect(committed).toBe(renderEventsReference());
  });

  it('shows every event type in every format, and each transport', () => {
    const text = renderEventsReference();
    for (const type of [...Object.values(EventType), 'admin.virtual_key.update']) expect(text).toContain(`\`${type}\` — `);
    const sections = text.split('\n## ').slice(1, -1);
    for (const section of sections) {
      expect(section).toContain('### native');
      expect(section).toContain('"class_uid": 6003');
      expect(section).toMatch(/\nCEF:0\|AI Gateway\|AI Gateway\|/);
    }
    expect(text).toMatch(/\n\d+ <\d+>1 2026-11-24T09:30:00.000Z gw-audit-1 ai-gateway 4242 request.completed \[gateway@32473 /);
    expect(text).toContain('x-gateway-signature: sha256=');
    // The example admin change is a real key view: no key value or hash.
    expect(text).not.toMatch(/key_?hash/i);
  });
});
