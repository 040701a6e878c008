import { describe, expect, it } from 'vitest';
import {
  FORM_TYPES,
  fieldsFor,
  isConditional,
  isLimitTwin,
  localDateTimeMs,
  toLocalDateTime,
  triggersOnRise,
  triggerText,
} from '../src/orderKinds';

describe('order kinds', () => {
  it('offers the five form types', () => {
    expect([...FORM_TYPES]).toEqual(['limit', 'market', 'stop_limit', 'stop_market', 'take_profit_limit']);
  });

  it('asks each type for the inputs the API needs', () => {
    expect(fieldsFor('limit', 'buy')).toEqual(['price', 'qty']);
    expect(fieldsFor('market', 'buy')).toEqual(['quote_qty']);
    expect(fieldsFor('market', 'sell')).toEqual(['qty']);
    expect(fieldsFor('stop_limit', 'sell')).toEqual(['stop_price', 'price', 'qty']);
    expect(fieldsFor('stop_market', 'buy')).toEqual(['stop_price', 'quote_qty']);
    expect(fieldsFor('stop_market', 'sell')).toEqual(['stop_price', 'qty']);
    expect(fieldsFor('take_profit_limit', 'buy')).toEqual(['stop_price', 'price', 'qty']);
  });

  it('tells conditional types and limit twins apart', () => {
    expect(isConditional('limit') || isConditional('market')).toBe(false);
    expect(isConditional('take_profit_market')).toBe(true);
    expect(isLimitTwin('take_profit_limit') && isLimitTwin('stop_limit')).toBe(true);
    expect(isLimitTwin('stop_market')).toBe(false);
  });

  it('reads the trigger the way the contract states it', () => {
    expect(triggersOnRise('stop_limit', 'buy')).toBe(true);
    expect(triggersOnRise('stop_market', 'sell')).toBe(false);
    expect(triggersOnRise('take_profit_limit', 'buy')).toBe(false);
    expect(triggersOnRise('take_profit_market', 'sell')).toBe(true);
    expect(triggerText({ type: 'stop_limit', side: 'buy', stop_price: '31000.00' })).toBe('last ≥ 31000.00');
    expect(triggerText({ type: 'take_profit_limit', side: 'buy', stop_price: '29000.00' })).toBe('last ≤ 29000.00');
    expect(triggerText({ type: 'limit', side: 'buy', stop_price: null })).toBe('');
  });

  it('turns a datetime-local value into milliseconds and back', () => {
    const ms = localDateTimeMs('2031-02-03T04:05');
    expect(ms).toBe(new Date(2031, 1, 3, 4, 5).getTime());
    expect(toLocalDateTime(ms ?? 0)).toBe('2031-02-03T04:05');
    expect(localDateTimeMs('')).toBeNull();
    expect(localDateTimeMs('tomorrow')).toBeNull();
  });
});
