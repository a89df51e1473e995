import { Specificity, regexDetector, whole, type Detector } from './scan.js';

/**
 * Credentials: the published formats of the major providers' and clouds' keys,
 * private keys, JWTs, and, last, any run of token characters random enough to
 * be a key of a format not listed. Each key pattern is bounded by characters
 * that cannot continue a token, so a key is not found inside a longer word.
 */

/** A key format: its prefix pattern and body, found only where it stands alone. */
const keyFormat = (id: string, body: string): Detector =>
  regexDetector(`secret.${id}`, Specificity.secret, new RegExp(`(?<![\\w-])(?:${body})(?![\\w-])`, 'g'));

/** OpenAI: project, service-account and admin keys (sk-proj-…), and the older sk- with letters and digits only, which "sk-learn-…" is not. */
const openaiKey = keyFormat('openai_key', 'sk-(?:proj|svcacct|admin)-[\\w-]{32,250}|sk-[A-Za-z0-9]{32,250}');
/** Anthropic: sk-ant-<kind><version>-…, as in sk-ant-api03-… and sk-ant-admin01-…. */
const anthropicKey = keyFormat('anthropic_key', 'sk-ant-[a-z]{2,10}\\d{2}-[\\w-]{32,250}');
/** AWS access key ids: long-term (AKIA) and temporary (ASIA); the secret key beside one is left to the entropy detector. */
const awsAccessKey = keyFormat('aws_access_key', '(?:AKIA|ASIA)[A-Z0-9]{16}');
/** GitHub: classic and app tokens (ghp_, gho_, ghu_, ghs_, ghr_), fine-grained tokens (github_pat_). */
const githubToken = keyFormat('github_token', 'gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_\\w{22,244}');
/** Slack: bot, user, app, refresh, session and rotating tokens. */
const slackToken = keyFormat('slack_token', 'xox[abeoprs]-[A-Za-z0-9-]{10,250}');
/** Google API keys (Maps, Gemini, Firebase…): AIza and 35 more characters. */
const googleApiKey = keyFormat('google_api_key', 'AIza[\\w-]{35}');
/** Stripe secret and restricted keys, live and test; publishable keys (pk_) are public by design. */
const stripeKey = keyFormat('stripe_key', '(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}');

/**
 * PEM and OpenSSH private keys, header to footer. The body stops at the next
 * "-----", so a run of headers without footers costs one pass; a key whose
 * footer was cut off is still reported, to where its characters end.
 * Backslashes are body characters so that a key inside a JSON string ("\n") is whole.
 */
const privateKey = regexDetector(
  'secret.private_key',
  Specificity.secret,
  /-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=\s:,\\]|-(?!----)){32,8192}(?:-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----)?/g,
);

/** A JWT (JWS compact form): base64url header and payload, both JSON objects ("ey…"), then a signature, empty when unsigned; the header must decode and name its "alg". */
const jwt = regexDetector(
  'secret.jwt',
  Specificity.secret,
  /(?<![\w-])ey[\w-]{8,2048}\.ey[\w-]{8,8192}\.[\w-]{0,1024}(?![\w-])/g,
  whole((match) => {
    try {
      const header: unknown = JSON.parse(Buffer.from(match.slice(0, match.indexOf('.')), 'base64url').toString('utf8'));
      return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string';
    } catch {
      return false;
    }
  }),
);

/**
 * Bits per character a run must reach to be taken for random: the least that
 * random base64 of its length shows (4.0 at 32 characters, rising to 4.5 by
 * 57, beyond which random runs show 4.7 and more). Identifiers and prose stay
 * under it but for long camel-case names, which the class test below stops.
 */
const entropyThreshold = (length: number): number => Math.min(4 + (length - 32) / 50, 4.5);

/** Shannon entropy of the characters of a string, in bits per character. */
export function shannonEntropy(text: string): number {
  const counts = new Map<string, number>();
  for (const char of text) counts.set(char, (counts.get(char) ?? 0) + 1);
  let bits = 0;
  for (const count of counts.values()) {
    const p = count / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

const classOf = (code: number): number => (code >= 97 && code <= 122 ? 0 : code >= 65 && code <= 90 ? 1 : code >= 48 && code <= 57 ? 2 : -1);

/**
 * How often neighbouring letters and digits differ in class (lower, upper,
 * digit), punctuation skipped: about 0.62 in random base64, about 0.2 in
 * camel-case and snake-case names ("Uint8ArrayBlobAdapterConstructor",
 * "_grpc_channelz_v1_SocketRef__Output"), whose entropy reaches that of random text.
 */
export function classChangeRate(text: string): number {
  let changes = 0;
  let pairs = 0;
  let previous = -1;
  for (let i = 0; i < text.length; i++) {
    const current = classOf(text.charCodeAt(i));
    if (current < 0) continue;
    if (previous >= 0) {
      pairs++;
      if (current !== previous) changes++;
    }
    previous = current;
  }
  return changes / pairs;
}
const MIN_CLASS_CHANGE_RATE = 0.35;

/**
 * A run of 32–1024 base64 or base64url characters with upper and lower case
 * letters and digits, random by its entropy and by how its character classes
 * alternate. Hex alone (hashes, commit ids, UUIDs) is not taken: it is
 * everywhere in technical prompts and rarely a credential. A run after a dot
 * is the path of a URL or a file name. Longer runs are data (images, files), not keys.
 */
const highEntropy = regexDetector(
  'secret.high_entropy',
  Specificity.entropy,
  /(?<![\w+/.-])[\w+/-]{32,1024}={0,2}(?![\w+/=-])/g,
  whole(
    (match) =>
      /[a-z]/.test(match) &&
      /[A-Z]/.test(match) &&
      /\d/.test(match) &&
      !/^[0-9A-Fa-f-]+$/.test(match) &&
      classChangeRate(match) >= MIN_CLASS_CHANGE_RATE &&
      shannonEntropy(match) >= entropyThreshold(match.length),
  ),
);

/** Every secret detector, the specific formats before the generic one. */
export const SECRET_DETECTORS: readonly Detector[] = [
  openaiKey,
  anthropicKey,
  awsAccessKey,
  githubToken,
  slackToken,
  googleApiKey,
  stripeKey,
  privateKey,
  jwt,
  highEntropy,
];
