// Order entry: buy/sell, limit, market, stop-limit, stop-market or take-profit; stop
// price, price, quantity or total; time in force (GTD with a date-time picker),
// post-only, available balance, fee estimate; errors shown beside their field.

import { ApiError, api, errorText } from './api';
import { h, setText } from './dom';
import { divDec, fixed, floorToStep, isDecimal, isZero, mulDec, trimZeros } from './format';
import {
  FORM_LABELS,
  FORM_TYPES,
  type FormType,
  fieldsFor,
  isConditional,
  isLimitTwin,
  localDateTimeMs,
  toLocalDateTime,
  triggerText,
} from './orderKinds';
import { apiKey, onApiKeyChange } from './session';
import { type MarketInfo, store } from './store';
import type { Order, OrderRequest, Side, TimeInForce } from './types';

/** Inputs that can carry a field error from the API. */
const FIELDS = ['stop_price', 'price', 'qty', 'quote_qty'] as const;
type Field = (typeof FIELDS)[number];
/** Options that can carry a field error too. */
const OPTION_FIELDS = ['time_in_force', 'post_only', 'expire_time'] as const;
type OptionField = (typeof OPTION_FIELDS)[number];
type ErrorSlot = Field | OptionField | 'form';

function isField(name: string): name is Field {
  return (FIELDS as readonly string[]).includes(name);
}

function isOptionField(name: string): name is OptionField {
  return (OPTION_FIELDS as readonly string[]).includes(name);
}

