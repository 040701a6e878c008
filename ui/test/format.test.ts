import { describe, expect, it } from 'vitest';
import {
  addDec,
  compact,
  compareDec,
  decimalsOf,
  divDec,
  fixed,
  floorToStep,
  fromScaled,
  groupThousands,
  isDecimal,
  mulDec,
  pctChange,
  subDec,
  toScaled,
  trimZeros,
} from '../src/format';

describe('format', () => {
  it('derives decimals from a step', () => {
    expect(decimalsOf('0.01')).toBe(2);
    expect(decimalsOf('0.0010')).toBe(3);
    expect(decimalsOf('1')).toBe(0);
    expect(decimalsOf('5')).toBe(0);
    expect(decimalsOf('1e-8')).toBe(8);
  });

  it('pads and rounds strings', () => {
    expect(fixed('30000', 2)).toBe('30000.00');
    expect(fixed('1.2345', 2)).toBe('1.23');
    expect(fixed('1.235', 2)).toBe('1.24');
    expect(fixed('-1.235', 2)).toBe('-1.24');
    expect(fixed('9.999', 2)).toBe('10.00');
    expect(fixed('-0.001', 2)).toBe('0.00');
    expect(fixed('12.5', 0)).toBe('13');
    expect(trimZeros('1.2500')).toBe('1.25');
    expect(trimZeros('3.000')).toBe('3');
  });

  it('scales to and from BigInt', () => {
    expect(toScaled('123.45', 2)).toBe(12345n);
    expect(toScaled('0.5', 3)).toBe(500n);
    expect(toScaled('-0.5', 1)).toBe(-5n);
    expect(fromScaled(12345n, 2)).toBe('123.45');
    expect(fromScaled(5n, 3)).toBe('0.005');
    expect(fromScaled(-5n, 3)).toBe('-0.005');
  });

  it('compares numerically', () => {
    expect(compareDec('10', '9.99')).toBe(1);
    expect(compareDec('1.0', '1.000')).toBe(0);
    expect(compareDec('-1', '0.5')).toBe(-1);
    expect(compareDec('-2', '-1')).toBe(-1);
    expect(compareDec('0.10', '0.09')).toBe(1);
  });

  it('does exact arithmetic', () => {
    expect(addDec('0.1', '0.2')).toBe('0.3');
    expect(subDec('30001.00', '30000.5')).toBe('0.50');
    expect(mulDec('30000.5', '0.001')).toBe('30.0005');
    expect(divDec('100', '3', 4)).toBe('33.3333');
    expect(divDec('1', '0', 2)).toBeNull();
    expect(floorToStep('1.23456', '0.001')).toBe('1.234');
    expect(floorToStep('17', '5')).toBe('15');
  });

  it('formats changes and sizes', () => {
    expect(pctChange('100', '101.5')).toBe('+1.50');
    expect(pctChange('200', '199')).toBe('-0.50');
    expect(pctChange('0', '1')).toBeNull();
    expect(pctChange('100', '100')).toBe('0.00');
    expect(groupThousands('1234567.891')).toBe('1,234,567.891');
    expect(compact('1234567.8')).toBe('1.23M');
    expect(compact('12.345')).toBe('12.35');
    expect(isDecimal('1.5')).toBe(true);
    expect(isDecimal('1.5x')).toBe(false);
  });
});
