// Account panels: open orders, order history (paged back as far as it goes), fills
// and API keys (tabs), balances with deposit and withdraw. Kept current by the
// private channels and by REST re-fetches after every action.

import { ApiError, api, errorText } from './api';
import { debounce, h, setText } from './dom';
import { addDec, dateTime, divDec, fixed, isZero, trimZeros } from './format';
import { KeysPanel } from './keys';
import { triggerText, typeLabel } from './orderKinds';
import { apiKey } from './session';
import { type MarketInfo, store } from './store';
import { type Balance, type Fill, OPEN_STATUSES, type Order } from './types';

type TabId = 'open' | 'history' | 'fills' | 'keys';
type Notify = (text: string, kind?: 'ok' | 'error' | 'info') => void;

const HISTORY_LIMIT = 100;
// A page back asks for as many as the API gives: the page after it starts at the oldest
// time shown (inclusive), so only more orders than this in one millisecond could be
// stepped over.
const OLDER_LIMIT = 1000;
const FILLS_LIMIT = 100;

interface Column<T> {
  title: string;
  num?: boolean;
  cell: (row: T) => Node | string;
}

function table<T>(columns: Column<T>[], rows: T[], rowAttrs: (row: T) => Record<string, string>): HTMLTableElement {
  return h(
    'table',
    { class: 'grid' },
    h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', { class: c.num ? 'num' : '' }, c.title)))),
    h(
      'tbody',
      {},
      ...rows.map((r) =>
        h('tr', rowAttrs(r), ...columns.map((c) => h('td', { class: c.num ? 'num' : '' }, c.cell(r)))),
      ),
    ),
  );
}

function sideCell(side: string): HTMLElement {
  return h('span', { class: side === 'buy' ? 'up' : 'down' }, side);
}

/** An untriggered order says so: it waits outside the book for its stop. */
function typeCell(o: Order): Node {
  const cell = h('span', {}, typeLabel(o.type));
  if (o.triggered === false) {
    cell.append(h('span', { class: 'badge waiting', 'data-testid': 'untriggered' }, 'untriggered'));
  } else if (o.triggered) {
    cell.append(h('span', { class: 'badge done', 'data-testid': 'triggered' }, 'triggered'));
  }
  return cell;
}

function tifText(o: Order): string {
  const tif = o.time_in_force === 'GTD' && o.expire_time ? `GTD ${dateTime(o.expire_time)}` : (o.time_in_force ?? '');
  return `${tif}${o.post_only ? ' post' : ''}`;
}

/** Row attributes of an order, with whether it has triggered when it has a stop. */
function orderRowAttrs(testid: string, o: Order): Record<string, string> {
  const attrs: Record<string, string> = {
    'data-testid': testid,
    'data-order-id': o.order_id,
    'data-status': o.status,
    'data-type': o.type,
  };
  if (o.triggered !== null && o.triggered !== undefined) attrs['data-triggered'] = String(o.triggered);
  return attrs;
}

function fillKey(f: Fill): string {
  return `${f.trade_id}|${f.order_id}`;
}

function byNewest(a: Order, b: Order): number {
  return (b.created_at ?? 0) - (a.created_at ?? 0);
}

export class AccountTabs {
  private market: MarketInfo | null = null;
  private open = new Map<string, Order>();
  private history = new Map<string, Order>();
  // Paging back: the `end` of the next older page, and whether there is none.
  private olderEnd: number | null = null;
  private historyComplete = false;
  private loadingOlder = false;
  private fills: Fill[] = [];
  private shownTab: TabId = 'open';
  private inFlight = 0;
  private pushedDuringFetch: Order[] = [];
  private fillsPushedDuringFetch: Fill[] = [];
  // Balances carry no version: a push that crosses a REST read is settled by reading again.
  private balancePushedDuringFetch = false;

