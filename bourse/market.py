"""A market's trading rules, and the conversions between its wire strings and units.

Invariants:
- A price is an ``int`` count of the quote asset's smallest unit per one whole base unit,
  and a multiple of ``tick``.  A quantity is an ``int`` count of the base asset's smallest
  unit, and a multiple of ``lot``.
- ``tick * lot`` is a multiple of ``base_scale`` (checked when the config loads), so the
  notional ``price * qty // base_scale`` of any order on the grid is exact: no rounding
  ever happens when money changes hands, only when a fee is charged (rounded up).
- Fee rates are integer parts per million (``FEE_SCALE``).
"""

from __future__ import annotations

from dataclasses import dataclass

from bourse.money import AmountError, format_units, parse_units

FEE_SCALE = 1_000_000


@dataclass(frozen=True, slots=True)
class Market:
    name: str
    base: str
    quote: str
    base_decimals: int
    quote_decimals: int
    price_decimals: int
    qty_decimals: int
    tick: int
    lot: int
    min_notional: int
    maker_fee_ppm: int
    taker_fee_ppm: int

    @property
    def base_scale(self) -> int:
        scale: int = 10**self.base_decimals
        return scale

    @property
    def max_fee_ppm(self) -> int:
        return max(self.maker_fee_ppm, self.taker_fee_ppm)

    def notional(self, price: int, qty: int) -> int:
        """Quote units that ``qty`` base units cost at ``price``; exact on the grid."""
        return price * qty // self.base_scale

    def parse_price(self, text: object, field: str = "price") -> int:
        units = _parse_on_grid(text, self.quote_decimals, field, "OFF_TICK")
        if units % self.tick:
            raise AmountError(
                "OFF_TICK", field, f"{field} must be a multiple of the tick {self.tick_text}"
            )
        return units

    def parse_qty(self, text: object, field: str = "qty") -> int:
        units = _parse_on_grid(text, self.base_decimals, field, "OFF_LOT")
        if units % self.lot:
            raise AmountError(
                "OFF_LOT", field, f"{field} must be a multiple of the lot {self.lot_text}"
            )
        return units

    def parse_quote(self, text: object, field: str = "quote_qty") -> int:
        return parse_units(text, self.quote_decimals, field=field)

    def format_price(self, units: int) -> str:
        return _format_trimmed(units, self.quote_decimals, self.price_decimals)

    def format_qty(self, units: int) -> str:
        return _format_trimmed(units, self.base_decimals, self.qty_decimals)

    def format_quote(self, units: int) -> str:
        return format_units(units, self.quote_decimals)

    @property
    def tick_text(self) -> str:
        return self.format_price(self.tick)

    @property
    def lot_text(self) -> str:
        return self.format_qty(self.lot)


def _parse_on_grid(text: object, decimals: int, field: str, off_grid_code: str) -> int:
    try:
        return parse_units(text, decimals, field=field)
    except AmountError as error:
        if error.code == "TOO_PRECISE":
            raise AmountError(off_grid_code, field, error.message) from None
        raise


def _format_trimmed(units: int, decimals: int, shown: int) -> str:
    """Format with ``shown`` places; the dropped places are zero on the grid."""
    return format_units(units // 10 ** (decimals - shown), shown)


def format_fee_rate(ppm: int) -> str:
    text = format_units(ppm, 6).rstrip("0")
    return text + "0" if text.endswith(".") else text
