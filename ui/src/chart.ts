// Candlestick chart (with volume) of the selected market and interval.
// Prices become numbers here only, for drawing.

import {
  type CandlestickData,
  CandlestickSeries,
  ColorType,
  CrosshairMode,
  createChart,
  type HistogramData,
  HistogramSeries,
  type IChartApi,
  type ISeriesApi,
  TickMarkType,
  type Time,
  type UTCTimestamp,
} from 'lightweight-charts';
import type { MarketInfo } from './store';
import type { Kline } from './types';

export const COLORS = {
  up: '#0ecb81',
  down: '#f6465d',
  upFaint: 'rgba(14, 203, 129, 0.35)',
  downFaint: 'rgba(246, 70, 93, 0.35)',
  text: '#848e9c',
  grid: 'rgba(43, 49, 57, 0.6)',
  border: '#2b3139',
  bg: '#161a1e',
};

export const CHART_LAYOUT = {
  background: { type: ColorType.Solid, color: COLORS.bg },
  textColor: COLORS.text,
  fontSize: 11,
  fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  attributionLogo: true,
};

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Local-time crosshair label for a UTC timestamp (seconds). */
function localLabel(time: Time): string {
  if (typeof time !== 'number') return String(time);
  const d = new Date(time * 1000);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

/** Local-time axis label; coarser marks show the day, month or year. */
function tickLabel(time: Time, type: TickMarkType): string {
  if (typeof time !== 'number') return String(time);
  const d = new Date(time * 1000);
  switch (type) {
    case TickMarkType.Year:
      return String(d.getFullYear());
    case TickMarkType.Month:
      return MONTHS[d.getMonth()]!;
    case TickMarkType.DayOfMonth:
      return `${d.getDate()} ${MONTHS[d.getMonth()]}`;
    default:
      return `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  }
}

function toCandle(k: Kline): CandlestickData<Time> {
  return {
    time: Math.floor(k.time / 1000) as UTCTimestamp,
    open: Number(k.open),
    high: Number(k.high),
    low: Number(k.low),
    close: Number(k.close),
  };
}

function toVolume(k: Kline): HistogramData<Time> {
  return {
    time: Math.floor(k.time / 1000) as UTCTimestamp,
    value: Number(k.volume),
    color: Number(k.close) >= Number(k.open) ? COLORS.upFaint : COLORS.downFaint,
  };
}

export class CandleChart {
  private readonly chart: IChartApi;
  private readonly candles: ISeriesApi<'Candlestick'>;
  private readonly volume: ISeriesApi<'Histogram'>;
  private lastTime: number | null = null;
  private loaded = false;
  private pending: Kline[] = [];

  constructor(container: HTMLElement) {
    this.chart = createChart(container, {
      autoSize: true,
      layout: CHART_LAYOUT,
      grid: { vertLines: { color: COLORS.grid }, horzLines: { color: COLORS.grid } },
      crosshair: { mode: CrosshairMode.Normal },
      rightPriceScale: { borderColor: COLORS.border },
      timeScale: {
        borderColor: COLORS.border,
        timeVisible: true,
        secondsVisible: false,
        tickMarkFormatter: (time: Time, type: TickMarkType) => tickLabel(time, type),
      },
      localization: { timeFormatter: (time: Time) => localLabel(time) },
    });
    this.candles = this.chart.addSeries(CandlestickSeries, {
      upColor: COLORS.up,
      downColor: COLORS.down,
      borderUpColor: COLORS.up,
      borderDownColor: COLORS.down,
      wickUpColor: COLORS.up,
      wickDownColor: COLORS.down,
    });
    this.volume = this.chart.addSeries(HistogramSeries, {
      priceFormat: { type: 'volume' },
      priceScaleId: 'volume',
      lastValueVisible: false,
      priceLineVisible: false,
    });
    this.chart.priceScale('volume').applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    this.candles.priceScale().applyOptions({ scaleMargins: { top: 0.08, bottom: 0.25 } });
  }

  /** Clears the chart for a new market or interval; live bars wait for load(). */
  reset(m: MarketInfo): void {
    this.loaded = false;
    this.pending = [];
    this.lastTime = null;
    this.candles.setData([]);
    this.volume.setData([]);
    this.candles.applyOptions({
      priceFormat: { type: 'price', precision: m.priceDecimals, minMove: Number(m.tick) || 10 ** -m.priceDecimals },
    });
  }

  load(klines: Kline[]): void {
    const sorted = [...klines].sort((a, b) => a.time - b.time);
    const unique: Kline[] = [];
    for (const k of sorted) {
      if (unique.length && unique[unique.length - 1]!.time === k.time) unique[unique.length - 1] = k;
      else unique.push(k);
    }
    this.candles.setData(unique.map(toCandle));
    this.volume.setData(unique.map(toVolume));
    this.lastTime = unique.length ? unique[unique.length - 1]!.time : null;
    this.loaded = true;
    const pending = this.pending;
    this.pending = [];
    for (const k of pending) this.update(k);
    this.chart.timeScale().scrollToRealTime();
  }

  /** A live bar: replaces the last candle or appends a new one. */
  update(k: Kline): void {
    if (!this.loaded) {
      this.pending.push(k);
      return;
    }
    if (this.lastTime !== null && k.time < this.lastTime) return;
    this.candles.update(toCandle(k));
    this.volume.update(toVolume(k));
    this.lastTime = k.time;
  }
}
