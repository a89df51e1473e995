import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { findLeaks } from './leaks.js';
import type { StartedTestContainer } from 'testcontainers';

export interface Infra {
  natsUrl: string;
  databaseUrl: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    infra: Infra | null;
    infraProblem: string;
    /** Where the tests' secrets and what the gateways said are kept for the leak scan (leaks.ts). */
    outputDir: string;
    /** Where the first test that needs one makes an empty PGlite cluster the others copy (databases.ts). */
    pgliteTemplate: string;
  }
}

const HOW_TO = `Tests that use real infrastructure need NATS (with JetStream) and PostgreSQL. Either
  - set NATS_URL and DATABASE_URL, e.g.
      NATS_URL=nats://127.0.0.1:4222 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm test
    (nats-server must run with -js; the database user must be allowed to CREATE DATABASE), or
  - start a Docker engine, and the tests will run both with testcontainers.`;

/** Whether a container runtime answers; testcontainers throws when none is found. */
async function dockerAvailable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds NATS and PostgreSQL for the suite: from NATS_URL / DATABASE_URL when
 * set, else from containers when Docker answers. When neither works, the tests
 * that need them fail with HOW_TO; tests that don't still run.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const containers: StartedTestContainer[] = [];
  const outputDir = mkdtempSync(join(tmpdir(), 'gw-test-output-'));
  project.provide('outputDir', outputDir);
  const pgliteTemplate = join(mkdtempSync(join(tmpdir(), 'gw-pglite-template-')), 'pg');
  project.provide('pgliteTemplate', pgliteTemplate);
  let natsUrl = process.env.NATS_URL;
  let databaseUrl = process.env.DATABASE_URL;

  if ((!natsUrl || !databaseUrl) && (await dockerAvailable())) {
    const { GenericContainer, Wait } = await import('testcontainers');
    if (!natsUrl) {
      const nats = await new GenericContainer('nats:2.10-alpine')
        .withCommand(['-js'])
        .withExposedPorts(4222)
        .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
        .start();
      containers.push(nats);
      natsUrl = `nats://${nats.getHost()}:${nats.getMappedPort(4222)}`;
    }
    if (!databaseUrl) {
      const pg = await new GenericContainer('postgres:16-alpine')
        .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
        .withExposedPorts(5432)
        .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
        .start();
      containers.push(pg);
      databaseUrl = `postgres://postgres@${pg.getHost()}:${pg.getMappedPort(5432)}/postgres`;
    }
  }

  if (natsUrl && databaseUrl) {
    project.provide('infra', { natsUrl, databaseUrl });
    project.provide('infraProblem', '');
  } else {
    project.provide('infra', null);
    project.provide(
      'infraProblem',
      `${HOW_TO}\n(NATS_URL is ${natsUrl ? 'set' : 'not set'}, DATABASE_URL is ${databaseUrl ? 'set' : 'not set'}, no Docker engine answered.)`,
    );
  }
  return async () => {
    await Promise.all(containers.map((c) => c.stop()));
    rmSync(join(pgliteTemplate, '..'), { recursive: true, force: true });
    const leaks = findLeaks(outputDir);
    if (leaks.length > 0) {
      // A teardown error alone does not fail the run, so the exit code is set too.
      process.exitCode = 1;
      throw new Error(`secrets appeared in what the gateways logged, answered, stored or sent (kept in ${outputDir}):\n  ${leaks.join('\n  ')}`);
    }
  };
}
