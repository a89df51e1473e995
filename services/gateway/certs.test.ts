import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createAuthority, issueServiceCertificate } from './certs.js';

describe('development certificates', () => {
  // Serial numbers and keys are random, and DER allows one encoding of each value: many certificates find a wrong one.
  it('makes certificates that parse and verify, whatever their random serial numbers and keys', () => {
    const authority = createAuthority('test CA', 1);
    for (let i = 0; i < 1_000; i++) {
      const certificate = new X509Certificate(issueServiceCertificate(authority, ['audit'], ['10.0.0.1', 'audit.internal'], 1).certificatePem);
      expect(certificate.verify(authority.certificate.publicKey)).toBe(true);
    }
    expect(new X509Certificate(issueServiceCertificate(authority, ['audit'], ['fd00::1'], 1).certificatePem).subjectAltName).toContain(
      'IP Address:FD00:0:0:0:0:0:0:1',
    );
  });
});
