// Left panel: every market with last price, 24 h change and volume.

import { h, setText, trendClass } from './dom';
import { compact, pctChange, priceOrDash } from './format';
import { type MarketInfo, store } from './store';
import type { Ticker } from './types';

/** True for a market status that means no trading ("halted", "suspended", ...). */
export function isHalted(status: string): boolean {
  return /halt|suspend|clos|disabl|pause|maint/i.test(status ?? '');
}

interface Row {
  el: HTMLElement;
  last: HTMLElement;
  change: HTMLElement;
  volume: HTMLElement;
}

export class MarketList {
  private readonly body: HTMLElement;
  private readonly filter: HTMLInputElement;
  private readonly rows = new Map<string, Row>();
  private readonly message: HTMLElement;

  constructor(
    root: HTMLElement,
    private readonly onSelect: (market: string) => void,
  ) {
    this.filter = h('input', {
      class: 'input market-filter',
      type: 'search',
      placeholder: 'Search',
      'aria-label': 'Search markets',
      'data-testid': 'market-filter',
      onInput: () => this.applyFilter(),
    });
    this.body = h('div', { class: 'market-rows', role: 'listbox', 'aria-label': 'Markets' });
    this.message = h('div', { class: 'empty' });
    root.append(
      h('div', { class: 'panel-title' }, 'Markets'),
      this.filter,
      h('div', { class: 'market-head' }, h('span', {}, 'Market / Vol'), h('span', { class: 'num' }, 'Last / 24h')),
      h('div', { class: 'market-list', 'data-testid': 'market-list' }, this.body, this.message),
    );
    this.body.addEventListener('click', (ev) => {
      const row = (ev.target as HTMLElement).closest<HTMLElement>('[data-market]');
      if (row?.dataset.market) this.onSelect(row.dataset.market);
    });
    this.body.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Enter' && ev.key !== ' ') return;
      const row = (ev.target as HTMLElement).closest<HTMLElement>('[data-market]');
      if (row?.dataset.market) {
        ev.preventDefault();
        this.onSelect(row.dataset.market);
      }
    });
    store.on('markets', (list) => this.render(list));
    store.on('ticker', (t) => this.updateTicker(t));
    store.on('market', (m) => this.highlight(m.market));
  }

  showMessage(text: string): void {
    setText(this.message, text);
  }

  private render(list: MarketInfo[]): void {
    this.rows.clear();
    const els = list.map((m) => {
      const last = h('span', { class: 'num' }, '—');
      const change = h('span', { class: 'num' }, '—');
      const volume = h('span', {}, '—');
      const halted = isHalted(m.status);
      const el = h(
        'div',
        {
          class: 'market-row',
          role: 'option',
          tabindex: 0,
          'data-market': m.market,
          'data-testid': `market-${m.market}`,
          title: halted ? `${m.market} (${m.status})` : m.market,
        },
        h(
          'span',
          { class: 'market-name' },
          h('b', {}, m.base),
          h('span', { class: 'muted' }, `/${m.quote}`),
          halted ? h('span', { class: 'badge' }, m.status) : null,
        ),
        last,
        h('span', { class: 'market-vol muted' }, 'Vol ', volume),
        change,
      );
      const row = { el, last, change, volume };
      this.rows.set(m.market, row);
      const t = store.tickers.get(m.market);
      if (t) this.fill(row, m, t);
      return el;
    });
    this.body.replaceChildren(...els);
    this.showMessage(list.length ? '' : 'No markets');
    if (store.current) this.highlight(store.current.market);
    this.applyFilter();
  }

  private updateTicker(t: Ticker): void {
    const row = this.rows.get(t.market);
    const m = store.market(t.market);
    if (row && m) this.fill(row, m, t);
  }

  private fill(row: Row, m: MarketInfo, t: Ticker): void {
    setText(row.last, priceOrDash(t.last, m.priceDecimals));
    const pct = pctChange(t.open, t.last);
    setText(row.change, pct === null ? '—' : `${pct}%`);
    row.change.className = `num ${pct === null ? '' : trendClass(pct.startsWith('-') ? -1 : pct.startsWith('+') ? 1 : 0)}`;
    setText(row.volume, t.volume ? compact(t.volume) : '—');
    row.el.title = t.quote_volume
      ? `${m.market} · 24h volume ${t.volume} ${m.base} / ${t.quote_volume} ${m.quote}`
      : m.market;
  }

  private highlight(market: string): void {
    for (const [name, row] of this.rows) {
      row.el.classList.toggle('active', name === market);
      row.el.setAttribute('aria-selected', String(name === market));
    }
  }

  private applyFilter(): void {
    const q = this.filter.value.trim().toUpperCase();
    for (const [name, row] of this.rows) row.el.hidden = q !== '' && !name.toUpperCase().includes(q);
  }
}
