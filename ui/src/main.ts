// Wires the panels to the REST API and the feed.

import './styles.css';
import { AccountBar } from './account';
import { api, errorText } from './api';
import { DepthBook } from './book';
import { CandleChart } from './chart';
import { DepthChart } from './depthChart';
import { h, must, setText } from './dom';
import { BookView } from './ladder';
import { MarketList } from './marketList';
import { OrderForm } from './orderForm';
import { apiKey, onApiKeyChange } from './session';
import { type MarketInfo, store, withPrecision } from './store';
import { AccountTabs } from './tabs';
import { TickerHeader } from './tickerHeader';
import { makeNotifier } from './toast';
import { TradesView } from './trades';
import { INTERVALS, type Interval } from './types';
import { type ConnState, FeedSocket, type Subscription } from './ws';

const INTERVAL_KEY = 'bourse.interval';
const MARKET_KEY = 'bourse.market';
const TICKER_POLL_MS = 30000;

function stored(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function remember(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // storage unavailable
  }
}

// ---- panels -------------------------------------------------------------

const notify = makeNotifier(must('#toasts'));
const feed = new FeedSocket();
const book = new DepthBook();

let interval: Interval = (INTERVALS as readonly string[]).includes(stored(INTERVAL_KEY) ?? '')
  ? (stored(INTERVAL_KEY) as Interval)
  : '15m';

const chartPanel = must('#chart-panel');
const intervalButtons = new Map<Interval, HTMLButtonElement>();
const chartToolbar = h(
  'div',
  { class: 'chart-toolbar', role: 'toolbar', 'aria-label': 'Candle interval' },
  ...INTERVALS.map((iv) => {
    const b = h(
      'button',
      { type: 'button', class: 'tab', 'data-testid': `interval-${iv}`, onClick: () => setChartInterval(iv) },
      iv,
    );
    intervalButtons.set(iv, b);
    return b;
  }),
);
const chartEl = h('div', { class: 'chart', id: 'chart', 'data-testid': 'chart' });
const depthEl = h('div', { class: 'depth-chart', id: 'depth-chart', 'data-testid': 'depth-chart' });
const chartMessage = h('div', { class: 'chart-message muted', 'data-testid': 'chart-message' });
chartPanel.append(
  chartToolbar,
  h('div', { class: 'chart-wrap' }, chartEl, chartMessage),
  h('div', { class: 'panel-title sub' }, 'Depth'),
  depthEl,
  h(
    'div',
    { class: 'attribution', 'data-testid': 'tv-attribution' },
    'Charts by ',
    h('a', { href: 'https://www.tradingview.com/', target: '_blank', rel: 'noopener noreferrer' }, 'TradingView'),
    ' Lightweight Charts™',
  ),
);

const candleChart = new CandleChart(chartEl);
const depthChart = new DepthChart(depthEl);
const marketList = new MarketList(must('#markets'), (name) => selectMarket(name));
new TickerHeader(must('#ticker'));
const account = new AccountBar(must('#account'), must('#topbar'));
const tabs = new AccountTabs(must('#tabs'), must('#balances-panel'), notify);
const form = new OrderForm(must('#order-form'), { onPlaced: () => tabs.refresh(), notify });
const bookView = new BookView(must('#book'), (price) => form.setPrice(price));
const tradesView = new TradesView(must('#trades'), (price) => form.setPrice(price));

// ---- connection indicator -------------------------------------------------

const conn = must('#conn');
const connLabels: Record<ConnState, string> = { connected: 'Live', reconnecting: 'Reconnecting', down: 'Offline' };
/** Markets the feed says are stale: their engine fell silent, so what is shown may be old. */
const staleMarkets = new Set<string>();

function showConnection(): void {
  const s = feed.state;
  const current = store.current?.market;
  if (s === 'connected' && current && staleMarkets.has(current)) {
    conn.dataset.state = 'stale';
    setText(must('.conn-label', conn), 'Stale');
    conn.title = `No data from ${current} for a while: what is shown may be out of date`;
    return;
  }
  conn.dataset.state = s;
  setText(must('.conn-label', conn), connLabels[s]);
  conn.title =
    s === 'connected'
      ? 'Live feed connected'
      : s === 'reconnecting'
        ? 'Live feed reconnecting…'
        : 'Live feed down, retrying';
}
feed.onState(() => showConnection());

// ---- subscriptions ----------------------------------------------------------

