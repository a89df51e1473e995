import { createHash, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { SERVICE_IDENTITY_PREFIX } from '../kit/grpc-tls.js';
import { SERVICE_NAMES } from '../kit/service.js';

/*
 * A development certificate authority and service certificates for mutual
 * TLS between the gateway's processes (`gateway certs init`): ECDSA P-256,
 * written in DER by hand (node:crypto signs and parses certificates but does
 * not build them). Each service certificate names its services twice: as
 * `spiffe://ai-gateway/<service>` URIs, which callees authorize, and as DNS
 * names, which callers verify against the service they meant to reach.
 */

const OID = {
  commonName: '2.5.4.3',
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
};

const DAY_MS = 86_400_000;

export interface Issued {
  certificatePem: string;
  keyPem: string;
}

export interface Authority extends Issued {
  key: KeyObject;
  certificate: X509Certificate;
}

/** A new certificate authority, valid for `days`. */
export function createAuthority(name: string, days: number): Authority {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const der = certificate({
    subject: name,
    issuer: name,
    spki,
    signer: privateKey,
    days,
    issuerKeyId: keyId(spki),
    extensions: [
      extension(OID.basicConstraints, true, seq(bool(true), int(Buffer.from([0])))),
      extension(OID.keyUsage, true, bitString(Buffer.from([0x06]), 1)),
    ],
  });
  const certificatePem = pem('CERTIFICATE', der);
  return {
    certificatePem,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    key: privateKey,
    certificate: new X509Certificate(certificatePem),
  };
}

/** A certificate for a process running `services`, signed by the authority; `hosts` are further DNS names or IP addresses it answers as. */
export function issueServiceCertificate(authority: Authority, services: readonly string[], hosts: readonly string[], days: number): Issued {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const names = [
    ...services.map((service) => tlv(0x86, Buffer.from(`${SERVICE_IDENTITY_PREFIX}${service}`))),
    ...[...services, ...hosts].map((host) => (isIP(host) ? tlv(0x87, ipBytes(host)) : tlv(0x82, Buffer.from(host)))),
  ];
  const der = certificate({
    subject: services.join('+'),
    issuer: authority.certificate.subject.replace(/^CN=/, ''),
    spki,
    signer: authority.key,
    days,
    issuerKeyId: keyId(authority.certificate.publicKey.export({ type: 'spki', format: 'der' })),
    extensions: [
      extension(OID.basicConstraints, true, seq()),
      extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)),
      extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth))),
      extension(OID.subjectAltName, false, seq(...names)),
    ],
  });
  return { certificatePem: pem('CERTIFICATE', der), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

/**
 * `gateway certs init`: a new CA in `dir`, a certificate for each service, and
 * one for each group of services that runs in one process; returns the files.
 */
export function initCertificates(dir: string, options: { hosts: string[]; groups: { name: string; services: readonly string[] }[]; days: number }): string[] {
  mkdirSync(dir, { recursive: true });
  const authority = createAuthority('ai-gateway development CA', 3650);
  const written: string[] = [];
  const write = (name: string, issued: Issued) => {
    for (const [file, text, mode] of [
      [`${name}.crt`, issued.certificatePem, 0o644],
      [`${name}.key`, issued.keyPem, 0o600],
    ] as const) {
      writeFileSync(join(dir, file), text, { mode });
      written.push(join(dir, file));
    }
  };
  write('ca', authority);
  for (const service of SERVICE_NAMES) write(service, issueServiceCertificate(authority, [service], options.hosts, options.days));
  for (const group of options.groups) write(group.name, issueServiceCertificate(authority, group.services, options.hosts, options.days));
  return written;
}

interface CertificateFields {
  subject: string;
  issuer: string;
  spki: Buffer;
  signer: KeyObject;
  days: number;
  issuerKeyId: Buffer;
  extensions: Buffer[];
}

function certificate(fields: CertificateFields): Buffer {
  const notBefore = new Date(Date.now() - 5 * 60_000);
  const notAfter = new Date(notBefore.getTime() + fields.days * DAY_MS);
  const algorithm = seq(oid(OID.ecdsaWithSha256));
  // Positive, and with a first byte that is not 0: DER allows no leading zero byte an integer does not need.
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  const tbs = seq(
    tlv(0xa0, int(Buffer.from([2]))),
    int(serial),
    algorithm,
    name(fields.issuer),
    seq(time(notBefore), time(notAfter)),
    name(fields.subject),
    fields.spki,
    tlv(
      0xa3,
      seq(
        ...fields.extensions,
        extension(OID.subjectKeyIdentifier, false, tlv(0x04, keyId(fields.spki))),
        extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, fields.issuerKeyId))),
      ),
    ),
  );
  return seq(tbs, algorithm, bitString(sign('sha256', tbs, { key: fields.signer, dsaEncoding: 'der' }), 0));
}

/** RFC 5280's method 1: the SHA-1 of the public key's bits. */
function keyId(spki: Buffer): Buffer {
  // The key's bits are the BIT STRING that ends the SubjectPublicKeyInfo; for P-256, its last 65 bytes.
  return createHash('sha1')
    .update(spki.subarray(spki.length - 65))
    .digest();
}

function tlv(tag: number, content: Buffer): Buffer {
  const length = content.length;
  if (length < 0x80) return Buffer.concat([Buffer.from([tag, length]), content]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
  return Buffer.concat([Buffer.from([tag, 0x80 | bytes.length, ...bytes]), content]);
}

const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const bool = (value: boolean) => tlv(0x01, Buffer.from([value ? 0xff : 0]));
const int = (bytes: Buffer) => tlv(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
const bitString = (bytes: Buffer, unusedBits: number) => tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), bytes]));
const extension = (id: string, critical: boolean, value: Buffer) => seq(oid(id), ...(critical ? [bool(true)] : []), tlv(0x04, value));
const name = (commonName: string) => seq(tlv(0x31, seq(oid(OID.commonName), tlv(0x0c, Buffer.from(commonName)))));

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const bytes = [first! * 40 + second!];
  for (const arc of rest) {
    const chunk: number[] = [arc & 0x7f];
    for (let n = arc >>> 7; n > 0; n >>>= 7) chunk.unshift(0x80 | (n & 0x7f));
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** UTCTime through 2049, GeneralizedTime after, as RFC 5280 says. */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

function ipBytes(address: string): Buffer {
  if (isIP(address) === 4) return Buffer.from(address.split('.').map(Number));
  const [head = '', tail = ''] = address.split('::');
  const groups = (part: string) => (part ? part.split(':') : []);
  const missing = 8 - groups(head).length - groups(tail).length;
  const all = [...groups(head), ...Array<string>(address.includes('::') ? missing : 0).fill('0'), ...groups(tail)];
  return Buffer.concat(all.map((group) => Buffer.from(group.padStart(4, '0'), 'hex')));
}

function pem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}
