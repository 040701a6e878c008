// Order book state built from the `depth` channel: snapshot, then updates
// checked by sequence number and CRC-32 checksum. No DOM in here.

import { crc32 } from './checksum';
import { compareDec, fixed, fracLen, fromScaled, isZero, toScaled } from './format';
import type { DepthSnapshot, DepthUpdate, Level } from './types';

export type { Level };

export type ApplyResult =
  | { ok: true }
  | { ok: false; reason: 'gap' | 'checksum' | 'no-snapshot'; expected?: string; got?: string };

/** Number of levels per side that the checksum covers. */
export const CHECKSUM_DEPTH = 10;

/**
 * The string the checksum is taken over: the top `depth` asks low to high, then
 * the top `depth` bids high to low, each level as `price:qty`, all joined by `:`.
 */
export function checksumInput(asks: readonly Level[], bids: readonly Level[], depth = CHECKSUM_DEPTH): string {
  const out: string[] = [];
  for (const [p, q] of asks.slice(0, depth)) out.push(p, q);
  for (const [p, q] of bids.slice(0, depth)) out.push(p, q);
  return out.join(':');
}

export function bookChecksum(asks: readonly Level[], bids: readonly Level[], depth = CHECKSUM_DEPTH): number {
  return crc32(checksumInput(asks, bids, depth));
}

/** Binary search in a side kept sorted by `dir` (1 ascending, -1 descending). */
function locate(side: Level[], price: string, dir: 1 | -1): { index: number; found: boolean } {
  let lo = 0;
  let hi = side.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareDec(side[mid]![0], price) * dir;
    if (c === 0) return { index: mid, found: true };
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return { index: lo, found: false };
}

function applyLevel(side: Level[], level: Level, dir: 1 | -1): void {
  const [price, qty] = level;
  const { index, found } = locate(side, price, dir);
  if (isZero(qty)) {
    if (found) side.splice(index, 1);
  } else if (found) {
    side[index] = [price, qty];
  } else {
    side.splice(index, 0, [price, qty]);
  }
}

function sortedSide(levels: readonly Level[], dir: 1 | -1): Level[] {
  const side: Level[] = [];
  for (const level of levels) applyLevel(side, level, dir);
  return side;
}

export class DepthBook {
  /** High to low. */
  bids: Level[] = [];
  /** Low to high. */
  asks: Level[] = [];
  seq: string | null = null;

  get ready(): boolean {
    return this.seq !== null;
  }

  /** Forget everything; updates are ignored until the next snapshot. */
  reset(): void {
    this.bids = [];
    this.asks = [];
    this.seq = null;
  }

  applySnapshot(msg: DepthSnapshot): ApplyResult {
    this.bids = sortedSide(msg.bids, -1);
    this.asks = sortedSide(msg.asks, 1);
    this.seq = String(msg.seq);
    return this.verify(msg.checksum);
  }

  applyUpdate(msg: DepthUpdate): ApplyResult {
    if (this.seq === null) return { ok: false, reason: 'no-snapshot' };
    if (String(msg.prev_seq) !== this.seq) {
      const expected = this.seq;
      this.reset();
      return { ok: false, reason: 'gap', expected, got: String(msg.prev_seq) };
    }
    for (const level of msg.asks) applyLevel(this.asks, level, 1);
    for (const level of msg.bids) applyLevel(this.bids, level, -1);
    this.seq = String(msg.seq);
    return this.verify(msg.checksum);
  }

  /** Keeps the book if its checksum is the one sent, else drops it. */
  private verify(sent: number): ApplyResult {
    const sum = this.checksum();
    if (sent >>> 0 === sum) return { ok: true };
    this.reset();
    return { ok: false, reason: 'checksum', expected: String(sent), got: String(sum) };
  }

  checksum(): number {
    return bookChecksum(this.asks, this.bids);
  }

  bestBid(): Level | undefined {
    return this.bids[0];
  }

  bestAsk(): Level | undefined {
    return this.asks[0];
  }

  /** Best ask minus best bid, in the wider of the two precisions; null if a side is empty. */
  spread(): string | null {
    const a = this.asks[0];
    const b = this.bids[0];
    if (!a || !b) return null;
    const d = Math.max(fracLen(a[0]), fracLen(b[0]));
    return fromScaled(toScaled(a[0], d) - toScaled(b[0], d), d);
  }
}

export interface CumLevel {
  price: string;
  qty: string;
  /** Running total from the best price outward, as a decimal string. */
  cum: string;
  /** The same running total in units of 10^-scale. */
  cumScaled: bigint;
}

/** Smallest scale that holds every quantity of the given sides exactly. */
export function qtyScale(sides: readonly (readonly Level[])[], decimals: number, limit = Infinity): number {
  let scale = decimals;
  for (const side of sides) {
    const n = Math.min(side.length, limit);
    for (let i = 0; i < n; i++) scale = Math.max(scale, fracLen(side[i]![1]));
  }
  return scale;
}

/**
 * Running totals of a side, best price first, exact (BigInt on scaled integers).
 * `decimals` is the display precision of quantities (from the market's lot);
 * `cumScaled` is in units of 10^-scale so that two sides given the same scale compare.
 */
export function cumulative(
  levels: readonly Level[],
  decimals: number,
  limit = levels.length,
  scale = qtyScale([levels], decimals, limit),
): CumLevel[] {
  let run = 0n;
  return levels.slice(0, limit).map(([price, qty]) => {
    run += toScaled(qty, scale);
    return { price, qty, cum: fixed(fromScaled(run, scale), decimals), cumScaled: run };
  });
}
