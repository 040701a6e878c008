import { describe, expect, it } from 'vitest';
import { Listeners } from '../src/listeners';
import { isServerMessage } from '../src/ws';

describe('isServerMessage', () => {
  it('takes the pushes and replies the feed sends', () => {
    const trade = {
      channel: 'trades',
      market: 'BTC-USDT',
      trade_id: '1',
      price: '1.00',
      qty: '1',
      taker_side: 'buy',
      time: 1,
    };
    expect(isServerMessage(trade)).toBe(true);
    expect(isServerMessage({ channel: 'balances', asset: 'BTC', free: '1', locked: '0' })).toBe(true);
    expect(isServerMessage({ op: 'subscribed', channel: 'depth', market: 'BTC-USDT' })).toBe(true);
    expect(isServerMessage({ op: 'error', message: 'unknown market' })).toBe(true);
    expect(isServerMessage({ op: 'pong' })).toBe(true);
  });

  it('refuses anything else', () => {
    for (const value of [null, 'x', 1, [], [{ channel: 'trades' }], {}, { channel: 'news' }, { op: 'hello' }]) {
      expect(isServerMessage(value)).toBe(false);
    }
    // an ack names a channel, but an unknown op is not taken for a push
    expect(isServerMessage({ op: 'subscribe', channel: 'trades' })).toBe(false);
    expect(isServerMessage({ channel: 'toString' })).toBe(false);
  });
});

describe('Listeners', () => {
  it('calls the listeners of one key with its value, until removed', () => {
    const listeners = new Listeners<{ a: number; b: string }>();
    const got: unknown[] = [];
    const off = listeners.add('a', (n) => got.push(n + 1));
    listeners.add('b', (text) => got.push(text.length));
    listeners.emit('a', 1);
    listeners.emit('b', 'four');
    off();
    listeners.emit('a', 5);
    expect(got).toEqual([2, 4]);
  });

  it('hands a failure to onError and still calls the others', () => {
    const errors: unknown[] = [];
    const listeners = new Listeners<{ a: number }>((e) => errors.push(e));
    let called = false;
    listeners.add('a', () => {
      throw new Error('boom');
    });
    listeners.add('a', () => {
      called = true;
    });
    listeners.emit('a', 1);
    expect(called).toBe(true);
    expect(errors).toHaveLength(1);
  });
});