  private readonly tabButtons: Record<TabId, HTMLButtonElement>;
  private readonly panes: Record<TabId, HTMLElement>;
  private readonly cancelAll = h(
    'button',
    { type: 'button', class: 'btn small', 'data-testid': 'cancel-all' },
    'Cancel all',
  );
  private readonly message = h('div', { class: 'tabs-message muted', 'data-testid': 'account-message' });
  private readonly older = h(
    'button',
    { type: 'button', class: 'btn small', 'data-testid': 'history-older' },
    'Load older orders',
  );
  private readonly keys: KeysPanel;
  private readonly balancesBody = h('div', { class: 'balances-body' });
  private readonly fundsAsset = h('select', {
    class: 'input select',
    id: 'deposit-asset',
    'data-testid': 'deposit-asset',
    'aria-label': 'Asset',
  });
  private readonly fundsAmount = h('input', {
    class: 'input',
    id: 'deposit-amount',
    type: 'text',
    inputmode: 'decimal',
    autocomplete: 'off',
    placeholder: 'Amount',
    'aria-label': 'Amount',
    'data-testid': 'deposit-amount',
  });
  private readonly depositBtn = h(
    'button',
    { type: 'button', class: 'btn', 'data-testid': 'deposit-submit' },
    'Deposit',
  );
  private readonly withdrawBtn = h(
    'button',
    { type: 'button', class: 'btn', 'data-testid': 'withdraw-submit' },
    'Withdraw',
  );
  private readonly fundsError = h('div', { class: 'field-error', 'data-testid': 'error-funds', role: 'alert' });
  private readonly fundsResult = h('div', { class: 'form-result', 'data-testid': 'funds-result' });

  readonly refresh: () => void;

  constructor(
    tabsRoot: HTMLElement,
    balancesRoot: HTMLElement,
    private readonly notify: Notify,
  ) {
    const tab = (id: TabId, label: string, testid: string) =>
      h(
        'button',
        {
          type: 'button',
          class: 'tab',
          role: 'tab',
          'data-tab': id,
          'data-testid': testid,
          onClick: () => this.show(id),
        },
        label,
      );
    this.tabButtons = {
      open: tab('open', 'Open orders', 'tab-open-orders'),
      history: tab('history', 'Order history', 'tab-history'),
      fills: tab('fills', 'Fills', 'tab-fills'),
      keys: tab('keys', 'API keys', 'tab-keys'),
    };
    this.panes = {
      open: h('div', { class: 'pane', role: 'tabpanel', 'data-testid': 'open-orders' }),
      history: h('div', { class: 'pane', role: 'tabpanel', 'data-testid': 'order-history' }),
      fills: h('div', { class: 'pane', role: 'tabpanel', 'data-testid': 'fills' }),
      keys: h('div', { class: 'pane', role: 'tabpanel', 'data-testid': 'api-keys' }),
    };
    this.keys = new KeysPanel(this.panes.keys, notify);
    this.older.addEventListener('click', () => void this.loadOlder());
    tabsRoot.append(
      h(
        'div',
        { class: 'tabbar' },
        h(
          'div',
          { class: 'tabs', role: 'tablist' },
          this.tabButtons.open,
          this.tabButtons.history,
          this.tabButtons.fills,
          this.tabButtons.keys,
        ),
        this.cancelAll,
      ),
      this.message,
      h('div', { class: 'panes' }, this.panes.open, this.panes.history, this.panes.fills, this.panes.keys),
    );
    this.panes.open.addEventListener('click', (ev) => {
      const btn = (ev.target as HTMLElement).closest<HTMLButtonElement>('button[data-cancel]');
      if (btn?.dataset.cancel) void this.cancel(btn.dataset.cancel, btn);
    });
    this.cancelAll.addEventListener('click', () => void this.cancelEverything());

    balancesRoot.append(
      h('div', { class: 'panel-title' }, 'Balances'),
      h('div', { class: 'balances', 'data-testid': 'balances' }, this.balancesBody),
      h(
        'form',
        { class: 'funds', 'data-testid': 'funds-form', novalidate: true, onSubmit: (ev: Event) => ev.preventDefault() },
        this.fundsAsset,
        this.fundsAmount,
        this.depositBtn,
        this.withdrawBtn,
      ),
      this.fundsError,
      this.fundsResult,
    );
    this.depositBtn.addEventListener('click', () => void this.moveFunds('deposit'));
    this.withdrawBtn.addEventListener('click', () => void this.moveFunds('withdraw'));
    this.fundsAmount.addEventListener('input', () => this.setFundsError(''));

    store.on('balances', () => this.renderBalances());
    store.on('markets', () => this.renderAssets());
    this.refresh = debounce(() => void this.fetchAll(), 120);
    this.show('open');
    this.renderSignedOut();
  }

