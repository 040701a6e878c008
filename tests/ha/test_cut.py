"""A shard's host cut off the network for 10 s while orders flow (no standby): calls that
need it fail fast with 503 once the heartbeat notices, no order answered 503 or 504 is
ever executed after its deadline, and service is back within 1.5 s of the link."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from hakit import MARKET, Trader, check_exchange, new_traders

from bourse.ids import shard_of_user
from harness.hostcluster import Layout, host_cluster

CUT_S = 10.0
WINDOW_MS = 1000
LAYOUT = Layout(markets={MARKET: "a"}, shards=["a", "b"], edge="c")


@dataclass
class Answer:
    client_id: str
    sent: float  # time.time() when sent
    took: float  # seconds to the answer
    status: int
    deadline_ms: int


@dataclass
class Flow:
    """One trader placing orders one after another, with a deadline each."""

    base_url: str
    trader: Trader
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=5.0) as client:
            number = 0
            while not self.stop.is_set():
                number += 1
                client_id = f"c{id(self)}-{number}"
                body = {
                    "market": MARKET,
                    "side": "buy" if number % 2 else "sell",
                    "type": "limit",
                    "price": "30000.00",
                    "qty": "0.0100",
                    "client_order_id": client_id,
                    "recv_window_ms": WINDOW_MS,
                }
                sent = time.time()
                deadline_ms = int(sent * 1000) + WINDOW_MS
                try:
                    answer = client.post("/api/v1/orders", json=body, headers=self.trader.headers)
                    status = answer.status_code
                except httpx.HTTPError:
                    status = 0
                took = time.time() - sent
                self.answers.append(Answer(client_id, sent, took, status, deadline_ms))
                if status != 201:
                    time.sleep(0.02)  # a client pausing after an error, as bots do


def test_a_cut_shard_host_fails_fast_executes_nothing_late_and_comes_back(
    tmp_path: Path,
) -> None:
    with host_cluster(tmp_path, LAYOUT) as c:
        if not c.network.isolated:
            pytest.fail("a network cut needs hosts in network namespaces (root)")
        for host in LAYOUT.host_names():
            c.start_host(host)
        c.wait_healthy()
        with c.api() as api:
            traders = new_traders(api, 4)
            on_b = [t for t in traders if shard_of_user(int(t.key.split(".")[0])) == 1]
            assert on_b, "sign-up spreads users over both shards"
            flows = [Flow(str(api.base_url), trader) for trader in traders]
            threads = [threading.Thread(target=flow.run, daemon=True) for flow in flows]
            for thread in threads:
                thread.start()
            time.sleep(1.0)  # orders flowing before the cut (the load's own pace)
            cut_at = time.time()
            c.network.cut("b")
            time.sleep(CUT_S)  # the cut lasts as long as the scenario says
            c.network.heal("b")
            healed_at = time.time()
            time.sleep(3.0)  # orders flowing after the link is back
            for flow in flows:
                flow.stop.set()
            for thread in threads:
                thread.join(10)

            for flow in flows:
                if flow.trader not in on_b:
                    # Users of the other shard were served throughout.
                    during = [a for a in flow.answers if cut_at < a.sent < healed_at]
                    assert during and all(a.status == 201 for a in during), during[:5]
                    continue
                # Fail fast once the heartbeat noticed: well within the cut, every call
                # is a 503 long before its deadline would have passed.
                settled = [a for a in flow.answers if cut_at + 2.0 < a.sent < healed_at - 0.5]
                assert settled, "calls during the cut"
                slow = [a for a in settled if a.status != 503 or a.took > WINDOW_MS / 2000]
                assert not slow, slow[:5]
                # Back within 1.5 s of the link.
                back = [a for a in flow.answers if a.sent > healed_at and a.status == 201]
                assert back and back[0].sent + back[0].took - healed_at < 1.5, back[:1]

            # No order answered 503 or 504 executed after its deadline: by client id it
            # never existed, was refused, or was placed (and any trade it took) in time.
            for flow in flows:
                failed = [a for a in flow.answers if a.status in (503, 504)]
                for answer in failed:
                    found = api.get(
                        f"/api/v1/orders/by-client-id/{answer.client_id}",
                        headers=flow.trader.headers,
                    )
                    if found.status_code == 404:
                        continue
                    order = found.json()
                    if order["status"] == "rejected":
                        continue
                    assert order["created_at"] <= answer.deadline_ms, (answer, order)
                    for fill in order["fills"]:
                        if fill["liquidity"] == "taker":
                            assert fill["time"] <= answer.deadline_ms, (answer, order)
            check_exchange(api, traders)
