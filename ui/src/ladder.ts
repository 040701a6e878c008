// Order book ladder: asks above (nearest the spread at the bottom), the spread,
// bids below; price, size, running total and a depth bar per level.

import { type CumLevel, cumulative, type DepthBook, qtyScale } from './book';
import { frameThrottle, h, setText, trendClass } from './dom';
import { compareDec, divDec, fixed, isZero, mulDec } from './format';
import type { MarketInfo } from './store';

/** Most levels shown on each side. */
const LEVELS = 30;
/** Row height in px; matches --row-h in styles.css. */
const ROW_H = 19;

/** How many whole rows fit in a ladder side (all of them while it has no size yet). */
function rowsThatFit(el: HTMLElement): number {
  const h = el.clientHeight;
  return h > 0 ? Math.max(1, Math.min(LEVELS, Math.floor(h / ROW_H))) : LEVELS;
}

export class BookView {
  private readonly asks = h('div', { class: 'book-side book-asks', 'data-testid': 'book-asks' });
  private readonly bids = h('div', { class: 'book-side book-bids', 'data-testid': 'book-bids' });
  private readonly last = h('span', { class: 'book-last', 'data-testid': 'book-last' }, '—');
  private readonly spread = h('span', { class: 'book-spread-value muted', 'data-testid': 'book-spread' }, '');
  private readonly status = h('div', { class: 'book-status muted', 'data-testid': 'book-status' }, 'Loading…');
  private readonly headPrice = h('span', {}, 'Price');
  private readonly headSize = h('span', { class: 'num' }, 'Size');
  private readonly headTotal = h('span', { class: 'num' }, 'Total');
  private market: MarketInfo | null = null;
  private book: DepthBook | null = null;
  private lastPrice: string | null = null;
  readonly schedule: () => void;

  constructor(root: HTMLElement, onPrice: (price: string) => void) {
    root.append(
      h('div', { class: 'panel-title' }, 'Order book'),
      h('div', { class: 'book-head' }, this.headPrice, this.headSize, this.headTotal),
      h(
        'div',
        { class: 'book-body', 'data-testid': 'order-book' },
        this.asks,
        h('div', { class: 'book-mid' }, this.last, this.spread),
        this.bids,
        this.status,
      ),
    );
    const click = (ev: Event) => {
      const row = (ev.target as HTMLElement).closest<HTMLElement>('[data-price]');
      if (row?.dataset.price) onPrice(row.dataset.price);
    };
    this.asks.addEventListener('click', click);
    this.bids.addEventListener('click', click);
    this.last.addEventListener('click', click);
    this.schedule = frameThrottle(() => this.render());
    if (typeof ResizeObserver === 'function') new ResizeObserver(() => this.schedule()).observe(this.asks);
  }

  setMarket(m: MarketInfo, book: DepthBook): void {
    this.market = m;
    this.book = book;
    this.lastPrice = null;
    setText(this.headPrice, `Price (${m.quote})`);
    setText(this.headSize, `Size (${m.base})`);
    setText(this.headTotal, `Total (${m.base})`);
    setText(this.last, '—');
    this.last.removeAttribute('data-price');
    this.last.className = 'book-last';
    this.asks.replaceChildren();
    this.bids.replaceChildren();
    setText(this.spread, '');
    this.setStatus('Loading…');
  }

  setStatus(text: string): void {
    setText(this.status, text);
    this.status.hidden = text === '';
  }

  setLast(price: string): void {
    const m = this.market;
    if (!m || !price) return;
    if (this.lastPrice !== null) {
      const dir = compareDec(price, this.lastPrice);
      if (dir !== 0) this.last.className = `book-last ${trendClass(dir)}`;
    }
    this.lastPrice = price;
    setText(this.last, fixed(price, m.priceDecimals));
    this.last.dataset.price = price;
  }

  private render(): void {
    const m = this.market;
    const book = this.book;
    if (!m || !book) return;
    if (!book.ready) {
      // no trustworthy book (reconnecting or resyncing): show nothing rather than stale levels
      this.asks.replaceChildren();
      this.bids.replaceChildren();
      setText(this.spread, '');
      return;
    }
    this.setStatus(book.asks.length || book.bids.length ? '' : 'No orders yet');
    const nAsks = rowsThatFit(this.asks);
    const nBids = rowsThatFit(this.bids);
    const scale = qtyScale([book.asks, book.bids], m.qtyDecimals, Math.max(nAsks, nBids));
    const asks = cumulative(book.asks, m.qtyDecimals, nAsks, scale);
    const bids = cumulative(book.bids, m.qtyDecimals, nBids, scale);
    let max = 0n;
    for (const l of asks) if (l.cumScaled > max) max = l.cumScaled;
    for (const l of bids) if (l.cumScaled > max) max = l.cumScaled;
    // asks: highest of the shown levels on top, best ask just above the spread
    this.asks.replaceChildren(
      ...asks
        .slice()
        .reverse()
        .map((l) => this.row(l, 'ask', max, m)),
    );
    this.bids.replaceChildren(...bids.map((l) => this.row(l, 'bid', max, m)));

    const spread = book.spread();
    const ask = book.bestAsk();
    if (spread !== null && ask && !isZero(ask[0])) {
      const pct = divDec(mulDec(spread, '100'), ask[0], 3) ?? '0';
      setText(this.spread, `Spread ${fixed(spread, m.priceDecimals)} (${fixed(pct, 3)}%)`);
    } else {
      setText(this.spread, '');
    }
  }

  private row(l: CumLevel, side: 'ask' | 'bid', max: bigint, m: MarketInfo): HTMLElement {
    const width = max > 0n ? Number((l.cumScaled * 10000n) / max) / 100 : 0;
    const el = h(
      'div',
      {
        class: `book-row ${side}`,
        'data-testid': 'book-row',
        'data-price': l.price,
        'data-qty': l.qty,
        'data-side': side,
        title: `Click to use ${l.price} as the order price`,
      },
      h('span', { class: 'bar', style: `width:${width}%` }),
      h('span', { class: 'price' }, fixed(l.price, m.priceDecimals)),
      h('span', { class: 'num' }, fixed(l.qty, m.qtyDecimals)),
      h('span', { class: 'num muted' }, l.cum),
    );
    return el;
  }
}
