import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadLetterRecorder } from '../../../test/harness/dead-letters.js';
import { eventually, freePort } from '../../../test/harness/infra.js';
import { Event } from '../../gen/gateway/v1/events.js';
import { MemoryBus } from '../../kit/bus/memory.js';
import { adminEvent, authFailedEvent, EventType, requestEvent } from '../../kit/events.js';
import { createLogger } from '../../kit/log.js';
import { siemConfig, type SyslogSinkConfig } from './config.js';
import { levelOf, SYSLOG_SEVERITY } from './facts.js';
import { formatEvent } from './formats.js';
import { createSink, startSinks } from './index.js';
import { SD_ID } from './syslog.js';
import { answered } from '../../../test/harness/events.js';

/**
 * The syslog sink against a real rsyslogd, run by this file with its own
 * config, work folder and ports (nothing system-wide): imtcp plain and with
 * the gtls driver (RFC 5425), octet-counted frames, mmpstrucdata to parse the
 * structured data, and one JSON line per received message written by omfile.
 */

const log = createLogger({ level: 'silent' });
const INSTALL = 'install it with `apt-get install -y rsyslog rsyslog-gnutls` (Debian/Ubuntu; rsyslog-gnutls adds TLS), then run the tests again';

function findRsyslogd(): string {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  const found = dirs.map((d) => join(d, 'rsyslogd')).find((p) => existsSync(p));
  if (!found) throw new Error(`rsyslogd was not found: the syslog sink is tested against a real rsyslog; ${INSTALL}.`);
  return found;
}

/** A self-signed certificate for 127.0.0.1/localhost, made with the openssl CLI (node cannot issue certificates). */
function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { stdio: 'pipe' },
    );
  } catch (err) {
    throw new Error(`openssl could not make a test certificate (apt-get install -y openssl): ${(err as Error).message}`);
  }
  return { cert, key };
}

interface Received {
  pri: string;
  app: string;
  host: string;
  procid: string;
  msgid: string;
  ts: string;
  sd: string;
  parsed: { 'rfc5424-sd'?: Record<string, Record<string, string>> };
  msg: string;
}

class Rsyslog {
  private child: ChildProcess | undefined;
  private output = '';
  readonly dir = mkdtempSync(join(tmpdir(), 'gw-rsyslog-'));
  readonly conf = join(this.dir, 'rsyslog.conf');
  plainPort = 0;
  tlsPort = 0;
  ca = '';

  async prepare(binary: string): Promise<void> {
    [this.plainPort, this.tlsPort] = [await freePort(), await freePort()];
    const { cert, key } = selfSigned(this.dir, 'server');
    this.ca = readFileSync(cert, 'utf8');
    const q = (p: string) => JSON.stringify(p);
    const field = (name: string, property: string, extra = '') =>
      `constant(value=",\\"${name}\\":\\"") property(name="${property}" format="json"${extra}) constant(value="\\"")`;
    writeFileSync(
      this.conf,
      `global(workDirectory=${q(this.dir)} maxMessageSize="64k" parser.escapeControlCharactersOnReceive="off"
  defaultNetstreamDriverCAFile=${q(cert)} defaultNetstreamDriverCertFile=${q(cert)} defaultNetstreamDriverKeyFile=${q(key)})
module(load="imtcp" maxSessions="50")
module(load="mmpstrucdata")
input(type="imtcp" address="127.0.0.1" port="${this.plainPort}" ruleset="received")
input(type="imtcp" address="127.0.0.1" port="${this.tlsPort}" ruleset="received" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
template(name="json" type="list") {
  constant(value="{\\"pri\\":\\"") property(name="pri") constant(value="\\"")
  ${field('app', 'app-name')} ${field('host', 'hostname')} ${field('procid', 'procid')} ${field('msgid', 'msgid')}
  ${field('ts', 'timereported', ' dateFormat="rfc3339"')} ${field('sd', 'structured-data')}
  constant(value=",\\"parsed\\":") property(name="$!")
  ${field('msg', 'msg')}
  constant(value="}\\n")
}
ruleset(name="received") {
  action(type="mmpstrucdata" sd_name.lowercase="off")
  action(type="omfile" file=${q(join(this.dir, 'received.jsonl'))} template="json")
}
`,
    );
    try {
      execFileSync(binary, ['-N1', '-f', this.conf], { stdio: 'pipe' });
    } catch (err) {
      const out = `${(err as { stderr?: Buffer }).stderr?.toString() ?? ''}${(err as { stdout?: Buffer }).stdout?.toString() ?? ''}`;
      throw new Error(`rsyslogd refused the test config (is rsyslog-gnutls installed? ${INSTALL}):\n${out}`);
    }
  }

