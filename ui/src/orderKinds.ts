// What each order type needs and how its trigger reads: the form's choices mapped to the
// API's order types, no DOM.

import type { Order, OrderType, Side } from './types';

/** The order types the form offers, in its tab order. */
export const FORM_TYPES = ['limit', 'market', 'stop_limit', 'stop_market', 'take_profit_limit'] as const;
export type FormType = (typeof FORM_TYPES)[number];

export const FORM_LABELS: Record<FormType, string> = {
  limit: 'Limit',
  market: 'Market',
  stop_limit: 'Stop-limit',
  stop_market: 'Stop-market',
  take_profit_limit: 'Take-profit',
};

const LABELS: Record<OrderType, string> = {
  limit: 'limit',
  market: 'market',
  stop_limit: 'stop limit',
  stop_market: 'stop market',
  take_profit_limit: 'take-profit limit',
  take_profit_market: 'take-profit market',
};

/** Whether the order waits for a stop price (stop and take-profit orders). */
export function isConditional(type: OrderType): boolean {
  return type !== 'limit' && type !== 'market';
}

/** Whether the order is (or becomes once triggered) a limit order. */
export function isLimitTwin(type: OrderType): boolean {
  return type === 'limit' || type === 'stop_limit' || type === 'take_profit_limit';
}

export type AmountField = 'stop_price' | 'price' | 'qty' | 'quote_qty';

/** The inputs an order of this type and side gives: a limit twin its price and amount, a
 * market twin its amount (a buy spends a total instead), a conditional one its stop. */
export function fieldsFor(type: OrderType, side: Side): AmountField[] {
  const amounts: AmountField[] = isLimitTwin(type) ? ['price', 'qty'] : side === 'buy' ? ['quote_qty'] : ['qty'];
  return isConditional(type) ? ['stop_price', ...amounts] : amounts;
}

/** Which way the last price must move to trigger: stop buys and take-profit sells on a
 * rise (>=), stop sells and take-profit buys on a fall (<=). */
export function triggersOnRise(type: OrderType, side: Side): boolean {
  const stop = type === 'stop_limit' || type === 'stop_market';
  return stop === (side === 'buy');
}

/** "last ≥ 31000.00": the condition of a conditional order, '' for any other. */
export function triggerText(order: Pick<Order, 'type' | 'side' | 'stop_price'>): string {
  if (!isConditional(order.type) || !order.stop_price) return '';
  return `last ${triggersOnRise(order.type, order.side) ? '≥' : '≤'} ${order.stop_price}`;
}

export function typeLabel(type: OrderType): string {
  return LABELS[type] ?? type;
}

/** Milliseconds since the epoch of a `datetime-local` input's value (local time), or null. */
export function localDateTimeMs(value: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(value)) return null;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : null;
}

/** A `datetime-local` value (minutes) for a time in ms, in local time. */
export function toLocalDateTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
