// Recent trades of the selected market, newest first, coloured by taker side.

import { frameThrottle, h, setText } from './dom';
import { clock, fixed } from './format';
import type { MarketInfo } from './store';
import type { Trade } from './types';

const MAX_ROWS = 60;

export class TradesView {
  private readonly list = h('div', { class: 'trades-list', 'data-testid': 'trades-list' });
  private readonly empty = h('div', { class: 'empty' }, 'Loading…');
  private readonly headPrice = h('span', {}, 'Price');
  private readonly headSize = h('span', { class: 'num' }, 'Size');
  private market: MarketInfo | null = null;
  private trades: Trade[] = [];
  private readonly seen = new Set<string>();
  private readonly schedule = frameThrottle(() => this.render());

  constructor(root: HTMLElement, onPrice: (price: string) => void) {
    root.append(
      h('div', { class: 'panel-title' }, 'Recent trades'),
      h('div', { class: 'trades-head' }, this.headPrice, this.headSize, h('span', { class: 'num' }, 'Time')),
      this.list,
      this.empty,
    );
    this.list.addEventListener('click', (ev) => {
      const row = (ev.target as HTMLElement).closest<HTMLElement>('[data-price]');
      if (row?.dataset.price) onPrice(row.dataset.price);
    });
  }

  setMarket(m: MarketInfo): void {
    this.market = m;
    this.trades = [];
    this.seen.clear();
    setText(this.headPrice, `Price (${m.quote})`);
    setText(this.headSize, `Size (${m.base})`);
    this.list.replaceChildren();
    this.setMessage('Loading…');
  }

  setMessage(text: string): void {
    setText(this.empty, text);
    this.empty.hidden = text === '';
  }

  /** Merges a REST page (newest first) with whatever arrived live meanwhile. */
  load(trades: Trade[]): void {
    for (const t of trades) this.add(t);
    this.schedule();
  }

  push(t: Trade): void {
    this.add(t);
    this.schedule();
  }

  private add(t: Trade): void {
    const id = String(t.trade_id);
    if (this.seen.has(id)) return;
    this.seen.add(id);
    // keep newest first; live trades normally land at the front
    let i = 0;
    while (i < this.trades.length && this.trades[i]!.time > t.time) i++;
    this.trades.splice(i, 0, t);
    if (this.trades.length > MAX_ROWS) {
      for (const old of this.trades.splice(MAX_ROWS)) this.seen.delete(String(old.trade_id));
    }
  }

  private render(): void {
    const m = this.market;
    if (!m) return;
    this.setMessage(this.trades.length ? '' : 'No trades yet');
    this.list.replaceChildren(
      ...this.trades.map((t) =>
        h(
          'div',
          {
            class: `trade-row ${t.taker_side === 'sell' ? 'sell' : 'buy'}`,
            'data-testid': 'trade-row',
            'data-trade-id': t.trade_id,
            'data-side': t.taker_side,
            'data-price': t.price,
          },
          h('span', { class: 'price' }, fixed(t.price, m.priceDecimals)),
          h('span', { class: 'num' }, fixed(t.qty, m.qtyDecimals)),
          h('span', { class: 'num muted' }, clock(t.time)),
        ),
      ),
    );
  }
}
