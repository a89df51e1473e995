import { readFileSync } from 'node:fs';
import { credsAuthenticator, nkeyAuthenticator, tokenAuthenticator, usernamePasswordAuthenticator, type ConnectionOptions } from '@nats-io/transport-node';
import type { SecretLookup } from '../secrets/store.js';

/** How a process proves who it is to NATS and protects the connection (the nats.auth, nats.tls and nats.insecure keys). */
export interface NatsAccessSettings {
  auth: { user: string; password: string; token: string; nkeySeedFile: string; credsFile: string };
  tls: { caFile: string; certFile: string; keyFile: string };
  insecure: boolean;
}

/** The connection options that carry it. */
export type NatsAccess = Pick<ConnectionOptions, 'authenticator' | 'tls' | 'inboxPrefix' | 'ignoreAuthErrorAbort'>;

/** The credential keys set, by the names configuration uses. */
function methodsOf({ auth }: NatsAccessSettings): string[] {
  const set = { password: auth.password, token: auth.token, nkeySeedFile: auth.nkeySeedFile, credsFile: auth.credsFile };
  return Object.entries(set)
    .filter(([, value]) => value !== '')
    .map(([key]) => `nats.auth.${key}`);
}

/**
 * What keeps a NATS connection from being made as configured, naming keys and
 * never values. Unless nats.insecure, a connection needs credentials and TLS
 * (TLS is then always asked for, so only a missing credential is a problem here).
 */
export function natsAccessProblems(settings: NatsAccessSettings): string[] {
  const problems: string[] = [];
  const methods = methodsOf(settings);
  if (methods.length > 1) problems.push(`NATS takes one credential, but ${methods.join(' and ')} are set`);
  if (settings.auth.user && !settings.auth.password) problems.push('nats.auth.user is set without nats.auth.password');
  if (Boolean(settings.tls.certFile) !== Boolean(settings.tls.keyFile)) problems.push('nats.tls.certFile and nats.tls.keyFile go together');
  if (methods.length === 0 && !settings.insecure) {
    problems.push(
      'nats.url needs credentials, or any client that reaches NATS could publish events that become audit and usage rows: set nats.auth.password (or token, nkeySeedFile, credsFile), or nats.insecure: true for a NATS no one else reaches',
    );
  }
  return problems;
}

/**
 * Connection options for the settings. Secrets and key files are read at
 * each (re)connection, so a rotated password is used from the next one;
 * `defaultUser` names the user when only a password is set.
 */
export function natsAccess(settings: NatsAccessSettings, secrets: SecretLookup, inboxPrefix: string, defaultUser: string): NatsAccess {
  const { auth, tls } = settings;
  const authenticator = auth.password
    ? usernamePasswordAuthenticator(auth.user || defaultUser, () => secrets.get(auth.password).value)
    : auth.token
      ? tokenAuthenticator(() => secrets.get(auth.token).value)
      : auth.nkeySeedFile
        ? nkeyAuthenticator(() => readFileSync(auth.nkeySeedFile))
        : auth.credsFile
          ? credsAuthenticator(() => readFileSync(auth.credsFile))
          : undefined;
  const files = Object.fromEntries(Object.entries(tls).filter(([, path]) => path !== ''));
  // An options object, even empty, makes the client refuse a server without TLS rather than fall back to plain text.
  const useTls = !settings.insecure || Object.keys(files).length > 0;
  return {
    authenticator,
    tls: useTls ? files : undefined,
    inboxPrefix,
    // Keep trying with the secret as re-read, instead of giving up after two refusals (a password being rotated).
    ignoreAuthErrorAbort: true,
  };
}

/** A NATS URL as it may be logged: without a user or password in it. */
export function withoutCredentials(urls: string): string {
  return urls.replace(/\/\/[^@/,]*@/g, '//');
}
