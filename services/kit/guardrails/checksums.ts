/**
 * Check digits and number rules of the values the detectors report: a string
 * of digits that fails its checksum is a near miss, not a finding. Each check
 * takes the value with separators already removed.
 */

const digitsOf = (value: string): number[] => Array.from(value, Number);

/** Luhn (ISO/IEC 7812): payment cards. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = digits.length - 1, double = false; i >= 0; i--, double = !double) {
    let digit = digits.charCodeAt(i) - 48;
    if (double) digit = digit * 2 > 9 ? digit * 2 - 9 : digit * 2;
    sum += digit;
  }
  return sum % 10 === 0;
}

/** The issuer ranges (IIN prefixes) and lengths of the card schemes in wide use; a Luhn-valid number outside them is not a card. */
const CARD_SCHEMES: readonly { from: number; to: number; lengths: readonly number[] }[] = [
  { from: 4, to: 4, lengths: [13, 16, 19] }, // Visa
  { from: 51, to: 55, lengths: [16] }, // Mastercard
  { from: 2221, to: 2720, lengths: [16] }, // Mastercard 2-series
  { from: 34, to: 34, lengths: [15] }, // American Express
  { from: 37, to: 37, lengths: [15] },
  { from: 300, to: 305, lengths: [14, 16, 17, 18, 19] }, // Diners Club
  { from: 36, to: 36, lengths: [14, 16, 17, 18, 19] },
  { from: 38, to: 39, lengths: [16, 17, 18, 19] },
  { from: 3528, to: 3589, lengths: [16, 17, 18, 19] }, // JCB
  { from: 6011, to: 6011, lengths: [16, 17, 18, 19] }, // Discover
  { from: 644, to: 649, lengths: [16, 17, 18, 19] },
  { from: 65, to: 65, lengths: [16, 17, 18, 19] },
  { from: 62, to: 62, lengths: [16, 17, 18, 19] }, // UnionPay
  { from: 50, to: 50, lengths: [13, 14, 15, 16, 17, 18, 19] }, // Maestro
  { from: 56, to: 69, lengths: [13, 14, 15, 16, 17, 18, 19] },
];

/** A payment card number: a known scheme's prefix and length, and Luhn. */
export function cardValid(digits: string): boolean {
  const known = CARD_SCHEMES.some(({ from, to, lengths }) => {
    const prefix = Number(digits.slice(0, String(from).length));
    return prefix >= from && prefix <= to && lengths.includes(digits.length);
  });
  return known && luhnValid(digits);
}

/** IBAN lengths by country, from the SWIFT IBAN registry. */
const IBAN_LENGTHS = new Map(
  (
    'AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DJ27 DK18 DO28 EE20 EG29 ES24 FI18 FK18 FO18 ' +
    'FR27 GB22 GE22 GI23 GL18 GR27 GT28 HN28 HR21 HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 LY25 MC27 ' +
    'MD24 ME22 MK19 MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 PL28 PS29 PT25 QA29 RO24 RS22 RU33 SA24 SC31 SD18 SE24 SI19 SK24 SM27 ' +
    'SO23 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20 YE30'
  )
    .split(' ')
    .map((entry) => [entry.slice(0, 2), Number(entry.slice(2))] as const),
);

/** How long an IBAN of this country is, or undefined for a country without IBANs. */
export const ibanLength = (country: string): number | undefined => IBAN_LENGTHS.get(country);

/** ISO 13616: the country's length, and mod 97 of the rearranged number (letters as 10–35) is 1. */
export function ibanValid(iban: string): boolean {
  if (iban.length !== ibanLength(iban.slice(0, 2))) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const code = rearranged.charCodeAt(i);
    remainder = code >= 65 ? (remainder * 100 + code - 55) % 97 : (remainder * 10 + code - 48) % 97;
  }
  return remainder === 1;
}

/** The dihedral group D5's multiplication table and the position permutation of the Verhoeff scheme. */
const VERHOEFF_D = [
  '0123456789',
  '1234067895',
  '2340178956',
  '3401289567',
  '4012395678',
  '5987604321',
  '6598710432',
  '7659821043',
  '8765932104',
  '9876543210',
].map(digitsOf);
const VERHOEFF_P = ((first: number[]) => {
  const rows = [digitsOf('0123456789'), first];
  while (rows.length < 8) rows.push(rows.at(-1)!.map((n) => first[n]!));
  return rows;
})(digitsOf('1576283094'));

/** Verhoeff: Aadhaar's check digit, which catches every single-digit error and adjacent transposition. */
export function verhoeffValid(digits: string): boolean {
  let check = 0;
  for (let i = 0; i < digits.length; i++) {
    check = VERHOEFF_D[check]![VERHOEFF_P[i % 8]![digits.charCodeAt(digits.length - 1 - i) - 48]!]!;
  }
  return check === 0;
}

/** US Social Security number: areas 000, 666 and 900–999, group 00 and serial 0000 are never issued. */
export function ssnValid(digits: string): boolean {
  const area = Number(digits.slice(0, 3));
  return area !== 0 && area !== 666 && area < 900 && digits.slice(3, 5) !== '00' && digits.slice(5) !== '0000';
}

/** UK National Insurance number prefixes that are never allocated (the letter rules are in the pattern). */
const NINO_UNUSED_PREFIXES = new Set(['BG', 'GB', 'KN', 'NK', 'NT', 'TN', 'ZZ']);
export const ninoPrefixValid = (prefix: string): boolean => !NINO_UNUSED_PREFIXES.has(prefix.toUpperCase());

/** Brazilian CPF: two mod-11 check digits; numbers of one repeated digit pass the sum but are never issued. */
export function cpfValid(digits: string): boolean {
  if (/^(\d)\1*$/.test(digits)) return false;
  const values = digitsOf(digits);
  const check = (length: number) => {
    let sum = 0;
    for (let i = 0; i < length; i++) sum += values[i]! * (length + 1 - i);
    return ((sum * 10) % 11) % 10;
  };
  return check(9) === values[9] && check(10) === values[10];
}

/** French NIR (numéro de sécurité sociale): key = 97 − (first 13 digits mod 97), Corsica's 2A and 2B counted as 19 and 18. */
export function nirValid(nir: string): boolean {
  const number = Number(nir.slice(0, 13).replace('2A', '19').replace('2B', '18'));
  return 97 - (number % 97) === Number(nir.slice(13));
}

/**
 * German tax id (Steuerliche Identifikationsnummer): 11 digits, no leading 0;
 * in the first ten, one digit appears two or three times and the rest at most
 * once; the last is an ISO 7064 MOD 11,10 check digit.
 */
export function deTaxIdValid(digits: string): boolean {
  if (digits[0] === '0') return false;
  const counts = new Array<number>(10).fill(0);
  for (const digit of digits.slice(0, 10)) counts[Number(digit)]!++;
  const repeated = counts.filter((count) => count > 1);
  if (repeated.length !== 1 || repeated[0]! > 3) return false;
  let product = 10;
  for (const digit of digits.slice(0, 10)) {
    const sum = (Number(digit) + product) % 10 || 10;
    product = (sum * 2) % 11;
  }
  return (11 - product) % 10 === Number(digits[10]);
}
