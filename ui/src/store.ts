// Page-wide state shared by the panels, with typed change events.

import { decimalsOf } from './format';
import { Listeners } from './listeners';
import type { Balance, Info, Market, Ticker } from './types';

export interface MarketInfo extends Market {
  /** Decimals of prices, from `tick`. */
  priceDecimals: number;
  /** Decimals of quantities, from `lot`. */
  qtyDecimals: number;
}

export function withPrecision(m: Market): MarketInfo {
  return { ...m, priceDecimals: decimalsOf(m.tick), qtyDecimals: decimalsOf(m.lot) };
}

interface Events {
  market: MarketInfo;
  markets: MarketInfo[];
  ticker: Ticker;
  balances: Map<string, Balance>;
  lastPrice: { market: string; price: string };
}

class Store {
  info: Info | null = null;
  markets: MarketInfo[] = [];
  current: MarketInfo | null = null;
  tickers = new Map<string, Ticker>();
  balances = new Map<string, Balance>();
  private readonly listeners = new Listeners<Events>();

  on<K extends keyof Events>(event: K, l: (v: Events[K]) => void): void {
    this.listeners.add(event, l);
  }

  emit<K extends keyof Events>(event: K, v: Events[K]): void {
    this.listeners.emit(event, v);
  }

  market(name: string): MarketInfo | undefined {
    return this.markets.find((m) => m.market === name);
  }

  setMarkets(list: MarketInfo[]): void {
    this.markets = list;
    this.emit('markets', list);
  }

  setTicker(t: Ticker): void {
    this.tickers.set(t.market, t);
    this.emit('ticker', t);
  }

  setBalances(list: Balance[]): void {
    this.balances = new Map(list.map((b) => [b.asset, b]));
    this.emit('balances', this.balances);
  }

  upsertBalance(b: Balance): void {
    this.balances.set(b.asset, b);
    this.emit('balances', this.balances);
  }

  /** Every asset named by a market or held, sorted. */
  assets(): string[] {
    const set = new Set<string>();
    for (const m of this.markets) {
      set.add(m.base);
      set.add(m.quote);
    }
    for (const a of this.balances.keys()) set.add(a);
    return [...set].sort();
  }
}

export const store = new Store();
