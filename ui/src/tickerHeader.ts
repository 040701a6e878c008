// Top bar: the selected market's last price, 24 h change, high, low, volume.

import { h, setText, trendClass } from './dom';
import { compact, compareDec, fixed, isZero, pctChange, priceOrDash, subDec } from './format';
import { type MarketInfo, store } from './store';
import type { Ticker } from './types';

export class TickerHeader {
  private readonly name = h('div', { class: 'ticker-market', 'data-testid': 'ticker-market' }, '—');
  private readonly last = h('div', { class: 'ticker-last', 'data-testid': 'ticker-last' }, '—');
  private readonly change = h('span', { 'data-testid': 'ticker-change' }, '—');
  private readonly high = h('span', { 'data-testid': 'ticker-high' }, '—');
  private readonly low = h('span', { 'data-testid': 'ticker-low' }, '—');
  private readonly volume = h('span', { 'data-testid': 'ticker-volume' }, '—');
  private readonly quoteVolume = h('span', { 'data-testid': 'ticker-quote-volume' }, '—');
  private readonly volLabel = h('label', {}, 'Vol');
  private readonly qvolLabel = h('label', {}, 'Vol');
  private previous: string | null = null;

  constructor(root: HTMLElement) {
    const stat = (label: HTMLElement | string, value: HTMLElement) =>
      h('div', { class: 'stat' }, typeof label === 'string' ? h('label', {}, label) : label, value);
    root.append(
      this.name,
      this.last,
      stat('24h change', this.change),
      stat('24h high', this.high),
      stat('24h low', this.low),
      stat(this.volLabel, this.volume),
      stat(this.qvolLabel, this.quoteVolume),
    );
    store.on('market', (m) => this.setMarket(m));
    store.on('ticker', (t) => {
      if (t.market === store.current?.market) this.render(store.current, t);
    });
    store.on('lastPrice', ({ market, price }) => {
      if (market === store.current?.market) this.showLast(store.current, price);
    });
  }

  private setMarket(m: MarketInfo): void {
    this.previous = null;
    setText(this.name, `${m.base}/${m.quote}`);
    setText(this.volLabel, `24h vol (${m.base})`);
    setText(this.qvolLabel, `24h vol (${m.quote})`);
    const t = store.tickers.get(m.market);
    if (t) this.render(m, t);
    else {
      for (const el of [this.last, this.change, this.high, this.low, this.volume, this.quoteVolume]) setText(el, '—');
      this.last.className = 'ticker-last';
      this.change.className = '';
    }
  }

  private showLast(m: MarketInfo, price: string): void {
    if (!price || isZero(price)) {
      setText(this.last, '—');
      return;
    }
    if (this.previous !== null) {
      const dir = compareDec(price, this.previous);
      if (dir !== 0) this.last.className = `ticker-last ${trendClass(dir)}`;
    }
    this.previous = price;
    setText(this.last, fixed(price, m.priceDecimals));
    document.title = `${fixed(price, m.priceDecimals)} ${m.base}/${m.quote} · Bourse`;
  }

  private render(m: MarketInfo, t: Ticker): void {
    this.showLast(m, t.last);
    const pct = pctChange(t.open, t.last);
    if (pct === null) {
      setText(this.change, '—');
      this.change.className = '';
    } else {
      let abs = t.open && t.last ? fixed(subDec(t.last, t.open), m.priceDecimals) : '';
      if (abs && compareDec(abs, '0') > 0) abs = `+${abs}`;
      setText(this.change, `${abs} ${pct}%`.trim());
      this.change.className = trendClass(compareDec(pct, '0'));
    }
    setText(this.high, priceOrDash(t.high, m.priceDecimals));
    setText(this.low, priceOrDash(t.low, m.priceDecimals));
    setText(this.volume, t.volume ? fixed(t.volume, m.qtyDecimals) : '—');
    setText(this.quoteVolume, t.quote_volume ? compact(t.quote_volume) : '—');
  }
}
