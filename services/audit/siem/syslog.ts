import { connect as tcpConnect, isIP, type Socket } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import type { Event } from '../../gen/gateway/v1/events.js';
import type { Logger } from '../../kit/log.js';
import type { SecretLookup } from '../../kit/secrets/store.js';
import type { SyslogSinkConfig } from './config.js';
import { levelOf, SYSLOG_SEVERITY } from './facts.js';
import type { Delivery, Sink } from './sink.js';

const CONNECT_TIMEOUT_MS = 10_000;
/** A receiver that stops reading for this long counts as down; the batch is retried on a new connection. */
const WRITE_TIMEOUT_MS = 30_000;

/**
 * SD-ID of the structured data element. 32473 is the private enterprise
 * number IANA reserves for documentation (RFC 5612); what matters to
 * receivers is that the name carries an "@" and stays the same.
 */
export const SD_ID = 'gateway@32473';

/** SD-PARAM values escape `"`, `\` and `]` (RFC 5424 section 6.3.3). */
export function sdValue(value: string): string {
  return value.replace(/[\\"\]]/g, (c) => `\\${c}`);
}

/** Header fields are PRINTUSASCII without spaces; anything else becomes "_", empty becomes NILVALUE. */
function headerField(value: string, max: number): string {
  const clean = value.replace(/[^!-~]/g, '_').slice(0, max);
  return clean || '-';
}

/**
 * One RFC 5424 message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`.
 * The MSG is the formatted record, sent without a BOM: receivers such as
 * rsyslog keep a BOM as part of the message, which would break JSON records.
 */
export function syslogMessage(event: Event, record: string, options: { facility: number; hostname: string; appName: string; procId: string }): string {
  const pri = options.facility * 8 + SYSLOG_SEVERITY[levelOf(event)];
  const timestamp = event.time ? event.time.toISOString() : '-';
  const params: Array<[string, string | undefined]> = [
    ['eventId', event.id],
    ['requestId', event.requestId],
    ['traceId', event.traceId],
    ['keyId', event.actor?.keyId],
    ['teamId', event.actor?.teamId],
    ['customerId', event.actor?.customerId],
    ['admin', event.actor?.admin],
    ['service', event.service],
    ['sourceAddress', event.sourceAddress],
  ];
  const sd = `[${SD_ID}${params
    .filter(([, v]) => v)
    .map(([k, v]) => ` ${k}="${sdValue(v!)}"`)
    .join('')}]`;
  const header = [
    `<${pri}>1`,
    timestamp,
    headerField(options.hostname, 255),
    headerField(options.appName, 48),
    headerField(options.procId, 128),
    headerField(event.type, 32),
  ];
  return `${header.join(' ')} ${sd} ${record}`;
}

/** Octet-counting framing (RFC 6587 section 3.4.1, also RFC 5425): `MSG-LEN SP SYSLOG-MSG`, the length in bytes. */
export function frame(message: string): string {
  return `${Buffer.byteLength(message, 'utf8')} ${message}`;
}

/**
 * Sends to a syslog receiver over TCP or TLS on one persistent connection,
 * re-opened after an error or when the receiver closes it. A batch is written
 * in one go and counts as sent once the kernel took all of it; a connection
 * that dies first fails the batch, which the bus then retries on a new
 * connection. Syslog has no acknowledgements, so a receiver that dies with
 * data in its socket buffer can lose it or (after the retry) see it twice;
 * each message carries eventId to tell repeats apart.
 */
export class SyslogSink implements Sink {
  private socket: Socket | undefined;
  private opening: Promise<Socket> | undefined;
  private readonly port: number;
  private readonly hostname: string;
  private closed = false;

  constructor(
    private readonly config: SyslogSinkConfig,
    private readonly secrets: SecretLookup,
    private readonly log: Logger,
  ) {
    this.port = config.port ?? (config.tls ? 6514 : 514);
    this.hostname = config.hostname || osHostname();
  }

  private get target(): string {
    return `${this.config.tls ? 'tls' : 'tcp'}://${this.config.host}:${this.port}`;
  }

  async deliver(batch: readonly Delivery[]): Promise<void> {
    if (this.closed) throw new Error(`syslog sink ${this.config.name} is closed`);
    const options = { facility: this.config.facility, hostname: this.hostname, appName: this.config.appName, procId: String(process.pid) };
    const data = batch.map(({ event, record }) => frame(syslogMessage(event, record, options))).join('');
    const socket = await this.connection();
    await this.write(socket, data);
  }

  private async connection(): Promise<Socket> {
    if (this.socket && !this.socket.destroyed && this.socket.writable) return this.socket;
    this.opening ??= this.open().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private open(): Promise<Socket> {
    const { host, tls, rejectUnauthorized } = this.config;
    const ca = this.config.ca ? this.secrets.get(this.config.ca).value : undefined;
    return new Promise<Socket>((resolve, reject) => {
      const socket = tls
        ? // SNI only for names; node refuses an IP address as servername.
          tlsConnect({ host, port: this.port, ca, rejectUnauthorized, servername: isIP(host) ? undefined : host })
        : tcpConnect({ host, port: this.port });
      const timer = setTimeout(() => socket.destroy(new Error(`timed out after ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
      const failed = (err: Error) => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to syslog receiver ${this.target}: ${err.message}`, { cause: err }));
      };
      socket.once('error', failed);
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', failed);
        socket.setKeepAlive(true, 30_000);
        socket.setNoDelay(true);
        // Nothing is expected from the receiver; reading lets us see it close the connection.
        socket.resume();
        const drop = () => {
          if (this.socket === socket) this.socket = undefined;
          socket.destroy();
        };
        socket.on('end', drop);
        socket.on('close', drop);
        socket.on('error', (err) => {
          this.log.warn({ target: this.target, reason: err.message }, 'syslog connection failed; reconnecting on the next batch');
          drop();
        });
        this.socket = socket;
        this.log.debug({ target: this.target }, 'syslog connection open');
        resolve(socket);
      });
    });
  }

  /** Resolves once all of `data` was handed to the kernel; rejects if the connection dies or stalls first. */
  private write(socket: Socket, data: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const done = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.off('close', closed);
        if (err) {
          socket.destroy();
          reject(new Error(`syslog receiver ${this.target}: ${err.message}`, { cause: err }));
        } else resolve();
      };
      const closed = () => done(new Error('connection closed before the batch was written'));
      const timer = setTimeout(() => done(new Error(`write stalled for ${WRITE_TIMEOUT_MS} ms`)), WRITE_TIMEOUT_MS);
      socket.once('close', closed);
      socket.write(data, 'utf8', (err) => done(err ?? undefined));
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const socket = this.socket ?? (await this.opening?.catch(() => undefined));
    this.socket = undefined;
    if (!socket || socket.destroyed) return;
    // end() flushes what was written; destroy if the receiver does not finish the close.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => socket.destroy(), 2_000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }
}
