import { isIPv6 } from 'node:net';
import { cardValid, cpfValid, deTaxIdValid, ibanLength, ibanValid, ninoPrefixValid, nirValid, ssnValid, verhoeffValid } from './checksums.js';
import { Specificity, anchoredDetector, regexDetector, whole, type Detector } from './scan.js';

/**
 * Personal data: contact details, payment and bank numbers, national
 * identifiers, IP addresses. Patterns are anchored by look-behind and
 * look-ahead so that no value is found inside a longer run of its own
 * characters, and every quantifier is bounded, so a pass is linear in the text.
 * What each pattern lets through and misses is in docs/guardrails.md.
 */

const digitsOnly = (text: string): string => text.replace(/\D/g, '');
/** Whether every separator between digit groups is the same character: "4242 4242-4242" is not one number. */
const oneSeparator = (text: string): boolean => new Set(text.replace(/[0-9A-Za-z]/g, '')).size <= 1;

/** A practical RFC 5322 subset: dot-atom local part of common characters, a domain of LDH labels and an alphabetic TLD. */
const email = anchoredDetector(
  'email',
  Specificity.validated,
  /@/g,
  /[\w.%+-]/,
  64,
  /(?<![\w.%+-])[\w.%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![\w-])/y,
  whole((match) => {
    const local = match.slice(0, match.indexOf('@'));
    return !local.startsWith('.') && !local.endsWith('.') && !local.includes('..');
  }),
);

/**
 * Phone numbers, three shapes: international (+ and 8–15 digits, E.164's
 * range), North American (area and exchange codes start 2–9, the last four
 * set off by a separator), and national with a trunk 0 then not 0 (9–11
 * digits). A bare run of 10 digits without a 0 is not taken: it is as often a
 * timestamp or an order number.
 */
const phone = regexDetector(
  'phone',
  Specificity.format,
  /(?<![\w+./-]|\d[ .-])(?:\+\d(?:[ .()-]{0,2}\d){7,14}|(?:\+?1[ .-]?)?(?:\([2-9]\d{2}\)|[2-9]\d{2})[ .-]?[2-9]\d{2}[ .-]\d{4}|\(?0[1-9]\d{0,3}\)?(?:[ .-]?\d{2,4}){2,4})(?![\w/-]|[ .,-]?\d)/g,
  whole((match) => {
    const digits = digitsOnly(match).length;
    return balancedParentheses(match) && (match.startsWith('+') ? digits >= 8 : digits >= 9 && digits <= 11);
  }),
);
const balancedParentheses = (text: string): boolean => text.split('(').length === text.split(')').length;

/** 13–19 digits in groups, one kind of separator, a known scheme's prefix and length, and Luhn. */
const paymentCard = regexDetector(
  'payment_card',
  Specificity.validated,
  /(?<![\w.-]|\d[ -])\d(?:[ -]?\d){12,18}(?![\w-]|[ -]\d)/g,
  whole((match) => oneSeparator(match) && cardValid(digitsOnly(match))),
);

/** Country, check digits, then the country's length of letters and digits (spaces allowed between); mod 97. */
const iban = regexDetector('iban', Specificity.validated, /(?<![\w-])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![\w-])/g, (match) => {
  // The match may run on into the next words ("… 7654 32 TO"): keep the country's length of characters.
  const length = ibanLength(match.slice(0, 2));
  if (length === undefined) return 0;
  let end = 0;
  for (let counted = 0; counted < length && end < match.length; end++) if (match[end] !== ' ') counted++;
  if (end < match.length && match[end] !== ' ') return 0;
  const compact = match.slice(0, end).replace(/ /g, '');
  const spaced = match.slice(0, end).includes(' ');
  // Printed IBANs are grouped by four; either all grouped, or none.
  if (spaced && !/^(?:\S{4} )+\S{1,4}$/.test(match.slice(0, end))) return 0;
  return compact.length === length && ibanValid(compact) ? end : 0;
});

