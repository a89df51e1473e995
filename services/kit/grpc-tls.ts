import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { experimental, type ChannelCredentials, type ServerCredentials } from '@grpc/grpc-js';
import { GatewayError } from './errors.js';
import type { Logger } from './log.js';

/**
 * Mutual TLS between the gateway's processes. Every process has a
 * certificate from the deployment's CA naming the services it runs as
 * `spiffe://ai-gateway/<service>` URIs (and as DNS names); a callee reads the
 * caller's services from its certificate and serves each method only to the
 * services allowed to call it, and a caller checks that it reached the service
 * it meant. The files are read again every refreshSeconds, so a rotated
 * certificate is used without a restart.
 */

export const SERVICE_IDENTITY_PREFIX = 'spiffe://ai-gateway/';

export interface TlsFiles {
  /** PEM file of the CA that signs every process's certificate. */
  ca: string;
  /** PEM files of this process's certificate and its private key. */
  cert: string;
  key: string;
  refreshSeconds: number;
}

/** The services a certificate names (its spiffe://ai-gateway/ URIs). */
export function servicesOf(certificate: Pick<PeerCertificate, 'subjectaltname'> | X509Certificate | undefined): Set<string> {
  const names = certificate && 'subjectAltName' in certificate ? certificate.subjectAltName : (certificate as PeerCertificate | undefined)?.subjectaltname;
  const services = new Set<string>();
  for (const entry of (names ?? '').split(', ')) {
    if (entry.startsWith(`URI:${SERVICE_IDENTITY_PREFIX}`)) services.add(entry.slice(`URI:${SERVICE_IDENTITY_PREFIX}`.length));
  }
  return services;
}

/** A process's TLS for gRPC, server side and client side, from files that are watched for rotation. */
export class GrpcTls {
  private readonly files: InstanceType<typeof experimental.FileWatcherCertificateProvider>;
  /** The services this process's certificate names, as read at start. */
  readonly services: ReadonlySet<string>;

  constructor(settings: TlsFiles) {
    this.services = servicesOf(new X509Certificate(readFileSync(settings.cert)));
    this.files = new experimental.FileWatcherCertificateProvider({
      caCertificateFile: settings.ca,
      certificateFile: settings.cert,
      privateKeyFile: settings.key,
      refreshIntervalMs: settings.refreshSeconds * 1000,
    });
  }

  /** Server credentials that require a client certificate signed by the CA. */
  serverCredentials(): ServerCredentials {
    return experimental.createCertificateProviderServerCredentials(this.files, this.files, true);
  }

  /**
   * Channel credentials to one service: its certificate must be signed by the
   * CA and name that service, whatever address reached it.
   */
  channelTo(service: string): { credentials: ChannelCredentials; options: Record<string, string> } {
    const credentials = experimental.createCertificateProviderChannelCredentials(this.files, this.files, {
      checkServerIdentity: (_host, certificate) =>
        servicesOf(certificate).has(service) ? undefined : new Error(`the certificate of the process reached does not name the ${service} service`),
    });
    // Host name verification checks the certificate's DNS names against the service's name, not the address dialled.
    return { credentials, options: { 'grpc.ssl_target_name_override': service } };
  }
}

/** Who may call each method of a service: the names of the calling services. */
export type Callers<S> = { readonly [K in keyof S]: readonly string[] };

/** The services a caller's certificate names; undefined when the connection has no TLS (loopback, or insecure by choice). */
export function callerServices(call: {
  getAuthContext(): { transportSecurityType?: string; sslPeerCertificate?: PeerCertificate } | null;
}): Set<string> | undefined {
  const context = call.getAuthContext();
  if (context?.transportSecurityType !== 'ssl') return undefined;
  return servicesOf(context.sslPeerCertificate);
}

/**
 * The error for a caller whose certificate names no service allowed to call
 * the method (logged: a process that tries is misconfigured or hostile), or
 * undefined; a connection without TLS has no identity to check.
 */
export function refusal(method: string, allowed: readonly string[], callers: ReadonlySet<string> | undefined, log: Logger): GatewayError | undefined {
  if (callers === undefined) return undefined;
  for (const caller of callers) if (allowed.includes(caller)) return undefined;
  log.warn({ method, caller: [...callers] }, 'refused a call from a service not allowed to make it');
  const who = callers.size ? [...callers].join(', ') : 'a certificate naming no service';
  return new GatewayError('caller_not_allowed', `${method} may not be called by ${who}.`);
}