const depthSub = (m: MarketInfo): Subscription => ({ channel: 'depth', market: m.market });
const tradesSub = (m: MarketInfo): Subscription => ({ channel: 'trades', market: m.market });
const klineSub = (m: MarketInfo, iv: Interval): Subscription => ({ channel: 'kline', market: m.market, interval: iv });

for (const channel of ['orders', 'fills', 'balances'] as const) feed.subscribe({ channel });

/** Resubscribes to depth after a gap or checksum failure, backing off if it keeps failing. */
const resync = {
  failures: [] as number[],
  /** When the last snapshot was applied; a book healthy for a while forgets old failures. */
  syncedAt: 0,
  timer: null as ReturnType<typeof setTimeout> | null,
  cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  },
  request(m: MarketInfo): void {
    if (this.timer !== null) return;
    const now = Date.now();
    if (this.syncedAt && now - this.syncedAt > 1000) this.failures = [];
    this.failures = this.failures.filter((t) => now - t < 60000);
    this.failures.push(now);
    const n = this.failures.length;
    const delay = n <= 2 ? 0 : Math.min(30000, 500 * 2 ** (n - 3));
    bookView.setStatus(n > 3 ? 'Order book out of sync, retrying…' : 'Resyncing…');
    this.timer = setTimeout(() => {
      this.timer = null;
      if (store.current === m) feed.resubscribe(depthSub(m));
    }, delay);
  },
};

// ---- market and interval selection -----------------------------------------------

function highlightInterval(): void {
  for (const [k, b] of intervalButtons) {
    b.classList.toggle('active', k === interval);
    b.setAttribute('aria-pressed', String(k === interval));
  }
}

function setChartInterval(iv: Interval): void {
  if (iv === interval) return;
  const m = store.current;
  if (m) feed.unsubscribe(klineSub(m, interval));
  interval = iv;
  remember(INTERVAL_KEY, iv);
  highlightInterval();
  if (m) {
    feed.subscribe(klineSub(m, iv));
    void loadKlines(m, iv);
  }
}

async function loadKlines(m: MarketInfo, iv: Interval): Promise<void> {
  candleChart.reset(m);
  setText(chartMessage, 'Loading…');
  try {
    const klines = await api.klines(m.market, iv);
    if (store.current !== m || interval !== iv) return;
    candleChart.load(Array.isArray(klines) ? klines : []);
    setText(chartMessage, Array.isArray(klines) && klines.length ? '' : 'No trades yet');
  } catch (e) {
    if (store.current !== m || interval !== iv) return;
    candleChart.load([]);
    setText(chartMessage, `Chart unavailable: ${errorText(e)}`);
  }
}

async function loadTrades(m: MarketInfo): Promise<void> {
  try {
    const trades = await api.trades(m.market, 60);
    if (store.current !== m || !Array.isArray(trades)) return;
    tradesView.load(trades);
    if (trades[0] && !store.tickers.get(m.market)?.last) {
      bookView.setLast(trades[0].price);
      store.emit('lastPrice', { market: m.market, price: trades[0].price });
    }
  } catch (e) {
    if (store.current === m) tradesView.setMessage(`Trades unavailable: ${errorText(e)}`);
  }
}

function selectMarket(name: string): void {
  const m = store.market(name);
  if (!m || m === store.current) return;
  const prev = store.current;
  if (prev) {
    feed.unsubscribe(depthSub(prev));
    feed.unsubscribe(tradesSub(prev));
    feed.unsubscribe(klineSub(prev, interval));
  }
  resync.cancel();
  resync.failures = [];
  store.current = m;
  book.reset();
  bookView.setMarket(m, book);
  depthChart.setMarket(m, book);
  tradesView.setMarket(m);
  form.setMarket(m);
  tabs.setMarket(m);
  store.emit('market', m);
  showConnection();
  const t = store.tickers.get(m.market);
  if (t?.last) bookView.setLast(t.last);

  feed.subscribe(depthSub(m));
  feed.subscribe(tradesSub(m));
  feed.subscribe(klineSub(m, interval));
  if (!feed.isOpen) bookView.setStatus('Waiting for the live feed…');
  void loadKlines(m, interval);
  void loadTrades(m);

  remember(MARKET_KEY, m.market);
  if (location.hash.slice(1) !== m.market) history.replaceState(null, '', `#${m.market}`);
}

window.addEventListener('hashchange', () => {
  const name = decodeURIComponent(location.hash.slice(1));
  if (name) selectMarket(name);
});

// ---- feed messages ---------------------------------------------------------------

