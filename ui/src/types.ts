// Shapes of the public API (see the API contract), as the server builds them
// (api/wire.py, feed/wire.py). Amounts are decimal strings, times are milliseconds
// since the Unix epoch.

export type Side = 'buy' | 'sell';
export type OrderType = 'limit' | 'market' | 'stop_limit' | 'stop_market' | 'take_profit_limit' | 'take_profit_market';
export type TimeInForce = 'GTC' | 'IOC' | 'FOK' | 'GTD';
export type Liquidity = 'maker' | 'taker';
export type SelfTradePrevention = 'expire_taker' | 'expire_maker' | 'expire_both';
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
  fill_id: string;
  trade_id: string;
  order_id: string;
  market: string;
  side: Side;
  price: string;
  qty: string;
  fee: string;
  fee_asset: string;
  liquidity: Liquidity;
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
  fee: string;
  fee_asset: string;
  status: OrderStatus;
  time_in_force: TimeInForce;
  post_only: boolean;
  stp: SelfTradePrevention;
  created_at: number;
  updated_at: number;
  fills: Fill[];
  /** Stop and take-profit orders only (null otherwise). */
  stop_price: string | null;
  /** GTD orders only: when the order expires (ms). */
  expire_time: number | null;
  /** false until the stop triggers; null for an order without a stop. */
  triggered: boolean | null;
  list_id: string | null;
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
  stop_price?: string;
  expire_time?: number;
}

export interface UserCreated {
  user_id: string;
  api_key: string;
}

export const SCOPES = ['read', 'trade', 'withdraw', 'keys'] as const;
export type Scope = (typeof SCOPES)[number];

/** One of the user's API keys, as GET /keys lists it (never its secret). */
export interface ApiKeyInfo {
  key_id: string;
  label: string;
  scopes: Scope[];
  allowed_ips: string[];
  created_at: number;
}

/** A key just created: the secret is in `api_key`, shown this once. */
export interface ApiKeyCreated extends ApiKeyInfo {
  api_key: string;
}

export interface KeyRequest {
  label: string;
  scopes: Scope[];
  allowed_ips?: string[];
}

export const OPEN_STATUSES: ReadonlySet<string> = new Set(['new', 'partially_filled']);

// ---- what the feed sends on its WebSocket (feed/wire.py) ----------------------

/** One price level: the price and the level's new total, "0" when it is gone. */
export type Level = [price: string, qty: string];

export interface DepthSnapshot {
  channel: 'depth';
  type: 'snapshot';
  market: string;
  seq: number;
  bids: Level[];
  asks: Level[];
  checksum: number;
}

export interface DepthUpdate {
  channel: 'depth';
  type: 'update';
  market: string;
  seq: number;
  prev_seq: number;
  bids: Level[];
  asks: Level[];
  checksum: number;
}

export interface TradePush extends Trade {
  channel: 'trades';
  market: string;
}

export interface TickerPush extends Ticker {
  channel: 'ticker';
}

export interface KlinePush extends Kline {
  channel: 'kline';
  market: string;
  interval: Interval;
  closed: boolean;
}

/** The private pushes are the REST objects with their channel. */
export interface OrderPush extends Order {
  channel: 'orders';
}

export interface FillPush extends Fill {
  channel: 'fills';
}

export interface BalancePush extends Balance {
  channel: 'balances';
}

/** A market's data went stale (its engine fell silent) or is live again. */
export interface StatusPush {
  channel: 'status';
  market: string;
  status: 'stale' | 'live';
}

export type Push =
  | StatusPush
  | DepthSnapshot
  | DepthUpdate
  | TradePush
  | TickerPush
  | KlinePush
  | OrderPush
  | FillPush
  | BalancePush;
export type Channel = Push['channel'];
export type PrivateChannel = 'orders' | 'fills' | 'balances';

/** Answers to the client's ops; they name the channel they answer, if any. */
interface SubscriptionAck {
  channel: Channel;
  market?: string;
  interval?: Interval;
}

export interface Subscribed extends SubscriptionAck {
  op: 'subscribed';
}

export interface Unsubscribed extends SubscriptionAck {
  op: 'unsubscribed';
}

export interface Authenticated {
  op: 'authenticated';
  user_id: string;
}

export interface FeedError {
  op: 'error';
  message: string;
  channel?: string;
  market?: string;
}

export interface Pong {
  op: 'pong';
}

export type Reply = Subscribed | Unsubscribed | Authenticated | FeedError | Pong;
export type ReplyOp = Reply['op'];

/** Every message the feed sends: a push (no `op`) or a reply (with `op`). */
export type ServerMessage = Push | Reply;
