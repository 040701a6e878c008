// REST client for /api/v1. Every failure becomes an ApiError carrying the
// contract's {code, message, field}.

import { apiKey } from './session';
import type {
  ApiKeyCreated,
  ApiKeyInfo,
  Balance,
  Fill,
  Info,
  Interval,
  KeyRequest,
  Kline,
  Market,
  Order,
  OrderRequest,
  Ticker,
  Trade,
  UserCreated,
} from './types';

const BASE = '/api/v1';
const TIMEOUT_MS = 15000;

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;

  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field || undefined;
  }

  /** The request may or may not have been carried out (503 / 504 / lost answer). */
  get outcomeUnknown(): boolean {
    return this.status === 503 || this.status === 504 || this.code === 'UNAVAILABLE' || this.code === 'TIMEOUT';
  }
}

type Query = Record<string, string | number | undefined>;

interface RequestOptions {
  query?: Query;
  body?: unknown;
  auth?: boolean;
  /** Use this key instead of the stored one (to check a key before keeping it). */
  key?: string;
}

function url(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== '') params.set(k, String(v));
  }
  const qs = params.toString();
  return BASE + path + (qs ? `?${qs}` : '');
}

async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.auth) {
    const key = opts.key ?? apiKey();
    if (!key) throw new ApiError(401, 'UNAUTHENTICATED', 'Sign in first');
    headers.Authorization = `Bearer ${key}`;
  }
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(url(path, opts.query), {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: ctrl.signal,
    });
  } catch (e) {
    const aborted = e instanceof DOMException && e.name === 'AbortError';
    throw aborted
      ? new ApiError(0, 'TIMEOUT', 'The server did not answer in time')
      : new ApiError(0, 'NETWORK', 'Cannot reach the server');
  } finally {
    clearTimeout(timer);
  }

  let data: unknown = null;
  const text = await res.text().catch(() => '');
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const body = (data && typeof data === 'object' ? data : {}) as Record<string, unknown>;
    const code = typeof body.code === 'string' ? body.code : `HTTP_${res.status}`;
    const message =
      typeof body.message === 'string' && body.message
        ? body.message
        : typeof body.detail === 'string'
          ? body.detail
          : res.statusText || `Request failed (${res.status})`;
    const field = typeof body.field === 'string' ? body.field : undefined;
    throw new ApiError(res.status, code, message, field);
  }
  if (data === null && text) throw new ApiError(res.status, 'BAD_RESPONSE', 'The server sent an unreadable answer');
  return data as T;
}

export const api = {
  info: () => request<Info>('GET', '/info'),
  markets: () => request<Market[]>('GET', '/markets'),
  tickers: (market?: string) => request<Ticker[]>('GET', '/tickers', { query: { market } }),
  trades: (market: string, limit = 100) => request<Trade[]>('GET', '/trades', { query: { market, limit } }),
  klines: (market: string, interval: Interval, limit = 500) =>
    request<Kline[]>('GET', '/klines', { query: { market, interval, limit } }),

  createUser: () => request<UserCreated>('POST', '/users'),
  balances: (key?: string) => request<Balance[]>('GET', '/balances', { auth: true, key }),
  deposit: (asset: string, amount: string) =>
    request<Balance>('POST', '/deposits', { auth: true, body: { asset, amount } }),
  withdraw: (asset: string, amount: string) =>
    request<Balance>('POST', '/withdrawals', { auth: true, body: { asset, amount } }),

  placeOrder: (order: OrderRequest) => request<Order>('POST', '/orders', { auth: true, body: order }),
  /** Newest first; with `end`, those created at or before it (to page back). */
  orders: (market: string | undefined, status: 'open' | 'all', limit = 100, end?: number) =>
    request<Order[]>('GET', '/orders', { auth: true, query: { market, status, limit, end } }),
  orderByClientId: (clientOrderId: string) =>
    request<Order>('GET', `/orders/by-client-id/${encodeURIComponent(clientOrderId)}`, { auth: true }),
  cancelOrder: (orderId: string) => request<Order>('DELETE', `/orders/${encodeURIComponent(orderId)}`, { auth: true }),
  cancelAll: (market?: string) => request<Order[]>('DELETE', '/orders', { auth: true, query: { market } }),
  fills: (market: string | undefined, limit = 100) =>
    request<Fill[]>('GET', '/fills', { auth: true, query: { market, limit } }),

  keys: () => request<ApiKeyInfo[]>('GET', '/keys', { auth: true }),
  createKey: (body: KeyRequest) => request<ApiKeyCreated>('POST', '/keys', { auth: true, body }),
  revokeKey: (keyId: string) => request<ApiKeyInfo>('DELETE', `/keys/${encodeURIComponent(keyId)}`, { auth: true }),
};

/** A message fit for the screen from anything thrown. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message || e.code;
  if (e instanceof Error) return e.message;
  return String(e);
}
