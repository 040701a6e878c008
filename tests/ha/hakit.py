"""Traders for the failover tests, and what a user checks afterwards.

Traders place orders over HTTP through the gateway all the time, each with a client order
id, and remember what every acknowledged order looked like when it was acknowledged (201:
the order, its status and fills).  Errors (503/504 while a pair switches leaders) are
counted, not hidden.  Afterwards :func:`check_exchange` asks the exchange, as users would:
every acknowledged order is there with at least the fills it was acknowledged with, every
asset is conserved, no balance is negative, and the books equal the open orders.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

ADMIN = {"Authorization": "Bearer hosts-admin-key"}
MARKET = "BTC-USDT"


@dataclass
class Trader:
    key: str
    acked: dict[str, dict[str, Any]] = field(default_factory=dict)  # client id -> order
    errors: Counter[int] = field(default_factory=Counter)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def new_traders(api: httpx.Client, count: int) -> list[Trader]:
    traders = []
    for _ in range(count):
        created = api.post("/api/v1/users")
        assert created.status_code == 201, created.text
        trader = Trader(created.json()["api_key"])
        for asset, amount in (("USDT", "10000000"), ("BTC", "1000")):
            funded = api.post(
                "/api/v1/deposits",
                json={"asset": asset, "amount": amount},
                headers=trader.headers,
            )
            assert funded.status_code == 200, funded.text
        traders.append(trader)
    return traders


class Load:
    """Traders placing orders until stopped, in a thread of its own (an asyncio loop)."""

    def __init__(self, base_url: str, traders: list[Trader], seed: int = 1) -> None:
        self.base_url = base_url
        self.traders = traders
        self.random = random.Random(seed)
        self.ids = itertools.count()
        self.placed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    async def _run(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10.0) as client:
            await asyncio.gather(*(self._trade(client, t) for t in self.traders))

    async def _trade(self, client: httpx.AsyncClient, trader: Trader) -> None:
        while not self._stop.is_set():
            side = self.random.choice(("buy", "sell"))
            # Around 30,000: about half the orders trade against one resting before.
            price = 30_000 + self.random.randint(-5, 5) * (1 if side == "buy" else -1)
            client_id = f"o{next(self.ids)}"
            body = {
                "market": MARKET,
                "side": side,
                "type": "limit",
                "price": f"{price}.00",
                "qty": "0.0100",
                "client_order_id": client_id,
            }
            try:
                answer = await client.post("/api/v1/orders", json=body, headers=trader.headers)
            except httpx.HTTPError:
                trader.errors[0] += 1
                continue
            self.placed += 1
            if answer.status_code == 201:
                trader.acked[client_id] = answer.json()
            else:
                trader.errors[answer.status_code] += 1


def check_exchange(api: httpx.Client, traders: list[Trader]) -> None:
    """What users check after the storm (see the module's docstring)."""
    for trader in traders:
        for client_id, acked in trader.acked.items():
            found = api.get(f"/api/v1/orders/by-client-id/{client_id}", headers=trader.headers)
            assert found.status_code == 200, (client_id, found.text)
            order = found.json()
            assert order["order_id"] == acked["order_id"]
            assert Decimal(order["filled_qty"]) >= Decimal(acked["filled_qty"]), (acked, order)
            fills = {fill["trade_id"] for fill in order["fills"]}
            assert {fill["trade_id"] for fill in acked["fills"]} <= fills, (acked, order)
        for balance in api.get("/api/v1/balances", headers=trader.headers).json():
            assert Decimal(balance["free"]) >= 0 and Decimal(balance["locked"]) >= 0, balance
    # Conserved across shards once every engine report is settled: those a failover
    # interrupted are resent at the shards' next Sync.
    deadline = time.monotonic() + 15
    while True:
        totals = api.get("/api/v1/admin/totals", headers=ADMIN)
        assert totals.status_code == 200, totals.text
        if totals.json()["conserved"] is True:
            break
        assert time.monotonic() < deadline, totals.text
        time.sleep(0.1)  # polling the exchange's own totals
    # The books equal the open orders.
    believed: Counter[tuple[str, str]] = Counter()
    for trader in traders:
        listed = api.get(
            "/api/v1/orders",
            params={"market": MARKET, "status": "open", "limit": 1000},
            headers=trader.headers,
        )
        assert listed.status_code == 200, listed.text
        for order in listed.json():
            left = Decimal(order["qty"]) - Decimal(order["filled_qty"])
            believed[(order["side"], order["price"])] += left  # type: ignore[assignment]
    depth = api.get("/api/v1/depth", params={"market": MARKET, "limit": 1000}).json()
    book: Counter[tuple[str, str]] = Counter()
    for side, levels in (("buy", depth["bids"]), ("sell", depth["asks"])):
        for price, qty in levels:
            book[(side, price)] += Decimal(qty)  # type: ignore[assignment]
    assert +book == +believed, (book, believed)
