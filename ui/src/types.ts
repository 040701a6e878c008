// Shapes of the public API (see the API contract). Amounts are decimal strings,
// times are milliseconds since the Unix epoch.

export type Side = 'buy' | 'sell';
export type OrderType = 'limit' | 'market';
export type TimeInForce = 'GTC' | 'IOC' | 'FOK';
export type OrderStatus = 'new' | 'partially_filled' | 'filled' | 'cancelled' | 'expired' | 'rejected';

export const INTERVALS = ['1m', '5m', '15m', '1h', '4h', '1d'] as const;
export type Interval = (typeof INTERVALS)[number];

export interface Info {
  ws_url: string;
  signup: boolean;
  faucet: boolean;
}

export interface Market {
  market: string;
  base: string;
  quote: string;
  tick: string;
  lot: string;
  min_notional: string;
  maker_fee: string;
  taker_fee: string;
  status: string;
}

export interface Ticker {
  market: string;
  last: string;
  open: string;
  high: string;
  low: string;
  volume: string;
  quote_volume: string;
  change: string;
}

export interface Trade {
  trade_id: string;
  price: string;
  qty: string;
  taker_side: Side;
  time: number;
}

export interface Kline {
  time: number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
}

export interface Balance {
  asset: string;
  free: string;
  locked: string;
}

export interface Fill {
  trade_id: string;
  order_id: string;
  market: string;
  side: Side;
  price: string;
  qty: string;
  fee: string;
  fee_asset: string;
  liquidity: string;
  time: number;
}

export interface Order {
  order_id: string;
  client_order_id: string | null;
  market: string;
  side: Side;
  type: OrderType;
  price: string | null;
  qty: string | null;
  quote_qty: string | null;
  filled_qty: string;
  filled_quote: string;
  status: OrderStatus;
  time_in_force: TimeInForce;
  post_only: boolean;
  created_at: number;
  updated_at: number;
  fills?: Fill[];
}

export interface OrderRequest {
  market: string;
  side: Side;
  type: OrderType;
  price?: string;
  qty?: string;
  quote_qty?: string;
  time_in_force?: TimeInForce;
  post_only?: boolean;
  client_order_id?: string;
}

export interface UserCreated {
  user_id: string;
  api_key: string;
}

export const OPEN_STATUSES: ReadonlySet<string> = new Set(['new', 'partially_filled']);
