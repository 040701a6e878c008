"""Exact conversion between wire decimal strings and integer units.

Invariants:
- Inside the exchange every amount is an ``int`` count of an asset's smallest unit; a
  float never holds money.  On the wire every amount is a plain decimal string
  (``"30123.45"``): digits, an optional point and more digits, nothing else.
- ``parse_units(format_units(n, d), d) == n`` for every ``0 <= n <= MAX_UNITS``.
- Every refusal is an :class:`AmountError` whose ``code`` names the rule that failed and
  whose ``field`` names the input at fault.
"""

from __future__ import annotations

import re

#: Amounts stay inside a signed 64-bit integer so that every peer (msgpack, SQLite,
#: JavaScript BigInt) can hold them exactly.
MAX_UNITS = 2**63 - 1

_DECIMAL = re.compile(r"([0-9]{1,30})(?:\.([0-9]{1,30}))?")  # ASCII digits only


class AmountError(ValueError):
    """An amount broke one rule; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, field: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.message = message


def parse_units(text: object, decimals: int, *, field: str, positive: bool = True) -> int:
    """Parse ``text`` into integer units of an asset with ``decimals`` places.

    Codes: ``INVALID_FIELD`` (not a decimal string), ``NOT_POSITIVE`` (negative, or zero
    where ``positive``), ``TOO_PRECISE`` (more places than the asset has),
    ``OUT_OF_RANGE``.
    """
    if not isinstance(text, str):
        raise AmountError("INVALID_FIELD", field, f'{field} must be a decimal string such as "1.5"')
    match = _DECIMAL.fullmatch(text)
    if match is None:
        if text.startswith("-") and _DECIMAL.fullmatch(text[1:]):
            raise AmountError("NOT_POSITIVE", field, f"{field} must not be negative")
        raise AmountError(
            "INVALID_FIELD",
            field,
            f'{field} must be a decimal string such as "1.5" (digits and one point)',
        )
    whole, fraction = match.group(1), match.group(2) or ""
    stripped = fraction.rstrip("0")
    if len(stripped) > decimals:
        raise AmountError("TOO_PRECISE", field, f"{field} has more than {decimals} decimal places")
    scale: int = 10**decimals
    units = int(whole) * scale + (int(stripped.ljust(decimals, "0")) if decimals else 0)
    if units > MAX_UNITS:
        raise AmountError("OUT_OF_RANGE", field, f"{field} is too large")
    if positive and units == 0:
        raise AmountError("NOT_POSITIVE", field, f"{field} must be greater than zero")
    return units


def format_units(units: int, decimals: int) -> str:
    """Render integer units as a decimal string with exactly ``decimals`` places."""
    if decimals == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    whole, fraction = divmod(abs(units), 10**decimals)
    return f"{sign}{whole}.{fraction:0{decimals}d}"


def decimals_of(text: str) -> int:
    """Number of decimal places written in a step such as ``"0.01"`` (trailing zeros kept)."""
    return len(text.partition(".")[2])


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer division rounding up, for non-negative numerator and positive denominator."""
    quotient: int = -(-numerator // denominator)
    return quotient
