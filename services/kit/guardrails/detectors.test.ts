import { describe, expect, it } from 'vitest';
import { BUILTIN_DETECTORS } from './index.js';
import { scan } from './scan.js';

/** What one detector finds in the text, as the strings found. */
const found = (id: string, text: string): string[] =>
  scan(
    text,
    BUILTIN_DETECTORS.filter((d) => d.id === id),
  ).map((f) => text.slice(f.start, f.end));

/** Random-looking characters from a seeded generator: key bodies are made here, so no key-shaped literal is in the source. */
function randomChars(length: number, seed: number, alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'): string {
  let state = seed;
  return Array.from({ length }, () => alphabet[Math.floor(((state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31) * alphabet.length)]).join('');
}
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const base64url = (json: object): string => Buffer.from(JSON.stringify(json)).toString('base64url');
const pem = (kind: string, body: string): string => `-----BEGIN ${kind}PRIVATE KEY-----${body}-----END ${kind}PRIVATE KEY-----`;
const keyBody = (lines: number, newline: string): string =>
  newline + Array.from({ length: lines }, (_, i) => randomChars(64, 50 + i, BASE64)).join(newline) + newline;
/** jwt.io's example token, published for anyone to decode. */
const JWT_IO_EXAMPLE =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
const payload = base64url({ sub: '1234567890', iat: 1516239022 });

/** Values each detector takes, and near misses it must not: published test values where there are some. */
const cases: Record<string, { hits: string[]; misses: string[] }> = {
  email: {
    hits: ['bob.smith+tag@example.co.uk', 'user_name@mail.sub.example.org', 'x@example.io', 'a%b@example.com'],
    misses: [
      'bob@localhost',
      '.bob@example.com',
      'bob.@example.com',
      'bob..smith@example.com',
      'bob@example',
      'bob@-example.com',
      '@example.com',
      'bob@example.c',
      'user@192.168.1.1',
    ],
  },
  phone: {
    hits: [
      '+1 (415) 555-2671',
      '+44 20 7946 0958',
      '+33 6 12 34 56 78',
      '+14155552671',
      '(415) 555-2671',
      '415-555-2671',
      '415.555.2671',
      '1-415-555-2671',
      '020 7946 0958',
      '06 12 34 56 78',
      '07700 900123',
      '030 1234567',
      '07700900123',
    ],
    // Years, dates, timestamps, prices, bare 10-digit runs, codes that break the North American rules, too few digits.
    misses: [
      '2024',
      '2024-01-15',
      '1700000000',
      '4155552671',
      '123-456-7890',
      '415-155-2671',
      '$1,299.99',
      '12 345 678.90',
      '+1 555',
      '0.5',
      '000 1234 5678',
      '06 12 34',
    ],
  },
  payment_card: {
    hits: ['4242 4242 4242 4242', '4242-4242-4242-4242', '4242424242424242', '3782 822463 10005', '378282246310005', '6011111111111117', '5555 5555 5555 4444'],
    misses: ['4242 4242 4242 4241', '4242-4242 4242-4242', '9242424242424241', '4242 4242 4242 4242 4242', '1234 5678 1234 5670', 'x4242424242424242'],
  },
  iban: {
    hits: ['GB82 WEST 1234 5698 7654 32', 'GB82WEST12345698765432', 'DE89 3704 0044 0532 0130 00', 'FR14 2004 1010 0505 0001 3M02 606', 'NL91ABNA0417164300'],
    misses: [
      'GB82 WEST 1234 5698 7654 33',
      'GB83WEST12345698765432',
      'GB82WEST1234569876543',
      'XX82WEST12345698765432',
      'GB82 WEST 12345698 7654 32',
      'GB82WEST12345698765432X',
    ],
  },
  us_ssn: {
    hits: ['123-45-6789', '123 45 6789', '078-05-1120'],
    misses: ['000-12-3456', '666-12-3456', '900-12-3456', '123-00-6789', '123-45-0000', '123456789', '123-45 6789', '1123-45-6789'],
  },
  uk_nino: {
    hits: ['AB123456C', 'AB 12 34 56 C', 'ab123456c'],
    misses: ['QQ123456C', 'GB123456A', 'AO123456A', 'AB123456E', 'AB 1234 56 C', 'AB1234567C'],
  },
  de_tax_id: { hits: ['86095742719', '86 095 742 719', '47036892816'], misses: ['86095742718', '12345678903', '06095742719', '86 095742 719'] },
  fr_nir: {
    hits: ['184127645108946', '1 84 12 76 451 089 46', '2 69 05 49 588 157 80'],
    misses: ['1 84 12 76 451 089 47', '3 84 12 76 451 089 46', '1 84 12 76 451089 46'],
  },
  in_aadhaar: { hits: ['2341 2341 2346', '234123412346', '4991-1866-5246'], misses: ['2341 2341 2347', '2341 23412346', '1234 1234 1234 1'] },
  br_cpf: { hits: ['529.982.247-25', '52998224725', '111.444.777-35'], misses: ['529.982.247-26', '111.111.111-11', '529.982247-25'] },
  // "1.2.3.4" is taken: a four-part version is indistinguishable from an address; a "v" before it says version.
  ipv4: { hits: ['192.168.1.1', '10.0.0.255', '8.8.8.8', '1.2.3.4'], misses: ['256.1.1.1', '192.168.01.1', '1.2.3', '1.2.3.4.5', 'v1.2.3.4', '192.168.1.1x'] },
  ipv6: {
    hits: ['2001:db8:85a3::8a2e:370:7334', '2001:0db8:85a3:0000:0000:8a2e:0370:7334', 'fe80::1:2:3', '::ffff:192.0.2.1'],
    misses: ['::1', 'fe80::1', 'std::vector', '10:30:00', '00:1A:2B:3C:4D:5E', '2001:db8:::1', 'a[1::2]', 'dead:beef:cafe'],
  },
  'secret.openai_key': {
    hits: [`sk-proj-${randomChars(48, 1)}_${randomChars(40, 2)}`, `sk-svcacct-${randomChars(64, 3)}`, `sk-${randomChars(48, 4)}`],
    misses: ['sk-learn-is-a-python-library-for-machine-learning', `sk-proj-${randomChars(12, 5)}`, `sk-${randomChars(20, 6)}`, `ask-${randomChars(48, 4)}`],
  },
  'secret.anthropic_key': {
    hits: [`sk-ant-api03-${randomChars(93, 7)}AA`, `sk-ant-admin01-${randomChars(93, 8)}AA`],
    misses: [`sk-ant-${randomChars(48, 9)}`, `sk-ant-api03-${randomChars(20, 10)}`],
  },
  // AWS's documented example access key id.
  'secret.aws_access_key': {
    hits: ['AKIAIOSFODNN7EXAMPLE', 'ASIAIOSFODNN7EXAMPLE'],
    misses: ['AKIAIOSFODNN7EXAMPL', 'AKIAIOSFODNN7EXAMPLE1', 'akiaiosfodnn7example', 'XAKIAIOSFODNN7EXAMPLE', 'AKIDIOSFODNN7EXAMPLE'],
  },
  'secret.github_token': {
    hits: [
      `ghp_${randomChars(36, 11)}`,
      `gho_${randomChars(36, 12)}`,
      `ghs_${randomChars(36, 13)}`,
      `github_pat_${randomChars(22, 14)}_${randomChars(59, 15)}`,
    ],
    misses: [`ghx_${randomChars(36, 16)}`, `ghp_${randomChars(20, 17)}`, `github_pat_${randomChars(10, 18)}`],
  },
  'secret.slack_token': {
    hits: [`xoxb-1234567890-1234567890-${randomChars(24, 19)}`, `xoxp-${randomChars(40, 20)}`],
    misses: [`xoxz-${randomChars(40, 21)}`, 'xoxb-short'],
  },
  'secret.google_api_key': { hits: [`AIza${randomChars(35, 22)}`], misses: [`AIza${randomChars(34, 23)}`, `AIza${randomChars(36, 24)}`] },
  // Publishable keys (pk_) are meant to be public.
  'secret.stripe_key': {
    hits: [`sk_live_${randomChars(24, 25)}`, `rk_live_${randomChars(24, 26)}`, `sk_test_${randomChars(24, 27)}`],
    misses: [`pk_live_${randomChars(24, 28)}`, 'sk_live_short', `sk_prod_${randomChars(24, 29)}`],
  },
  'secret.private_key': {
    hits: [
      pem('RSA ', keyBody(4, '\n')),
      pem('', keyBody(3, '\n')),
      pem('OPENSSH ', keyBody(3, '\n')),
      pem('EC ', keyBody(2, '\\n')),
      `-----BEGIN PRIVATE KEY-----${keyBody(2, '\n')}`,
    ],
    misses: [
      pem('RSA ', '\n...\n'),
      '-----BEGIN RSA PRIVATE KEY-----',
      pem('', '\n<your key here>\n'),
      `-----BEGIN PUBLIC KEY-----${keyBody(2, '\n')}-----END PUBLIC KEY-----`,
    ],
  },
  'secret.jwt': {
    hits: [JWT_IO_EXAMPLE, `${base64url({ alg: 'none' })}.${payload}.`, `${base64url({ alg: 'RS256', kid: 'k1' })}.${payload}.${randomChars(86, 30)}`],
    // A header without "alg", a header that is not JSON, two parts only.
    misses: [
      `${base64url({ typ: 'JWT' })}.${payload}.${randomChars(43, 31)}`,
      `eyJub3QganNvbg.${payload}.${randomChars(43, 32)}`,
      `${base64url({ alg: 'HS256' })}.${payload}`,
    ],
  },
  // AWS's documented example secret access key, and random base64 of several lengths.
  'secret.high_entropy': {
    hits: [
      'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      randomChars(32, 33, BASE64),
      randomChars(40, 34, BASE64),
      `${randomChars(43, 35, BASE64)}=`,
      randomChars(200, 36),
    ],
    // A UUID, hex hashes, camel-case names, a URL path, an alphabet, a run too long to be a key.
    misses: [
      '550e8400-e29b-41d4-a716-446655440000',
      '3f786850e387550fdab836ed7e6dc881de23001b',
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      'Uint8ArrayBlobAdapterConstructor',
      'getUserAccountSettingsForOrganization2024',
      '_grpc_channelz_v1_GetSubchannelRequest',
      'github.com/python/cpython/blob/936135bb97fe04223aa30ca6e98eac8f3ed6b349/Lib/urllib',
      BASE64,
      randomChars(1100, 37, BASE64),
    ],
  },
};

describe('built-in detectors', () => {
  it('every detector has its cases', () => {
    expect(Object.keys(cases).sort()).toEqual(BUILTIN_DETECTORS.map((d) => d.id).sort());
  });

  for (const [id, { hits, misses }] of Object.entries(cases)) {
    it(`${id}: finds each value within prose, and only the value`, () => {
      for (const value of hits) expect(found(id, `Here it is: ${value}. Thanks!`), value).toEqual([value]);
      expect(found(id, hits.join(', then '))).toEqual(hits);
    });
    it(`${id}: near misses are not findings`, () => {
      for (const value of misses) expect(found(id, `Here it is: ${value} (checked)`), value).toEqual([]);
    });
  }

  it('an IBAN followed by capital words ends at its country length', () => {
    expect(found('iban', 'Pay GB82 WEST 1234 5698 7654 32 TO BOB')).toEqual(['GB82 WEST 1234 5698 7654 32']);
    expect(found('iban', 'GB82 WEST 1234 5698 7654 32 DE89 3704 0044 0532 0130 00')).toEqual(['GB82 WEST 1234 5698 7654 32', 'DE89 3704 0044 0532 0130 00']);
  });
});
