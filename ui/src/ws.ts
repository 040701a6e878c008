// The page's single WebSocket connection to the feed. It remembers the
// subscriptions the page wants, and after every (re)connect sends auth and all
// of them again. Reconnects with capped exponential back-off; pings every 15 s.
// Messages are typed by what the feed sends (types.ts): handlers are registered
// per channel for pushes and per `op` for replies, and get that one shape.

import { Listeners } from './listeners';
import type { Channel, Interval, PrivateChannel, Push, Reply, ReplyOp, ServerMessage } from './types';

export type ConnState = 'connected' | 'reconnecting' | 'down';

export interface Subscription {
  channel: Channel;
  market?: string;
  interval?: Interval;
}

type PushOf = { [C in Channel]: Extract<Push, { channel: C }> };
type ReplyOf = { [O in ReplyOp]: Extract<Reply, { op: O }> };

const PING_MS = 15000;
/** With no message at all for this long the connection is taken as dead. */
const SILENCE_MS = 45000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15000;
/** Failed attempts in a row after which the indicator shows "down". */
const DOWN_AFTER = 4;

export const PRIVATE_CHANNELS: ReadonlySet<string> = new Set<PrivateChannel>(['orders', 'fills', 'balances']);
// Records, not lists: the compiler checks that each names every channel and op.
const CHANNELS: Record<Channel, true> = {
  status: true,
  depth: true,
  trades: true,
  ticker: true,
  kline: true,
  orders: true,
  fills: true,
  balances: true,
};
const REPLY_OPS: Record<ReplyOp, true> = {
  subscribed: true,
  unsubscribed: true,
  authenticated: true,
  error: true,
  pong: true,
};

function isKeyOf<T extends object>(table: T, key: unknown): key is keyof T {
  return typeof key === 'string' && Object.hasOwn(table, key);
}

/**
 * Whether a parsed JSON value is a message of the feed's: an object with a known
 * `op` (a reply), or without `op` and with a known `channel` (a push). The fields
 * beyond these are the server's contract and are not checked one by one.
 */
export function isServerMessage(value: unknown): value is ServerMessage {
  if (typeof value !== 'object' || value === null) return false;
  if ('op' in value) return isKeyOf(REPLY_OPS, value.op);
  return 'channel' in value && isKeyOf(CHANNELS, value.channel);
}

/** One faulty handler must not stop the others or the socket. */
function handlerFailed(error: unknown): void {
  console.warn('feed handler failed', error);
}

function subKey(s: Subscription): string {
  return [s.channel, s.market ?? '', s.interval ?? ''].join('|');
}

function subMessage(op: 'subscribe' | 'unsubscribe', s: Subscription): Record<string, string> {
  const m: Record<string, string> = { op, channel: s.channel };
  if (s.market) m.market = s.market;
  if (s.interval) m.interval = s.interval;
  return m;
}

export class FeedSocket {
  private url: string | null = null;
  private ws: WebSocket | null = null;
  private readonly subs = new Map<string, Subscription>();
  private readonly pushHandlers = new Listeners<PushOf>(handlerFailed);
  private readonly replyHandlers = new Listeners<ReplyOf>(handlerFailed);
  private readonly stateListeners = new Set<(s: ConnState) => void>();
  private readonly openListeners = new Set<() => void>();
  private readonly closeListeners = new Set<() => void>();
  private authKey: string | null = null;
  private failures = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastMessageAt = 0;
  private _state: ConnState = 'reconnecting';

  get state(): ConnState {
    return this._state;
  }