function newClientOrderId(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** "body.price" or "price" -> "price". */
function fieldName(field: string | undefined): string | undefined {
  if (!field) return undefined;
  const parts = field.split(/[.[\]/]+/).filter(Boolean);
  return parts[parts.length - 1];
}

const MISSING: Record<Field, string> = {
  stop_price: 'Enter a stop price',
  price: 'Enter a price',
  qty: 'Enter an amount',
  quote_qty: 'Enter a total',
};

interface Deps {
  /** Called after an order was accepted (or may have been), to refresh the account panels. */
  onPlaced: () => void;
  notify: (text: string, kind?: 'ok' | 'error' | 'info') => void;
}

export class OrderForm {
  private side: Side = 'buy';
  private type: FormType = 'limit';
  private market: MarketInfo | null = null;
  private busy = false;

  private readonly sideBuy = h('button', { type: 'button', class: 'seg buy', 'data-testid': 'order-side-buy' }, 'Buy');
  private readonly sideSell = h(
    'button',
    { type: 'button', class: 'seg sell', 'data-testid': 'order-side-sell' },
    'Sell',
  );
  private readonly typeButtons = Object.fromEntries(
    FORM_TYPES.map((t) => [
      t,
      h(
        'button',
        { type: 'button', class: 'tab', 'data-testid': `order-type-${t.replace(/_/g, '-')}` },
        FORM_LABELS[t],
      ),
    ]),
  ) as Record<FormType, HTMLButtonElement>;

  private readonly inputs: Record<Field, HTMLInputElement>;
  private readonly errors: Record<ErrorSlot, HTMLElement>;
  private readonly units: Record<Field, HTMLElement>;
  private readonly rows: Record<Field, HTMLElement>;
  private readonly tif: HTMLSelectElement;
  private readonly postOnly: HTMLInputElement;
  private readonly postOnlyLabel: HTMLElement;
  private readonly expire: HTMLInputElement;
  private readonly expireRow: HTMLElement;
  private readonly optionsRow: HTMLElement;
  private readonly available = h('span', { 'data-testid': 'order-available' }, '—');
  private readonly total = h('span', { 'data-testid': 'order-total' }, '—');
  private readonly fee = h('span', { 'data-testid': 'order-fee' }, '—');
  private readonly totalLabel = h('span', { class: 'muted' }, 'Total');
  private readonly submit = h('button', { type: 'submit', class: 'submit buy', 'data-testid': 'order-submit' }, 'Buy');
  private readonly result = h('div', { class: 'form-result', 'data-testid': 'order-result', 'aria-live': 'polite' });
  private readonly form: HTMLFormElement;

  constructor(
    root: HTMLElement,
    private readonly deps: Deps,
  ) {
    const input = (name: Field, label: string) =>
      h('input', {
        class: 'input',
        id: `order-${name.replace('_', '-')}`,
        name,
        type: 'text',
        inputmode: 'decimal',
        autocomplete: 'off',
        spellcheck: 'false',
        placeholder: label,
        'aria-label': label,
        'data-testid': `order-${name.replace('_', '-')}`,
      });
    this.inputs = {
      stop_price: input('stop_price', 'Stop price'),
      price: input('price', 'Price'),
      qty: input('qty', 'Amount'),
      quote_qty: input('quote_qty', 'Total'),
    };
    const err = (name: string) =>
      h('div', { class: 'field-error', id: `error-${name}`, 'data-testid': `error-${name}`, role: 'alert' });
    this.errors = {
      stop_price: err('stop_price'),
      price: err('price'),
      qty: err('qty'),
      quote_qty: err('quote_qty'),
      time_in_force: err('time_in_force'),
      post_only: err('post_only'),
      expire_time: err('expire_time'),
      form: err('form'),
    };
    this.units = {
      stop_price: h('span', { class: 'unit' }),
      price: h('span', { class: 'unit' }),
      qty: h('span', { class: 'unit' }),
      quote_qty: h('span', { class: 'unit' }),
    };
    const fieldRow = (name: Field, label: string) =>
      h(
        'div',
        { class: 'field', 'data-field': name },
        h('label', { for: this.inputs[name].id }, label),
        h('div', { class: 'input-wrap' }, this.inputs[name], this.units[name]),
        this.errors[name],
      );
    this.rows = {
      stop_price: fieldRow('stop_price', 'Stop price (triggers on the last trade price)'),
      price: fieldRow('price', 'Price'),
      qty: fieldRow('qty', 'Amount'),
      quote_qty: fieldRow('quote_qty', 'Total'),
    };
    for (const name of FIELDS) {
      this.inputs[name].setAttribute('aria-describedby', this.errors[name].id);
      this.inputs[name].addEventListener('input', () => {
        this.clearError(name);
        this.refreshEstimates();
      });
    }

    this.tif = h(
      'select',
      { class: 'input select', id: 'order-tif', 'data-testid': 'order-tif', 'aria-label': 'Time in force' },
      h('option', { value: 'GTC', title: 'Good till cancelled' }, 'GTC'),
      h('option', { value: 'IOC', title: 'Immediate or cancel' }, 'IOC'),
      h('option', { value: 'FOK', title: 'Fill or kill' }, 'FOK'),
      h('option', { value: 'GTD', title: 'Good till date' }, 'GTD'),
    );
    this.postOnly = h('input', { type: 'checkbox', id: 'order-post-only', 'data-testid': 'order-post-only' });
    this.postOnly.addEventListener('change', () => this.refreshEstimates());
    this.tif.addEventListener('change', () => {
      this.clearError('time_in_force');
      this.clearError('expire_time');
      if (this.tif.value === 'GTD' && !this.expire.value) {
        this.expire.value = toLocalDateTime(Date.now() + 24 * 3600 * 1000);
      }
      this.layout();
    });
    this.postOnly.addEventListener('change', () => this.clearError('post_only'));
    this.postOnlyLabel = h('label', { class: 'inline check', for: 'order-post-only' }, this.postOnly, 'Post only');
    this.expire = h('input', {
      class: 'input',
      id: 'order-expire-time',
      name: 'expire_time',
      type: 'datetime-local',
      step: '60',
      'aria-label': 'Expires at',
      'aria-describedby': 'error-expire_time',
      'data-testid': 'order-expire-time',
    });
    this.expire.addEventListener('input', () => this.clearError('expire_time'));
    this.expireRow = h(
      'div',
      { class: 'field', 'data-field': 'expire_time' },
      h('label', { for: 'order-expire-time' }, 'Expires at (your local time)'),
      this.expire,
      this.errors.expire_time,
    );
    this.optionsRow = h(
      'div',
      {},
      h(
        'div',
        { class: 'form-options' },
        h('label', { class: 'inline', for: 'order-tif' }, 'TIF', this.tif),
        this.postOnlyLabel,
      ),
      this.errors.time_in_force,
      this.errors.post_only,
      this.expireRow,
    );

    const pct = (p: number) =>
      h(
        'button',
        { type: 'button', class: 'pct', 'data-testid': `order-pct-${p}`, onClick: () => this.fillPercent(p) },
        `${p}%`,
      );

    this.form = h(
      'form',
      { class: 'order-form', novalidate: true, 'data-testid': 'order-form' },
      h('div', { class: 'segmented' }, this.sideBuy, this.sideSell),
      h('div', { class: 'tabs small wrap' }, ...FORM_TYPES.map((t) => this.typeButtons[t])),
      h('div', { class: 'kv' }, h('span', { class: 'muted' }, 'Available'), this.available),
      this.rows.stop_price,
      this.rows.price,
      this.rows.qty,
      this.rows.quote_qty,
      h('div', { class: 'pcts' }, pct(25), pct(50), pct(75), pct(100)),
      this.optionsRow,
      h('div', { class: 'kv' }, this.totalLabel, this.total),
      h('div', { class: 'kv' }, h('span', { class: 'muted' }, 'Est. fee'), this.fee),
      this.submit,
      this.errors.form,
      this.result,
    );
    root.append(h('div', { class: 'panel-title' }, 'Place order'), this.form);

    this.sideBuy.addEventListener('click', () => this.setSide('buy'));
    this.sideSell.addEventListener('click', () => this.setSide('sell'));
    for (const t of FORM_TYPES) this.typeButtons[t].addEventListener('click', () => this.setType(t));
    this.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.place();
    });

    store.on('balances', () => this.refreshAvailable());
    store.on('lastPrice', ({ market }) => {
      if (market === this.market?.market && !isLimitTwin(this.type)) this.refreshEstimates();
    });
    onApiKeyChange(() => this.refreshAvailable());
    this.layout();
  }

  setMarket(m: MarketInfo): void {
    const changed = this.market?.market !== m.market;
    this.market = m;
    if (changed) {
      for (const f of FIELDS) this.inputs[f].value = '';
      this.clearErrors();
      setText(this.result, '');
    }
    setText(this.units.stop_price, m.quote);
    setText(this.units.price, m.quote);
    setText(this.units.qty, m.base);
    setText(this.units.quote_qty, m.quote);
    this.inputs.stop_price.placeholder = `Stop price (tick ${trimZeros(m.tick)})`;
    this.inputs.price.placeholder = `Price (tick ${trimZeros(m.tick)})`;
    this.inputs.qty.placeholder = `Amount (lot ${trimZeros(m.lot)})`;
    this.inputs.quote_qty.placeholder = `Total to spend`;
    this.layout();
  }

  /** Fills the price (from a click in the book or the trades). */
  setPrice(price: string): void {
    if (!isLimitTwin(this.type)) this.setType('limit');
    this.inputs.price.value = this.market ? fixed(price, this.market.priceDecimals) : price;
    this.clearError('price');
    this.refreshEstimates();
  }

  private setSide(s: Side): void {
    this.side = s;
    this.clearErrors();
    this.layout();
  }

  private setType(t: FormType): void {
    this.type = t;
    this.clearErrors();
    this.layout();
  }

  /** Which inputs the current side/type uses. */
  private visibleFields(): Field[] {
    return fieldsFor(this.type, this.side);
  }

  private layout(): void {
    this.sideBuy.classList.toggle('active', this.side === 'buy');
    this.sideSell.classList.toggle('active', this.side === 'sell');
    this.sideBuy.setAttribute('aria-pressed', String(this.side === 'buy'));
    this.sideSell.setAttribute('aria-pressed', String(this.side === 'sell'));
    for (const t of FORM_TYPES) {
      this.typeButtons[t].classList.toggle('active', this.type === t);
      this.typeButtons[t].setAttribute('aria-pressed', String(this.type === t));
    }
    const visible = new Set(this.visibleFields());
    for (const f of FIELDS) this.rows[f].hidden = !visible.has(f);
    this.optionsRow.hidden = this.type === 'market';
    this.postOnlyLabel.hidden = this.type !== 'limit';
    this.expireRow.hidden = this.tif.value !== 'GTD';
    const base = this.market?.base ?? '';
    this.submit.className = `submit ${this.side}`;
    setText(this.submit, this.busy ? 'Sending…' : `${this.side === 'buy' ? 'Buy' : 'Sell'} ${base}`.trim());
    setText(this.totalLabel, !isLimitTwin(this.type) && this.side === 'sell' ? 'Total ≈' : 'Total');
    this.form.dataset.side = this.side;
    this.form.dataset.type = this.type;
    this.refreshAvailable();
  }

  /** The asset this order spends. */
  private spendAsset(): string | null {
    const m = this.market;
    if (!m) return null;
    return this.side === 'buy' ? m.quote : m.base;
  }

  private refreshAvailable(): void {
    const asset = this.spendAsset();
    if (!asset) return;
    if (!apiKey()) {
      setText(this.available, `— ${asset}`);
    } else {
      const b = store.balances.get(asset);
      setText(this.available, `${b ? b.free : '0'} ${asset}`);
      this.available.dataset.free = b ? b.free : '0';
    }
    this.refreshEstimates();
  }

  private lastPrice(): string | null {
    const m = this.market;
    if (!m) return null;
    const t = store.tickers.get(m.market);
    return t?.last && isDecimal(t.last) ? t.last : null;
  }

  /** The quote amount of the order as entered, if it can be told. */
  private notional(): string | null {
    const price = this.inputs.price.value.trim();
    const qty = this.inputs.qty.value.trim();
    const quote = this.inputs.quote_qty.value.trim();
    if (isLimitTwin(this.type)) return isDecimal(price) && isDecimal(qty) ? mulDec(price, qty) : null;
    if (this.side === 'buy') return isDecimal(quote) ? quote : null;
    // a market sell gets about the last price; a stop-market one about its stop price
    const stop = this.inputs.stop_price.value.trim();
    const near = isConditional(this.type) ? (isDecimal(stop) ? stop : null) : this.lastPrice();
    return isDecimal(qty) && near ? mulDec(qty, near) : null;
  }

  private refreshEstimates(): void {
    const m = this.market;
    if (!m) return;
    const n = this.notional();
    const dec = m.priceDecimals;
    setText(this.total, n === null ? '—' : `${fixed(n, dec)} ${m.quote}`);
    const maker = this.type === 'limit' && this.postOnly.checked;
    const rate = maker ? m.maker_fee : m.taker_fee;
    const ratePct = isDecimal(rate) ? `${trimZeros(mulDec(rate, '100'))}%` : '';
    const label = `${maker ? 'maker' : 'taker'} ${ratePct}`.trim();
    if (n === null || !isDecimal(rate)) {
      setText(this.fee, `— (${label})`);
    } else {
      const exact = mulDec(n, rate);
      let shown = fixed(exact, dec);
      if (isZero(shown) && !isZero(exact)) shown = trimZeros(fixed(exact, dec + 4));
      setText(this.fee, `≤ ${shown} ${m.quote} (${label})`);
    }
  }

  /** Fills the amount (or total) from a share of the available balance. */
  private fillPercent(p: number): void {
    const m = this.market;
    const asset = this.spendAsset();
    if (!m || !asset) return;
    const free = store.balances.get(asset)?.free ?? '0';
    const share = divDec(mulDec(free, String(p)), '100', Math.max(m.priceDecimals, m.qtyDecimals) + 8) ?? '0';
    if (this.side === 'sell') {
      this.inputs.qty.value = floorToStep(share, m.lot);
      this.clearError('qty');
    } else if (!isLimitTwin(this.type)) {
      this.inputs.quote_qty.value = floorToStep(share, m.tick);
      this.clearError('quote_qty');
    } else {
      const price = this.inputs.price.value.trim() || this.lastPrice() || '';
      if (!isDecimal(price) || isZero(price)) {
        this.showError('price', 'Enter a price first');
        return;
      }
      if (!this.inputs.price.value.trim()) this.inputs.price.value = fixed(price, m.priceDecimals);
      const qty = divDec(share, price, m.qtyDecimals + 8) ?? '0';
      this.inputs.qty.value = floorToStep(qty, m.lot);
      this.clearError('qty');
    }
    this.refreshEstimates();
  }

  private clearError(f: ErrorSlot): void {
    setText(this.errors[f], '');
    this.errors[f].hidden = true;
    delete this.errors[f].dataset.code;
    const input = this.inputOf(f);
    if (input) {
      input.classList.remove('invalid');
      input.removeAttribute('aria-invalid');
    }
  }

  /** The input an error slot sits beside, if it is one. */
  private inputOf(f: ErrorSlot): HTMLInputElement | null {
    if (isField(f)) return this.inputs[f];
    return f === 'expire_time' ? this.expire : null;
  }

  private clearErrors(): void {
    for (const f of [...FIELDS, ...OPTION_FIELDS]) this.clearError(f);
    this.clearError('form');
  }

  private showError(f: ErrorSlot, text: string, code?: string): void {
    setText(this.errors[f], text);
    this.errors[f].hidden = false;
    if (code) this.errors[f].dataset.code = code;
    const input = this.inputOf(f);
    if (input) {
      input.classList.add('invalid');
      input.setAttribute('aria-invalid', 'true');
    }
  }

  /** The error slot beside the input an API error names, if that input is on screen. */
  private slotFor(name: string | undefined): ErrorSlot | null {
    if (!name) return null;
    if (isField(name)) return this.rows[name].hidden ? null : name;
    if (name === 'expire_time') return this.optionsRow.hidden || this.expireRow.hidden ? null : name;
    if (name === 'post_only') return this.optionsRow.hidden || this.postOnlyLabel.hidden ? null : name;
    if (isOptionField(name)) return this.optionsRow.hidden ? null : name;
    return null;
  }

  /** Shows an API error beside the input it names, or under the form. */
  private showApiError(e: unknown): void {
    if (!(e instanceof ApiError)) {
      this.showError('form', errorText(e));
      return;
    }
    const name = fieldName(e.field);
    const text = e.message || e.code;
    const slot = this.slotFor(name);
    if (slot) {
      this.showError(slot, text, e.code);
    } else if (e.status === 401) {
      this.showError('form', apiKey() ? 'Your API key was refused. Sign in again.' : 'Sign in to trade.', e.code);
    } else {
      this.showError('form', name ? `${name}: ${text}` : text, e.code);
    }
  }

  private buildRequest(m: MarketInfo): OrderRequest | null {
    const req: OrderRequest = { market: m.market, side: this.side, type: this.type };
    let missing = false;
    for (const f of this.visibleFields()) {
      const v = this.inputs[f].value.trim();
      if (!v) {
        this.showError(f, MISSING[f]);
        missing = true;
      } else {
        req[f] = v;
      }
    }
    if (this.type !== 'market') {
      req.time_in_force = this.tif.value as TimeInForce;
      if (req.time_in_force === 'GTD') {
        const at = localDateTimeMs(this.expire.value);
        if (at === null) {
          this.showError('expire_time', 'Pick the date and time it expires');
          missing = true;
        } else if (at <= Date.now()) {
          this.showError('expire_time', 'Pick a time in the future');
          missing = true;
        } else {
          req.expire_time = at;
        }
      }
    }
    if (missing) return null;
    if (this.type === 'limit') req.post_only = this.postOnly.checked;
    req.client_order_id = newClientOrderId();
    return req;
  }

  private async place(): Promise<void> {
    const m = this.market;
    if (this.busy) return;
    this.clearErrors();
    if (!m) {
      this.showError('form', 'Choose a market first.');
      return;
    }
    setText(this.result, '');
    if (!apiKey()) {
      this.showError('form', 'Sign in to trade.');
      return;
    }
    const req = this.buildRequest(m);
    if (!req) return;
    this.busy = true;
    this.submit.disabled = true;
    this.layout();
    try {
      const order = await api.placeOrder(req);
      this.showPlaced(order, m);
      this.deps.onPlaced();
    } catch (e) {
      this.showApiError(e);
      if (e instanceof ApiError && e.outcomeUnknown && req.client_order_id) {
        void this.checkUnknown(req.client_order_id, m);
      }
    } finally {
      this.busy = false;
      this.submit.disabled = false;
      this.layout();
    }
  }

  private showPlaced(order: Order, m: MarketInfo): void {
    const what = `${order.side} ${order.qty ?? order.quote_qty ?? ''}`.trim();
    const at = isLimitTwin(order.type) && order.price ? ` @ ${fixed(order.price, m.priceDecimals)}` : '';
    const when = order.triggered === false ? ` when ${triggerText(order)}` : '';
    const filled = order.filled_qty && !isZero(order.filled_qty) ? `, filled ${order.filled_qty}` : '';
    const text = `Order ${order.status.replace('_', ' ')}: ${what}${at}${when}${filled}`;
    setText(this.result, text);
    this.result.dataset.status = order.status;
    this.result.dataset.orderId = order.order_id;
    this.deps.notify(text, order.status === 'rejected' || order.status === 'expired' ? 'info' : 'ok');
    // keep the price for the next order, clear the size
    this.inputs.qty.value = '';
    this.inputs.quote_qty.value = '';
    this.refreshEstimates();
  }

  /** After a 503/504 the order may exist: look it up by its client id. */
  private async checkUnknown(clientOrderId: string, m: MarketInfo): Promise<void> {
    setText(this.result, 'Checking whether the order went through…');
    for (const delay of [1000, 3000]) {
      await new Promise((r) => setTimeout(r, delay));
      try {
        const order = await api.orderByClientId(clientOrderId);
        this.clearError('form');
        this.showPlaced(order, m);
        this.deps.onPlaced();
        return;
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) {
          setText(this.result, 'The order was not placed.');
          return;
        }
      }
    }
    setText(this.result, 'Could not confirm the order; see Open orders.');
    this.deps.onPlaced();
  }
}
