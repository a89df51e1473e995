import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { MODULES } from '../../services/gateway/modules.js';
import { SERVICE_NAMES } from '../../services/kit/service.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

interface ComposeService {
  image?: string;
  command?: string[];
  read_only?: boolean;
  tmpfs?: string[];
  volumes?: (string | { target: string })[];
  depends_on?: Record<string, unknown>;
}

/** docker-compose.yml as Compose reads it, `<<:` merges resolved. (No Docker engine here: what it says is checked, not run.) */
const compose = parse(readFileSync(join(REPO, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };
const gatewayContainers = Object.entries(compose.services).filter(([, service]) => service.image === 'ai-gateway:local' && service.command?.[0] === 'start');
const targets = (service: ComposeService) => (service.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':')[1] : v.target));

describe('docker-compose.yml, the quick multi-container path', () => {
  it('runs each service in a container of its own', () => {
    expect(gatewayContainers.map(([name]) => name).sort()).toEqual([...SERVICE_NAMES].sort());
  });

  it('runs the image as a non-root user on a read-only root file system, writing only to /tmp and its data volume', () => {
    const dockerfile = readFileSync(join(REPO, 'deploy/Dockerfile'), 'utf8');
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime.indexOf('USER node')).toBeLessThan(runtime.indexOf('ENTRYPOINT'));
    for (const [name, service] of gatewayContainers) {
      expect(service.read_only, name).toBe(true);
      expect(service.tmpfs, name).toEqual(['/tmp']);
    }
    // What keeps state in dataDir: the generated admin token, the event spools, the audit chain's key and checkpoints.
    for (const name of ['governance', 'ingress', 'routing', 'audit', 'metering']) expect(targets(compose.services[name]!), name).toContain('/app/data');
  });

  it('starts each service after those its definition calls (dependsOn)', () => {
    for (const [name, service] of gatewayContainers) {
      const declared = MODULES[name as keyof typeof MODULES].dependsOn;
      const waitsFor = Object.keys(service.depends_on ?? {}).filter((other) => (SERVICE_NAMES as readonly string[]).includes(other));
      expect(waitsFor.sort(), name).toEqual([...declared].sort());
    }
  });
});