  get isOpen(): boolean {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Starts connecting to `url`; safe to call once. */
  start(url: string): void {
    this.url = url;
    this.connect();
  }

  /** Calls `handler` with every push of `channel`; returns what unregisters it. */
  on<C extends Channel>(channel: C, handler: (msg: PushOf[C]) => void): () => void {
    return this.pushHandlers.add(channel, handler);
  }

  /** Calls `handler` with every reply `op` (an ack, `error`, `pong`). */
  onReply<O extends ReplyOp>(op: O, handler: (msg: ReplyOf[O]) => void): () => void {
    return this.replyHandlers.add(op, handler);
  }

  onState(l: (s: ConnState) => void): void {
    this.stateListeners.add(l);
    l(this._state);
  }

  /** Called after every successful (re)connect, once auth and subscriptions are sent. */
  onOpen(l: () => void): void {
    this.openListeners.add(l);
  }

  /** Called whenever an open connection is lost. */
  onClose(l: () => void): void {
    this.closeListeners.add(l);
  }

  subscribe(s: Subscription): void {
    const k = subKey(s);
    if (this.subs.has(k)) return;
    this.subs.set(k, s);
    if (PRIVATE_CHANNELS.has(s.channel) && !this.authKey) return;
    this.send(subMessage('subscribe', s));
  }

  unsubscribe(s: Subscription): void {
    const k = subKey(s);
    if (!this.subs.delete(k)) return;
    if (PRIVATE_CHANNELS.has(s.channel) && !this.authKey) return;
    this.send(subMessage('unsubscribe', s));
  }

  /** Unsubscribe and subscribe again, e.g. to get a fresh depth snapshot. */
  resubscribe(s: Subscription): void {
    if (!this.subs.has(subKey(s))) return;
    this.send(subMessage('unsubscribe', s));
    this.send(subMessage('subscribe', s));
  }

  /**
   * Sets the key used for the private channels. Signing in on an open
   * connection authenticates it in place; changing or dropping the key opens a
   * new connection so that the old session's events stop.
   */
  setAuth(key: string | null): void {
    if (key === this.authKey) return;
    const had = this.authKey;
    this.authKey = key;
    if (!this.isOpen) return;
    if (had === null && key) {
      this.sendAuthAndPrivate();
    } else {
      this.restart();
    }
  }

  send(msg: unknown): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    try {
      this.ws.send(JSON.stringify(msg));
      return true;
    } catch {
      return false;
    }
  }

  private setState(s: ConnState): void {
    if (s === this._state) return;
    this._state = s;
    for (const l of this.stateListeners) l(s);
  }

  private connect(): void {
    if (!this.url) return;
    this.clearReconnect();
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.failures = 0;
      this.lastMessageAt = Date.now();
      this.setState('connected');
      if (this.authKey) this.sendAuthAndPrivate();
      for (const s of this.subs.values()) {
        if (!PRIVATE_CHANNELS.has(s.channel)) this.send(subMessage('subscribe', s));
      }
      this.startPing();
      for (const l of this.openListeners) l();
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (ws !== this.ws) return;
      this.lastMessageAt = Date.now();
      this.dispatch(ev.data);
    };
    ws.onerror = () => {
      // the close event that follows does the work
    };
    ws.onclose = () => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.stopPing();
      for (const l of this.closeListeners) l();
      this.scheduleReconnect();
    };
  }

  private sendAuthAndPrivate(): void {
    if (!this.authKey) return;
    this.send({ op: 'auth', api_key: this.authKey });
    for (const s of this.subs.values()) {
      if (PRIVATE_CHANNELS.has(s.channel)) this.send(subMessage('subscribe', s));
    }
  }

  /** Detaches and closes the current socket, telling the close listeners. */
  private abandon(code: number, reason: string): void {
    const old = this.ws;
    this.ws = null;
    this.stopPing();
    if (!old) return;
    old.onopen = old.onmessage = old.onclose = old.onerror = null;
    try {
      old.close(code, reason);
    } catch {
      // already closing
    }
    for (const l of this.closeListeners) l();
  }

  /** Drops the current connection and opens a new one straight away. */
  private restart(): void {
    this.abandon(1000, 'restart');
    this.failures = 0;
    this.setState('reconnecting');
    this.connect();
  }

  private scheduleReconnect(): void {
    this.clearReconnect();
    this.failures += 1;
    this.setState(this.failures > DOWN_AFTER ? 'down' : 'reconnecting');
    const exp = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(this.failures - 1, 10));
    const delay = exp / 2 + Math.random() * (exp / 2);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private clearReconnect(): void {
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private startPing(): void {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastMessageAt > SILENCE_MS) {
        // silent for too long: treat the connection as dead
        this.abandon(4000, 'no answer');
        this.scheduleReconnect();
        return;
      }
      this.send({ op: 'ping' });
    }, PING_MS);
  }

  private stopPing(): void {
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  private dispatch(raw: unknown): void {
    if (typeof raw !== 'string') return;
    let msg: unknown;
    try {
      msg = JSON.parse(raw);
    } catch {
      return;
    }
    if (!isServerMessage(msg)) return;
    if ('op' in msg) this.replyHandlers.emit(msg.op, msg);
    else this.pushHandlers.emit(msg.channel, msg);
  }
}
