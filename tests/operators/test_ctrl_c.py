"""Ctrl-C where ``make run`` runs: the terminal sends SIGINT to every process of its
foreground group at once, the supervisor and each process it started, and the supervisor
then sends each a SIGTERM as well.  Every engine and shard still stops with a snapshot,
and the next start replays nothing."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from supervisedkit import supervised

HOST = "local"


def test_ctrl_c_stops_every_actor_with_a_snapshot_and_the_restart_replays_nothing(
    tmp_path: Path,
) -> None:
    with supervised(tmp_path, own_group=True) as s:
        actors = {e.name for e in s.config.engines.values()} | {p.name for p in s.config.shards}
        s.wait_healthy()
        with s.api() as api:
            created = api.post("/api/v1/users")
            assert created.status_code == 201, created.text
            headers = {"Authorization": f"Bearer {created.json()['api_key']}"}
            deposit = {"asset": "USDT", "amount": "1000"}
            assert api.post("/api/v1/deposits", json=deposit, headers=headers).status_code == 200
            order = {"market": "BTC-USDT", "side": "buy", "type": "limit"}
            order |= {"price": "100.00", "qty": "0.0100"}
            assert api.post("/api/v1/orders", json=order, headers=headers).status_code == 201

        supervisor = s.supervisors[HOST]
        os.killpg(supervisor.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        assert supervisor.wait(30) == 0
        stopped = {
            r["process"] for r in s.records(HOST) if r.get("msg") == "stopped with a snapshot"
        }
        assert stopped == actors

        s.start_host(HOST)
        s.wait_healthy()
        last_recovery = {r["process"]: r for r in s.records(HOST) if r.get("msg") == "recovered"}
        assert {name: last_recovery[name]["replayed"] for name in actors} == dict.fromkeys(
            actors, 0
        )
        assert last_recovery["accounts-0"]["snapshot_covers"] > 0 or (
            last_recovery["accounts-1"]["snapshot_covers"] > 0
        ), "the user's shard restored its snapshot"