/** The selected market, if the push is about it. */
function forCurrent(msg: { market: string }): MarketInfo | null {
  const m = store.current;
  return m && msg.market === m.market ? m : null;
}

feed.on('depth', (msg) => {
  const m = forCurrent(msg);
  if (!m) return;
  const r = msg.type === 'snapshot' ? book.applySnapshot(msg) : book.applyUpdate(msg);
  if (!r.ok) {
    if (r.reason !== 'no-snapshot') {
      resync.request(m);
      bookView.schedule();
      depthChart.schedule();
    }
    return;
  }
  if (msg.type === 'snapshot') {
    bookView.setStatus('');
    resync.syncedAt = Date.now();
  }
  bookView.schedule();
  depthChart.schedule();
});

feed.on('trades', (msg) => {
  const m = forCurrent(msg);
  if (!m) return;
  tradesView.push(msg);
  bookView.setLast(msg.price);
  store.emit('lastPrice', { market: m.market, price: msg.price });
});

feed.on('ticker', (msg) => {
  if (store.market(msg.market)) store.setTicker(msg);
});

feed.on('kline', (msg) => {
  if (!forCurrent(msg) || msg.interval !== interval) return;
  candleChart.update(msg);
  setText(chartMessage, '');
});

feed.on('status', (msg) => {
  if (msg.status === 'stale') staleMarkets.add(msg.market);
  else staleMarkets.delete(msg.market);
  showConnection();
});

feed.on('orders', (msg) => tabs.applyOrder(msg));
feed.on('fills', (msg) => tabs.applyFill(msg));
feed.on('balances', (msg) => tabs.applyBalance(msg));

const recentFeedErrors = new Map<string, number>();
feed.onReply('error', (msg) => {
  const text = msg.message;
  const now = Date.now();
  if (now - (recentFeedErrors.get(text) ?? 0) < 10000) return;
  recentFeedErrors.set(text, now);
  notify(`Live feed: ${text}`, 'error');
});

let wasOpen = false;
feed.onClose(() => {
  staleMarkets.clear(); // the next connection is told again
  showConnection();
  book.reset();
  resync.cancel();
  if (store.current) bookView.setStatus('Reconnecting…');
  bookView.schedule();
  depthChart.schedule();
});
feed.onOpen(() => {
  const m = store.current;
  if (wasOpen && m) {
    // catch up on what was missed while the feed was away
    void loadTrades(m);
    void loadKlines(m, interval);
    if (apiKey()) tabs.refresh();
  }
  wasOpen = true;
});

// ---- session -------------------------------------------------------------------

onApiKeyChange((key) => {
  feed.setAuth(key);
  if (key) tabs.refresh();
  else tabs.clear();
});
feed.setAuth(apiKey());

// ---- start -----------------------------------------------------------------------

function fallbackWsUrl(): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.hostname || '127.0.0.1'}:8001/ws`;
}

async function startFeed(): Promise<void> {
  let url = fallbackWsUrl();
  try {
    const info = await api.info();
    store.info = info;
    if (info && typeof info.ws_url === 'string' && info.ws_url) url = info.ws_url;
    account.setSignupEnabled(info?.signup !== false);
    tabs.setFaucet(info?.faucet !== false);
  } catch {
    // keep the defaults
  }
  feed.start(url);
}

async function loadTickers(): Promise<void> {
  try {
    const list = await api.tickers();
    if (Array.isArray(list)) for (const t of list) if (t && store.market(t.market)) store.setTicker(t);
  } catch {
    // the list keeps what it has; the feed may still bring tickers
  }
}

async function loadMarkets(): Promise<void> {
  marketList.showMessage('Loading markets…');
  try {
    const list = await api.markets();
    store.setMarkets((Array.isArray(list) ? list : []).map(withPrecision));
  } catch (e) {
    marketList.showMessage(`Cannot load markets (${errorText(e)}), retrying…`);
    setTimeout(() => void loadMarkets(), 3000);
    return;
  }
  for (const m of store.markets) feed.subscribe({ channel: 'ticker', market: m.market });
  await loadTickers();
  const wanted = [decodeURIComponent(location.hash.slice(1)), stored(MARKET_KEY) ?? ''];
  const first = wanted.map((n) => store.market(n)).find(Boolean) ?? store.markets[0];
  if (first) selectMarket(first.market);
  else bookView.setStatus('No markets');
  setInterval(() => void loadTickers(), TICKER_POLL_MS);
}

highlightInterval();
void startFeed();
void loadMarkets();
if (apiKey()) tabs.refresh();
