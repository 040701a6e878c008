import { describe, expect, it } from 'vitest';
import { crc32 } from '../src/checksum';

describe('crc32', () => {
  it('matches the standard check value', () => {
    expect(crc32('123456789')).toBe(0xcbf43926);
  });
  it('is zero for empty input and always unsigned', () => {
    expect(crc32('')).toBe(0);
    expect(crc32('30001.00:0.500:30002.50:1.250:30000.00:2.000:29999.5:0.1')).toBe(1028058390);
  });
});
