import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

/** AWS SigV4 checked as AWS checks it, for the fake Bedrock (bedrock.ts): the signature recomputed with the key pair's secret. */

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;:-]+), ?Signature=([0-9a-f]{64})$/;

/** The access key id a SigV4 Authorization header names, if it is one. */
export const signingKeyId = (authorization: string): string | undefined => AUTHORIZATION.exec(authorization)?.[1];

/**
 * Recomputes the SigV4 signature from the method, path, query, signed headers
 * and body as received, with the secret of the access key named in the
 * credential scope, and compares it with the one sent.
 */
export async function verifySignature(
  req: IncomingMessage | Http2ServerRequest,
  path: string,
  query: string,
  body: Buffer,
  options: { region: string; accessKeyId: string; secretAccessKey: string },
): Promise<{ type: string; message: string } | undefined> {
  const authorization = req.headers.authorization;
  if (!authorization) return { type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' };
  const parsed = AUTHORIZATION.exec(authorization);
  if (!parsed) return { type: 'IncompleteSignatureException', message: 'Authorization header requires Credential, SignedHeaders and Signature.' };
  const [, accessKeyId, , , , signedHeaderList] = parsed as unknown as [string, string, string, string, string, string, string];
  if (accessKeyId !== options.accessKeyId) return { type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
  const mismatch = {
    type: 'InvalidSignatureException',
    message:
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
  };

  const amzDate = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(String(req.headers['x-amz-date']));
  if (!amzDate) return mismatch;
  const signingDate = new Date(`${amzDate[1]}-${amzDate[2]}-${amzDate[3]}T${amzDate[4]}:${amzDate[5]}:${amzDate[6]}Z`);
  if (Math.abs(Date.now() - signingDate.getTime()) > 15 * 60_000) return { type: 'InvalidSignatureException', message: 'Signature expired.' };

  // Over HTTP/2 the AWS SDK signs the :authority pseudo-header instead of host.
  const signedNames = signedHeaderList.split(';');
  const headers: Record<string, string> = {};
  for (const name of signedNames) {
    const value = req.headers[name];
    if (value === undefined) return mismatch;
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  // The signer trusts x-amz-content-sha256 as the payload hash, so it is checked against the body here.
  const contentHash = headers['x-amz-content-sha256'];
  if (contentHash !== undefined && contentHash !== createHash('sha256').update(body).digest('hex')) return mismatch;
  const sessionToken = req.headers['x-amz-security-token'];
  const signer = new SignatureV4({
    service: 'bedrock',
    region: options.region,
    credentials: { accessKeyId, secretAccessKey: options.secretAccessKey, sessionToken: typeof sessionToken === 'string' ? sessionToken : undefined },
    sha256: Sha256,
    applyChecksum: contentHash !== undefined,
  });
  const host = headers.host ?? String(req.headers.host ?? req.headers[':authority']);
  const expected = await signer.sign(
    {
      method: req.method ?? 'POST',
      protocol: 'http:',
      hostname: host.split(':')[0]!,
      path,
      query: Object.fromEntries(new URLSearchParams(query)),
      headers,
      body,
    },
    { signingDate },
  );
  return expected.headers.authorization === authorization ? undefined : mismatch;
}
