import { describe, expect, it } from 'vitest';
import { bookChecksum, checksumInput, cumulative, DepthBook, type Level, qtyScale } from '../src/book';
import type { DepthSnapshot, DepthUpdate } from '../src/types';

const snapshot: DepthSnapshot = {
  channel: 'depth',
  type: 'snapshot',
  market: 'BTC-USDT',
  seq: 10,
  asks: [
    ['30002.50', '1.250'],
    ['30001.00', '0.500'],
    ['30003.00', '2.000'],
  ],
  bids: [
    ['29999.50', '0.100'],
    ['30000.00', '0.750'],
  ],
  checksum: 1374908204,
};

/** An update after `prev_seq`; its checksum is only right where a test gives it. */
function update(prev_seq: number, fields: Partial<DepthUpdate> = {}): DepthUpdate {
  return {
    channel: 'depth',
    type: 'update',
    market: 'BTC-USDT',
    seq: prev_seq + 1,
    prev_seq,
    asks: [],
    bids: [],
    checksum: 0,
    ...fields,
  };
}

describe('DepthBook', () => {
  it('sorts a snapshot and verifies its checksum', () => {
    const b = new DepthBook();
    expect(b.applySnapshot(snapshot)).toEqual({ ok: true });
    expect(b.asks.map((l) => l[0])).toEqual(['30001.00', '30002.50', '30003.00']);
    expect(b.bids.map((l) => l[0])).toEqual(['30000.00', '29999.50']);
    expect(b.spread()).toBe('1.00');
  });

  it('applies an update, removing "0" levels, and checks seq and checksum', () => {
    const b = new DepthBook();
    b.applySnapshot(snapshot);
    const r = b.applyUpdate(
      update(10, {
        asks: [['30001.00', '0']],
        bids: [
          ['30000.50', '1.000'],
          ['30000.00', '0.250'],
        ],
        checksum: 2941193259,
      }),
    );
    expect(r).toEqual({ ok: true });
    expect(b.asks).toEqual([
      ['30002.50', '1.250'],
      ['30003.00', '2.000'],
    ]);
    expect(b.bids).toEqual([
      ['30000.50', '1.000'],
      ['30000.00', '0.250'],
      ['29999.50', '0.100'],
    ]);
    expect(b.seq).toBe('11');
  });

  it('reports a sequence gap and drops its state', () => {
    const b = new DepthBook();
    b.applySnapshot(snapshot);
    const r = b.applyUpdate(update(12));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toBe('gap');
    expect(b.ready).toBe(false);
    expect(b.applyUpdate(update(13))).toEqual({
      ok: false,
      reason: 'no-snapshot',
    });
  });

  it('reports a checksum mismatch', () => {
    const b = new DepthBook();
    b.applySnapshot(snapshot);
    const r = b.applyUpdate(update(10, { bids: [['30000.00', '0.700']], checksum: 2941193259 }));
    expect(!r.ok && r.reason).toBe('checksum');
    expect(b.ready).toBe(false);
  });

  it('refuses a snapshot whose checksum is wrong', () => {
    const b = new DepthBook();
    expect(b.applySnapshot({ ...snapshot, checksum: 1 }).ok).toBe(false);
  });

  it('uses the exact strings sent, so "1.0" and "1.00" differ in the checksum', () => {
    const a: Level[] = [['100.0', '1']];
    const b: Level[] = [['100.00', '1']];
    expect(bookChecksum(a, [])).not.toBe(bookChecksum(b, []));
  });
});

describe('checksumInput', () => {
  it('takes the top 10 asks low to high then the top 10 bids high to low', () => {
    const asks: Level[] = Array.from({ length: 12 }, (_, i) => [`${100 + i}.00`, '1.0']);
    const bids: Level[] = Array.from({ length: 12 }, (_, i) => [`${99 - i}.00`, '2.0']);
    const s = checksumInput(asks, bids);
    expect(s.startsWith('100.00:1.0:101.00:1.0')).toBe(true);
    expect(s.endsWith('91.00:2.0:90.00:2.0')).toBe(true);
    expect(s.includes('110.00')).toBe(false);
    expect(bookChecksum(asks, bids)).toBe(1981253281);
  });
});

describe('cumulative', () => {
  it('sums exactly with BigInt', () => {
    const levels: Level[] = [
      ['1', '0.1'],
      ['2', '0.2'],
      ['3', '0.0005'],
    ];
    const scale = qtyScale([levels], 3);
    expect(scale).toBe(4);
    const c = cumulative(levels, 3);
    expect(c.map((l) => l.cum)).toEqual(['0.100', '0.300', '0.301']);
    expect(c[2]!.cumScaled).toBe(3005n);
  });
});