  async start(binary: string): Promise<void> {
    this.output = '';
    const child = spawn(binary, ['-n', '-f', this.conf, '-i', join(this.dir, 'rsyslogd.pid')], { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    for (const port of [this.plainPort, this.tlsPort]) {
      await eventually(
        `rsyslogd to listen on ${port}`,
        async () => {
          if (child.exitCode !== null) throw new Error(`rsyslogd exited (${child.exitCode}): ${this.output}`);
          return (await accepts(port)) ? true : undefined;
        },
        15_000,
      );
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  /** Messages received so far from one app (each test sends under its own APP-NAME). */
  received(app: string): Received[] {
    const file = join(this.dir, 'received.jsonl');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Received)
      .filter((r) => r.app === app);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/** Events of every kind, with awkward content: line breaks, SD specials in ids, a type longer than MSGID allows. */
function events(count: number, tag: string): Event[] {
  return Array.from({ length: count }, (_, i) => {
    const context = {
      requestId: `${tag}-${i} "q" [x] \\b]`,
      traceId: `t${i}`,
      sourceAddress: '10.0.0.7',
      actor: { keyId: 'key_1', keyName: 'bot', teamId: 'team_1', customerId: '', admin: '' },
    };
    switch (i % 4) {
      case 0:
        return requestEvent(EventType.requestCompleted, { service: 'ingress', context }, answered({ model: `m${i}`, stream: true, durationMs: i }));
      case 1:
        return requestEvent(
          EventType.requestFailed,
          { service: 'ingress', context },
          answered({
            model: `m${i}`,
            httpStatus: 502,
            durationMs: i,
            errorCode: 'upstream_error',
            errorMessage: `line one of ${i}\nline two | a=b \\ c\r\nline three ünïcödé`,
          }),
        );
      case 2:
        return adminEvent(
          'admin.provider_credential_binding.rotate',
          { service: 'governance', context },
          {
            action: 'rotate',
            resource: 'provider_credential_binding',
            resourceId: `b${i}`,
            beforeJson: '{"v":1}',
            afterJson: `{"v":2,"note":"multi\\nline"}`,
          },
        );
      default:
        return authFailedEvent({ service: 'governance', context }, { surface: 'admin_api', reason: 'invalid credential', target: `GET /admin/keys/${i}` });
    }
  });
}

function sinkConfig(overrides: Partial<SyslogSinkConfig> & { name: string; appName: string; port: number }): SyslogSinkConfig {
  const [config] = siemConfig.parse([{ type: 'syslog', host: '127.0.0.1', hostname: 'gw-test-host', ...overrides }]);
  return config as SyslogSinkConfig;
}

describe('syslog sink against rsyslogd', () => {
  const rsyslog = new Rsyslog();
  let binary = '';
  let problem: Error | undefined;
  // Each test fails with the setup problem (e.g. how to install rsyslog) rather than being skipped.
  const ready = () => {
    if (problem) throw problem;
  };

  beforeAll(async () => {
    try {
      binary = findRsyslogd();
      await rsyslog.prepare(binary);
      await rsyslog.start(binary);
    } catch (err) {
      problem = err as Error;
    }
  });
  afterAll(async () => {
    await rsyslog.stop();
    rsyslog.cleanup();
  });

  /** What rsyslog must have parsed out of the message for `event`. */
  function expectParsed(got: Received, event: Event, app: string, format: 'native' | 'cef' | 'ocsf'): void {
    expect(got.pri).toBe(String(13 * 8 + SYSLOG_SEVERITY[levelOf(event)]));
    expect(got.app).toBe(app);
    expect(got.host).toBe('gw-test-host');
    expect(got.procid).toBe(String(process.pid));
    expect(got.msgid).toBe(event.type.slice(0, 32));
    expect(got.ts).toBe(event.time!.toISOString());
    expect(got.parsed['rfc5424-sd']?.[SD_ID]).toMatchObject({ eventId: event.id, requestId: event.requestId, traceId: event.traceId, service: event.service });
    expect(got.msg).toBe(formatEvent(format, event));
  }

  it('over TCP: rsyslog parses the RFC 5424 fields, and many events arrive whole and in order', async () => {
    ready();
    const bus = new MemoryBus(log);
    const config = sinkConfig({ name: 'tcp', appName: 'gw-tcp', port: rsyslog.plainPort, format: 'native', maxBatch: 25 });
    const sinks = await startSinks(bus, [config], { log, metrics: new Registry(), deadLetters: deadLetterRecorder() });
    try {
      const sent = events(300, 'tcp');
      await bus.publish(sent);
      const got = await eventually('300 messages in rsyslog', async () => (rsyslog.received('gw-tcp').length >= 300 ? rsyslog.received('gw-tcp') : undefined));
      expect(got).toHaveLength(300);
      got.forEach((g, i) => expectParsed(g, sent[i]!, 'gw-tcp', 'native'));
      // Line breaks inside events survive: the native record reads back into the same event.
      expect(got.map((g) => Event.fromJSON(JSON.parse(g.msg)))).toEqual(sent);
      expect(got[1]!.msgid).toBe('request.failed');
      expect(got[2]!.msgid).toBe('admin.provider_credential_bindin');
    } finally {
      await sinks.stop();
    }
  });

  it("over TLS (RFC 5425): verified against the receiver's CA, same framing, in order", async () => {
    ready();
    const bus = new MemoryBus(log);
    const config = sinkConfig({ name: 'tls', appName: 'gw-tls', port: rsyslog.tlsPort, tls: true, ca: rsyslog.ca, format: 'cef', maxBatch: 40 });
    const sinks = await startSinks(bus, [config], { log, metrics: new Registry(), deadLetters: deadLetterRecorder() });
    try {
      const sent = events(120, 'tls');
      await bus.publish(sent);
      const got = await eventually('120 messages over TLS', async () => (rsyslog.received('gw-tls').length >= 120 ? rsyslog.received('gw-tls') : undefined));
      expect(got).toHaveLength(120);
      got.forEach((g, i) => expectParsed(g, sent[i]!, 'gw-tls', 'cef'));
      expect(got[1]!.msg).toContain('msg=line one of 1\\nline two | a\\=b \\\\ c\\nline three ünïcödé');
    } finally {
      await sinks.stop();
    }
  });

  it('over TLS: refuses a receiver whose certificate the configured CA did not sign', async () => {
    ready();
    const other = selfSigned(rsyslog.dir, 'other');
    const sink = createSink(
      sinkConfig({ name: 'badca', appName: 'gw-badca', port: rsyslog.tlsPort, tls: true, ca: readFileSync(other.cert, 'utf8') }),
      { get: (v) => ({ value: v }) },
      log,
    );
    try {
      const [event] = events(1, 'badca');
      await expect(sink.deliver([{ event: event!, record: formatEvent('cef', event!) }])).rejects.toThrow(
        /cannot connect to syslog receiver tls:\/\/127\.0\.0\.1:\d+: .*(certificate|signature)/i,
      );
      expect(rsyslog.received('gw-badca')).toEqual([]);
    } finally {
      await sink.close();
    }
  });

  it('reconnects after the receiver restarts; the batches it could not take are retried, none lost or repeated', async () => {
    ready();
    const bus = new MemoryBus(log);
    const metrics = new Registry();
    const config = sinkConfig({ name: 'restart', appName: 'gw-restart', port: rsyslog.plainPort, format: 'ocsf', maxBatch: 10 });
    const sinks = await startSinks(bus, [config], { log, metrics, deadLetters: deadLetterRecorder() });
    const failures = () => (metrics.getSingleMetric('gateway_consumer_batch_failures_total') as Counter).get().then((m) => m.values[0]?.value ?? 0);
    try {
      const sent = events(60, 'restart');
      await bus.publish(sent.slice(0, 30));
      await eventually('the first 30', async () => (rsyslog.received('gw-restart').length >= 30 ? true : undefined));
      await rsyslog.stop();
      await bus.publish(sent.slice(30));
      await eventually('a failed delivery while rsyslog is down', async () => ((await failures()) > 0 ? true : undefined));
      await rsyslog.start(binary);
      const got = await eventually('all 60 after the restart', async () =>
        rsyslog.received('gw-restart').length >= 60 ? rsyslog.received('gw-restart') : undefined,
      );
      expect(got.map((g) => (JSON.parse(g.msg) as { metadata: { uid: string } }).metadata.uid)).toEqual(sent.map((e) => e.id));
      got.forEach((g, i) => expectParsed(g, sent[i]!, 'gw-restart', 'ocsf'));
    } finally {
      await sinks.stop();
    }
  });
});
