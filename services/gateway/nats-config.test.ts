import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../kit/config.js';
import { gatewayConfig } from './config.js';
import { renderNatsUsers } from './nats-config.js';

const defaults = () => loadConfig(gatewayConfig, { env: {} });

describe('nats-server users (gateway nats config)', () => {
  it('deploy/nats/users.conf grants what the defaults need (regenerate with npm run deploy:nats-users)', () => {
    const shipped = readFileSync(new URL('../../deploy/nats/users.conf', import.meta.url), 'utf8');
    expect(shipped).toBe(renderNatsUsers(defaults()));
  });

  it('follows the configured stream, subject prefix and SIEM sinks, and renders a user for a process of several services', () => {
    const config = loadConfig(gatewayConfig, {
      env: {},
      overrides: {
        nats: { stream: 'EVENTS_EU', subjectPrefix: 'gw-eu' },
        audit: { sinks: [{ type: 'webhook', name: 'soc', filter: 'admin.>', url: 'https://soc.example/hook', secret: 'whsec-0123456789abcdef' }] },
      },
    });
    const rendered = renderNatsUsers(config, [['audit', 'metering'], ['ingress']]);
    expect(rendered).toContain('user: audit_metering\n      password: $NATS_AUDIT_METERING_PASSWORD');
    for (const granted of [
      '"$JS.API.CONSUMER.CREATE.EVENTS_EU.audit.gw-eu.events.>"',
      '"$JS.API.CONSUMER.CREATE.EVENTS_EU.siem-soc.gw-eu.events.admin.>"',
      '"$JS.ACK.EVENTS_EU.siem-soc.>"',
      '"$JS.API.CONSUMER.CREATE.EVENTS_EU.metering_tools.gw-eu.events.tool.*"',
      '"_INBOX.audit_metering.>"',
      '"gw-eu.events.request.completed"',
    ]) {
      expect(rendered).toContain(granted);
    }
    expect(rendered).not.toContain('GATEWAY_EVENTS');
  });
});
