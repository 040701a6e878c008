// Depth chart: cumulative bid and ask size against price.

import {
  type AreaData,
  AreaSeries,
  createOptionsChart,
  type DeepPartial,
  type IChartApiBase,
  type ISeriesApi,
  LineType,
  type PriceChartOptions,
} from 'lightweight-charts';
import { cumulative, type DepthBook, qtyScale } from './book';
import { CHART_LAYOUT, COLORS } from './chart';
import type { MarketInfo } from './store';

/** Levels per side drawn. */
const LEVELS = 50;
const REDRAW_MS = 250;

export class DepthChart {
  private readonly chart: IChartApiBase<number>;
  private readonly bids: ISeriesApi<'Area', number>;
  private readonly asks: ISeriesApi<'Area', number>;
  private market: MarketInfo | null = null;
  private book: DepthBook | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(container: HTMLElement) {
    this.chart = createOptionsChart(container, {
      autoSize: true,
      layout: CHART_LAYOUT,
      grid: { vertLines: { visible: false }, horzLines: { color: COLORS.grid } },
      rightPriceScale: { borderColor: COLORS.border, scaleMargins: { top: 0.1, bottom: 0 } },
      timeScale: { borderColor: COLORS.border },
      handleScroll: false,
      handleScale: false,
    });
    const common = {
      lineWidth: 2 as const,
      lineType: LineType.WithSteps,
      priceLineVisible: false,
      lastValueVisible: false,
      crosshairMarkerVisible: true,
    };
    this.bids = this.chart.addSeries(AreaSeries, {
      ...common,
      lineColor: COLORS.up,
      topColor: 'rgba(14, 203, 129, 0.35)',
      bottomColor: 'rgba(14, 203, 129, 0.05)',
    });
    this.asks = this.chart.addSeries(AreaSeries, {
      ...common,
      lineColor: COLORS.down,
      topColor: 'rgba(246, 70, 93, 0.35)',
      bottomColor: 'rgba(246, 70, 93, 0.05)',
    });
  }

  setMarket(m: MarketInfo, book: DepthBook): void {
    this.market = m;
    this.book = book;
    const opts: DeepPartial<PriceChartOptions> = { localization: { precision: m.priceDecimals } };
    this.chart.applyOptions(opts);
    const fmt = { type: 'price' as const, precision: m.qtyDecimals, minMove: 10 ** -m.qtyDecimals };
    this.bids.applyOptions({ priceFormat: fmt });
    this.asks.applyOptions({ priceFormat: fmt });
    this.bids.setData([]);
    this.asks.setData([]);
  }

  /** Redraws soon (at most every REDRAW_MS). */
  schedule(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.draw();
    }, REDRAW_MS);
  }

  private draw(): void {
    const m = this.market;
    const book = this.book;
    if (!m || !book) return;
    if (!book.ready) {
      this.bids.setData([]);
      this.asks.setData([]);
      return;
    }
    const scale = qtyScale([book.asks, book.bids], m.qtyDecimals, LEVELS);
    const toPoint = (price: string, cum: bigint): AreaData<number> => ({
      time: Number(price),
      value: Number(cum) / 10 ** scale,
    });
    const bids = cumulative(book.bids, m.qtyDecimals, LEVELS, scale)
      .map((l) => toPoint(l.price, l.cumScaled))
      .reverse();
    const asks = cumulative(book.asks, m.qtyDecimals, LEVELS, scale).map((l) => toPoint(l.price, l.cumScaled));
    this.bids.setData(strictlyAscending(bids));
    this.asks.setData(strictlyAscending(asks));
    if (bids.length || asks.length) this.chart.timeScale().fitContent();
  }
}

/** The chart needs strictly increasing x values; drops any repeat. */
function strictlyAscending(points: AreaData<number>[]): AreaData<number>[] {
  const out: AreaData<number>[] = [];
  for (const p of points) {
    if (!out.length || p.time > out[out.length - 1]!.time) out.push(p);
  }
  return out;
}