  setMarket(m: MarketInfo): void {
    if (this.market?.market === m.market) return;
    this.market = m;
    this.open.clear();
    this.forgetHistory();
    this.fills = [];
    this.renderOrders();
    this.renderFills();
    this.refresh();
  }

  /** Faucet availability from /info. */
  setFaucet(enabled: boolean): void {
    this.depositBtn.disabled = !enabled;
    this.depositBtn.title = enabled ? '' : 'Deposits are credited by the operator';
  }

  /** Signed out: empty everything. */
  clear(): void {
    this.open.clear();
    this.forgetHistory();
    this.fills = [];
    this.keys.clear();
    store.setBalances([]);
    this.renderSignedOut();
  }

  applyOrder(o: Order): void {
    if (!o || typeof o.order_id !== 'string') return;
    if (this.inFlight > 0) this.pushedDuringFetch.push(o);
    this.mergeOrder(o);
    this.renderOrders();
  }

  applyFill(f: Fill): void {
    if (!f || f.trade_id === undefined) return;
    if (this.market && f.market && f.market !== this.market.market) return;
    if (this.inFlight > 0) this.fillsPushedDuringFetch.push(f);
    this.mergeFill(f);
    this.renderFills();
  }

  private mergeFill(f: Fill): void {
    const key = fillKey(f);
    if (this.fills.some((x) => fillKey(x) === key)) return;
    this.fills.unshift(f);
    this.fills.sort((a, b) => b.time - a.time);
    this.fills.length = Math.min(this.fills.length, FILLS_LIMIT);
  }

  applyBalance(b: Balance): void {
    if (!b || typeof b.asset !== 'string') return;
    if (this.inFlight > 0) this.balancePushedDuringFetch = true;
    store.upsertBalance(b);
  }

  private mergeOrder(o: Order): void {
    if (this.market && o.market !== this.market.market) return;
    const known = this.history.get(o.order_id);
    if (known && (known.updated_at ?? 0) > (o.updated_at ?? 0)) return;
    this.history.set(o.order_id, o);
    if (OPEN_STATUSES.has(o.status)) this.open.set(o.order_id, o);
    else this.open.delete(o.order_id);
  }

  private forgetHistory(): void {
    this.history.clear();
    this.olderEnd = null;
    this.historyComplete = false;
  }

  /** The next page back of the order history: orders created at or before the oldest
   * shown, newest first (those already shown are merged, not repeated); asks again
   * until one is new or there are no more. */
  private async loadOlder(): Promise<void> {
    const m = this.market;
    if (!m || this.loadingOlder || this.historyComplete) return;
    const end = this.olderEnd ?? this.oldestShown();
    if (end === null) return;
    this.loadingOlder = true;
    this.older.disabled = true;
    try {
      const known = this.history.size;
      let before = end;
      while (this.history.size === known && !this.historyComplete) {
        const page = await api.orders(m.market, 'all', OLDER_LIMIT, before);
        if (m !== this.market || !Array.isArray(page)) return;
        for (const o of page) this.mergeOrder(o);
        if (page.length < OLDER_LIMIT) this.historyComplete = true;
        // A full page all of one millisecond, every one shown already: step past it.
        before = this.history.size === known ? before - 1 : (this.oldestShown() ?? before);
      }
      this.olderEnd = before;
      this.renderOrders();
    } catch (e) {
      this.notify(`Could not load older orders: ${errorText(e)}`, 'error');
    } finally {
      this.loadingOlder = false;
      this.older.disabled = false;
    }
  }