/** Separated by dashes or spaces (a bare 9 digits is anything); never-issued areas, groups and serials refused. */
const usSsn = regexDetector(
  'us_ssn',
  Specificity.validated,
  /(?<![\w.-]|\d[ -])\d{3}([ -])\d{2}\1\d{4}(?![\w-]|[ -]\d)/g,
  whole((match) => ssnValid(digitsOnly(match))),
);

/** Two prefix letters (D, F, I, Q, U, V never; O never second), six digits, a suffix A–D; seven prefixes never allocated. */
const ukNino = regexDetector(
  'uk_nino',
  Specificity.validated,
  /(?<![\w-])[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2}( ?)\d{2}\1\d{2}\1[A-D](?![\w-])/gi,
  whole((match) => ninoPrefixValid(match.slice(0, 2))),
);

/** Steuer-ID: 11 digits, bare or as printed (2-3-3-3), with its digit rule and ISO 7064 check digit. */
const deTaxId = regexDetector(
  'de_tax_id',
  Specificity.validated,
  /(?<![\w.-]|\d[ /-])[1-9]\d( ?)\d{3}\1\d{3}\1\d{3}(?![\w-]|[ /-]\d)/g,
  whole((match) => deTaxIdValid(digitsOnly(match))),
);

/** NIR: sex, year, month, department (2A/2B in Corsica), commune, order, then its mod-97 key. */
const frNir = regexDetector(
  'fr_nir',
  Specificity.validated,
  /(?<![\w.-]|\d )[12]( ?)\d{2}\1(?:0[1-9]|1[0-2]|[2-9]\d)\1(?:\d{2}|2[AB])\1\d{3}\1\d{3}\1?\d{2}(?![\w-]|[ -]\d)/g,
  whole((match) => nirValid(match.replace(/ /g, ''))),
);

/** Aadhaar: 12 digits, first 2–9, grouped 4-4-4 or bare, Verhoeff check digit. */
const inAadhaar = regexDetector(
  'in_aadhaar',
  Specificity.validated,
  /(?<![\w.-]|\d[ -])[2-9]\d{3}([ -]?)\d{4}\1\d{4}(?![\w-]|[ -]\d)/g,
  whole((match) => verhoeffValid(digitsOnly(match))),
);

/** CPF: 000.000.000-00 or 11 bare digits, with both mod-11 check digits. */
const brCpf = regexDetector(
  'br_cpf',
  Specificity.validated,
  /(?<![\w.-]|\d[ .-])\d{3}(\.?)\d{3}\1\d{3}-?\d{2}(?![\w-]|[.-]\d)/g,
  whole((match) => cpfValid(digitsOnly(match))),
);

/** Dotted quads of octets 0–255 without leading zeros; "v1.2.3.4" is a version, "1.2.3.4" is taken as an address. */
const ipv4 = regexDetector(
  'ipv4',
  Specificity.validated,
  /(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)/g,
  whole((match) => match.split('.').every((octet) => Number(octet) <= 255 && (octet.length === 1 || octet[0] !== '0'))),
);

/**
 * IPv6 in any of its forms (compressed, with an IPv4 tail), as node:net reads
 * them; at least three groups, so "::1", "fe80::1" and slices such as "a[1::2]" are not taken.
 */
const ipv6 = anchoredDetector(
  'ipv6',
  Specificity.validated,
  /:[0-9A-Fa-f]{0,4}:/g,
  /[0-9A-Fa-f]/,
  4,
  /(?<![\w:.])[0-9A-Fa-f:]{2,39}(?:\.\d{1,3}){0,3}(?![\w:]|\.\w)/y,
  whole((match) => isIPv6(match) && (match.includes('.') || match.split(':').filter(Boolean).length >= 3)),
);

/** Every personal-data detector, in the order the docs list them. */
export const PERSONAL_DATA_DETECTORS: readonly Detector[] = [email, phone, paymentCard, iban, usSsn, ukNino, deTaxId, frNir, inAadhaar, brCpf, ipv4, ipv6];
