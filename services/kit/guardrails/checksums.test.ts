import { describe, expect, it } from 'vitest';
import { cardValid, cpfValid, deTaxIdValid, ibanValid, luhnValid, ninoPrefixValid, nirValid, ssnValid, verhoeffValid } from './checksums.js';

describe('checksums', () => {
  it('Luhn and card schemes: Stripe test cards pass, one changed digit or an unknown prefix does not', () => {
    const stripe = [
      '4242424242424242',
      '4000056655665556',
      '5555555555554444',
      '2223003122003222',
      '5200828282828210',
      '378282246310005',
      '371449635398431',
      '6011111111111117',
      '6011000990139424',
      '3056930009020004',
      '36227206271667',
      '3566002020360505',
      '6200000000000005',
    ];
    for (const number of stripe) expect(cardValid(number), number).toBe(true);
    expect(luhnValid('4242424242424241')).toBe(false);
    expect(cardValid('4242424242424241')).toBe(false);
    // Luhn-valid, but no scheme issues numbers starting 9 or 1.
    expect(luhnValid('9242424242424241')).toBe(true);
    expect(cardValid('9242424242424241')).toBe(false);
    expect(luhnValid('1234567812345670')).toBe(true);
    expect(cardValid('1234567812345670')).toBe(false);
    // Amex is 15 digits: a 16-digit 37… is not one, Luhn or not.
    expect(luhnValid('3782822463100003')).toBe(true);
    expect(cardValid('3782822463100003')).toBe(false);
  });

  it('IBAN: the registry examples pass; a changed check digit, digit or length does not', () => {
    for (const iban of [
      'GB82WEST12345698765432',
      'DE89370400440532013000',
      'FR1420041010050500013M02606',
      'NL91ABNA0417164300',
      'NO9386011117947',
      'CH9300762011623852957',
    ]) {
      expect(ibanValid(iban), iban).toBe(true);
    }
    expect(ibanValid('GB83WEST12345698765432')).toBe(false);
    expect(ibanValid('GB82WEST12345698765433')).toBe(false);
    expect(ibanValid('GB82WEST1234569876543')).toBe(false);
    expect(ibanValid('US82WEST12345698765432')).toBe(false);
  });

  it('Verhoeff: the textbook 236 → 2363 and Aadhaar-shaped numbers; a single changed digit or a swap fails', () => {
    expect(verhoeffValid('2363')).toBe(true);
    expect(verhoeffValid('234123412346')).toBe(true);
    expect(verhoeffValid('499118665246')).toBe(true);
    expect(verhoeffValid('2364')).toBe(false);
    expect(verhoeffValid('234123412347')).toBe(false);
    expect(verhoeffValid('324123412346')).toBe(false);
  });

  it('SSN: areas 000, 666 and 9xx, group 00 and serial 0000 are refused', () => {
    expect(ssnValid('123456789')).toBe(true);
    expect(ssnValid('078051120')).toBe(true);
    for (const ssn of ['000123456', '666123456', '900123456', '987654320', '123006789', '123450000']) expect(ssnValid(ssn), ssn).toBe(false);
  });

  it('NINO: the unallocated prefixes are refused', () => {
    expect(ninoPrefixValid('AB')).toBe(true);
    for (const prefix of ['BG', 'GB', 'KN', 'NK', 'NT', 'TN', 'ZZ', 'gb']) expect(ninoPrefixValid(prefix), prefix).toBe(false);
  });

  it('CPF: both check digits; repeated digits refused', () => {
    expect(cpfValid('52998224725')).toBe(true);
    expect(cpfValid('11144477735')).toBe(true);
    expect(cpfValid('52998224726')).toBe(false);
    expect(cpfValid('52998224715')).toBe(false);
    expect(cpfValid('11111111111')).toBe(false);
  });

  it('NIR: key = 97 − n mod 97, Corsica counted as 19 and 18', () => {
    expect(nirValid('184127645108946')).toBe(true);
    expect(nirValid('269054958815780')).toBe(true);
    expect(nirValid('184127645108947')).toBe(false);
    // 2A → 19: the key of 1 84 12 2A 451 089 is 97 − (1841219451089 mod 97).
    const corsica = 97 - (1841219451089 % 97);
    expect(nirValid(`184122A451089${String(corsica).padStart(2, '0')}`)).toBe(true);
    expect(nirValid(`184122B451089${String(corsica).padStart(2, '0')}`)).toBe(false);
  });

  it('German tax id: digit rule and ISO 7064 MOD 11,10', () => {
    for (const id of ['86095742719', '47036892816', '65929970489', '26954371827']) expect(deTaxIdValid(id), id).toBe(true);
    expect(deTaxIdValid('86095742718')).toBe(false);
    // No digit repeated among the first ten, or one four times, or a leading 0.
    expect(deTaxIdValid('12345678903')).toBe(false);
    expect(deTaxIdValid('11112345678')).toBe(false);
    expect(deTaxIdValid('06095742719')).toBe(false);
  });
});