  private oldestShown(): number | null {
    let oldest: number | null = null;
    for (const o of this.history.values()) {
      if (oldest === null || o.created_at < oldest) oldest = o.created_at;
    }
    return oldest;
  }

  private show(id: TabId): void {
    this.shownTab = id;
    if (id === 'keys' && apiKey()) void this.keys.refresh();
    for (const k of Object.keys(this.panes) as TabId[]) {
      this.panes[k].hidden = k !== id;
      this.tabButtons[k].classList.toggle('active', k === id);
      this.tabButtons[k].setAttribute('aria-selected', String(k === id));
    }
    this.cancelAll.hidden = id !== 'open';
  }

  private async fetchAll(): Promise<void> {
    const m = this.market;
    if (!apiKey()) {
      this.renderSignedOut();
      return;
    }
    setText(this.message, '');
    this.inFlight += 1;
    try {
      const [balances, open, all, fills] = await Promise.allSettled([
        api.balances(),
        m ? api.orders(m.market, 'open') : Promise.resolve([] as Order[]),
        m ? api.orders(m.market, 'all', HISTORY_LIMIT) : Promise.resolve([] as Order[]),
        m ? api.fills(m.market, FILLS_LIMIT) : Promise.resolve([] as Fill[]),
      ]);
      if (!apiKey() || m !== this.market) return;
      if (balances.status === 'fulfilled' && Array.isArray(balances.value)) store.setBalances(balances.value);
      if (all.status === 'fulfilled' && Array.isArray(all.value)) {
        // merged: pages loaded further back stay
        for (const o of all.value) this.mergeOrder(o);
        if (all.value.length < HISTORY_LIMIT && this.olderEnd === null) this.historyComplete = true;
      }
      if (open.status === 'fulfilled' && Array.isArray(open.value)) {
        this.open = new Map(open.value.filter((o) => OPEN_STATUSES.has(o.status)).map((o) => [o.order_id, o]));
        for (const o of open.value) if (!this.history.has(o.order_id)) this.history.set(o.order_id, o);
      }
      if (fills.status === 'fulfilled' && Array.isArray(fills.value)) this.fills = fills.value.slice(0, FILLS_LIMIT);
      // pushes that arrived while the requests were out may be newer than the answers
      for (const o of this.pushedDuringFetch) this.mergeOrder(o);
      for (const f of this.fillsPushedDuringFetch) this.mergeFill(f);
      const failed = [balances, open, all, fills].find((r) => r.status === 'rejected');
      if (failed && failed.status === 'rejected') {
        const e = failed.reason;
        const text =
          e instanceof ApiError && e.status === 401
            ? 'Your API key was refused. Sign out and sign in again.'
            : `Could not load your account: ${errorText(e)}`;
        setText(this.message, text);
      }
      this.renderOrders();
      this.renderFills();
      this.renderBalances();
      if (this.shownTab === 'keys') void this.keys.refresh();
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0) {
        this.pushedDuringFetch = [];
        this.fillsPushedDuringFetch = [];
        if (this.balancePushedDuringFetch) {
          this.balancePushedDuringFetch = false;
          void api
            .balances()
            .then((list) => {
              if (apiKey() && Array.isArray(list)) store.setBalances(list);
            })
            .catch(() => undefined);
        }
      }
    }
  }

  private renderSignedOut(): void {
    if (apiKey()) return;
    setText(this.message, 'Sign up or paste an API key to trade and see your orders.');
    this.renderOrders();
    this.renderFills();
    this.renderBalances();
  }

  private renderOrders(): void {
    const m = this.market;
    const priceOf = (o: Order) => (o.price ? (m ? fixed(o.price, m.priceDecimals) : o.price) : 'market');
    const qtyOf = (o: Order) =>
      o.qty ? (m ? fixed(o.qty, m.qtyDecimals) : o.qty) : o.quote_qty ? `${o.quote_qty} ${m?.quote ?? ''}`.trim() : '—';
    const filledOf = (o: Order) => (m ? fixed(o.filled_qty || '0', m.qtyDecimals) : o.filled_qty);

    const open = [...this.open.values()].sort(byNewest);
    setText(this.tabButtons.open, `Open orders (${open.length})`);
    this.cancelAll.disabled = open.length === 0;
    const openCols: Column<Order>[] = [
      { title: 'Time', cell: (o) => dateTime(o.created_at) },
      { title: 'Side', cell: (o) => sideCell(o.side) },
      { title: 'Type', cell: typeCell },
      { title: 'Trigger', cell: (o) => triggerText(o) || '—' },
      { title: 'Price', num: true, cell: priceOf },
      { title: 'Amount', num: true, cell: qtyOf },
      { title: 'Filled', num: true, cell: filledOf },
      { title: 'TIF', cell: tifText },
      { title: 'Status', cell: (o) => o.status.replace('_', ' ') },
      {
        title: '',
        num: true,
        cell: (o) =>
          h(
            'button',
            { type: 'button', class: 'btn tiny', 'data-cancel': o.order_id, 'data-testid': `cancel-${o.order_id}` },
            'Cancel',
          ),
      },
    ];
    this.panes.open.replaceChildren(
      open.length
        ? table(openCols, open, (o) => orderRowAttrs('order-row', o))
        : h('div', { class: 'empty' }, apiKey() ? 'No open orders' : ''),
    );

    const hist = [...this.history.values()].sort(byNewest);
    const histCols: Column<Order>[] = [
      { title: 'Time', cell: (o) => dateTime(o.created_at) },
      { title: 'Side', cell: (o) => sideCell(o.side) },
      { title: 'Type', cell: typeCell },
      { title: 'Price', num: true, cell: priceOf },
      { title: 'Amount', num: true, cell: qtyOf },
      { title: 'Filled', num: true, cell: filledOf },
      {
        title: 'Avg price',
        num: true,
        cell: (o) => {
          if (!m || !o.filled_qty || isZero(o.filled_qty) || !o.filled_quote) return '—';
          return fixed(divDec(o.filled_quote, o.filled_qty, m.priceDecimals + 1) ?? '0', m.priceDecimals);
        },
      },
      { title: 'Status', cell: (o) => h('span', { class: `status ${o.status}` }, o.status.replace('_', ' ')) },
    ];
    this.older.hidden = !apiKey() || this.historyComplete || hist.length === 0;
    this.panes.history.replaceChildren(
      hist.length
        ? table(histCols, hist, (o) => orderRowAttrs('history-row', o))
        : h('div', { class: 'empty' }, apiKey() ? 'No orders yet' : ''),
      this.older,
    );
  }

  private renderFills(): void {
    const m = this.market;
    const cols: Column<Fill>[] = [
      { title: 'Time', cell: (f) => dateTime(f.time) },
      { title: 'Side', cell: (f) => sideCell(f.side) },
      { title: 'Price', num: true, cell: (f) => (m ? fixed(f.price, m.priceDecimals) : f.price) },
      { title: 'Amount', num: true, cell: (f) => (m ? fixed(f.qty, m.qtyDecimals) : f.qty) },
      { title: 'Fee', num: true, cell: (f) => `${trimZeros(f.fee)} ${f.fee_asset ?? ''}`.trim() },
      { title: 'Role', cell: (f) => f.liquidity ?? '' },
      { title: 'Order', cell: (f) => h('span', { class: 'muted mono' }, String(f.order_id)) },
    ];
    setText(this.tabButtons.fills, `Fills${this.fills.length ? ` (${this.fills.length})` : ''}`);
    this.panes.fills.replaceChildren(
      this.fills.length
        ? table(cols, this.fills, (f) => ({
            'data-testid': 'fill-row',
            'data-trade-id': String(f.trade_id),
            'data-order-id': String(f.order_id),
          }))
        : h('div', { class: 'empty' }, apiKey() ? 'No fills yet' : ''),
    );
  }

  private renderBalances(): void {
    const list = [...store.balances.values()].sort((a, b) => a.asset.localeCompare(b.asset));
    if (!apiKey()) {
      this.balancesBody.replaceChildren(h('div', { class: 'empty' }, 'Sign in to see balances'));
      return;
    }
    if (!list.length) {
      this.balancesBody.replaceChildren(h('div', { class: 'empty' }, 'No funds yet: deposit below'));
      return;
    }
    this.balancesBody.replaceChildren(
      table(
        [
          { title: 'Asset', cell: (b) => h('b', {}, b.asset) },
          { title: 'Free', num: true, cell: (b) => b.free },
          { title: 'Locked', num: true, cell: (b) => b.locked },
        ],
        list,
        (b) => ({
          'data-testid': `balance-${b.asset}`,
          'data-asset': b.asset,
          'data-free': b.free,
          'data-locked': b.locked,
          title: `${b.asset} total ${addDec(b.free || '0', b.locked || '0')}`,
        }),
      ),
    );
  }

  private renderAssets(): void {
    const current = this.fundsAsset.value;
    const assets = store.assets();
    this.fundsAsset.replaceChildren(...assets.map((a) => h('option', { value: a }, a)));
    if (assets.includes(current)) this.fundsAsset.value = current;
    else if (assets.length) this.fundsAsset.value = store.current?.quote ?? assets[0]!;
  }

  private setFundsError(text: string, code?: string): void {
    setText(this.fundsError, text);
    this.fundsError.hidden = text === '';
    if (code) this.fundsError.dataset.code = code;
    else delete this.fundsError.dataset.code;
    this.fundsAmount.classList.toggle('invalid', text !== '');
  }

  private async moveFunds(kind: 'deposit' | 'withdraw'): Promise<void> {
    this.setFundsError('');
    setText(this.fundsResult, '');
    if (!apiKey()) {
      this.setFundsError('Sign in first.');
      return;
    }
    const asset = this.fundsAsset.value;
    const amount = this.fundsAmount.value.trim();
    if (!asset) {
      this.setFundsError('Choose an asset.');
      return;
    }
    if (!amount) {
      this.setFundsError('Enter an amount.');
      return;
    }
    const btn = kind === 'deposit' ? this.depositBtn : this.withdrawBtn;
    btn.disabled = true;
    try {
      const b = kind === 'deposit' ? await api.deposit(asset, amount) : await api.withdraw(asset, amount);
      if (b && typeof b.asset === 'string') store.upsertBalance(b);
      const text = `${kind === 'deposit' ? 'Deposited' : 'Withdrew'} ${amount} ${asset}`;
      setText(this.fundsResult, text);
      this.notify(text, 'ok');
      this.fundsAmount.value = '';
    } catch (e) {
      this.setFundsError(errorText(e), e instanceof ApiError ? e.code : undefined);
    } finally {
      btn.disabled = kind === 'deposit' ? store.info?.faucet === false : false;
      this.refresh();
    }
  }

  private async cancel(orderId: string, btn: HTMLButtonElement): Promise<void> {
    btn.disabled = true;
    try {
      const o = await api.cancelOrder(orderId);
      if (o && typeof o.order_id === 'string') this.applyOrder(o);
      this.notify(`Order ${orderId} cancelled`, 'ok');
    } catch (e) {
      btn.disabled = false;
      this.notify(`Cancel failed: ${errorText(e)}`, 'error');
    } finally {
      this.refresh();
    }
  }

  private async cancelEverything(): Promise<void> {
    const m = this.market;
    if (!m) return;
    this.cancelAll.disabled = true;
    try {
      const list = await api.cancelAll(m.market);
      if (Array.isArray(list)) for (const o of list) this.applyOrder(o);
      this.notify(`Cancelled ${Array.isArray(list) ? list.length : 0} order(s)`, 'ok');
    } catch (e) {
      this.notify(`Cancel all failed: ${errorText(e)}`, 'error');
    } finally {
      this.refresh();
    }
  }
}
