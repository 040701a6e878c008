"""What durability costs and how fast an actor comes back.

1. Replay: a journal of N engine commands (default 1,000,000: places near the touch,
   cancels, some aggressive orders) is written, then an engine actor recovers from it
   in-process: commands/s of replay.
2. Restart: a real engine process starts on that journal; seconds until it answers.
3. Group commit: orders/s and latency through the real actors with ``fsync = "batch"``
   against ``fsync = "none"`` (the pipeline benchmark's saturation and 1,000/s phases).

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

import msgspec

from actors.durable import Entry
from actors.engine.actor import EngineActor
from actors.engine.messages import Cancel, Place
from actors.engine.protocol import EngineRequest
from bench import pipeline
from bourse.config import load_config
from bourse.journal import Journal
from harness.cluster import cluster, write_config

MARKET = "BTC-USDT"
TICK = 10_000
LOT = 10_000
MID = 30_000 * 1_000_000


def commands(count: int, seed: int) -> list[EngineRequest]:
    rng = random.Random(seed)
    live: list[tuple[int, int]] = []
    requests = []
    for seq in range(1, count + 1):
        roll = rng.random()
        user = rng.randrange(1, 1001)
        if live and roll < (0.45 if len(live) < 1000 else 0.6):
            index = rng.randrange(len(live))
            live[index], live[-1] = live[-1], live[index]
            order_id, owner = live.pop()
            command: Place | Cancel = Cancel(order_id, owner)
        else:
            side = "buy" if rng.random() < 0.5 else "sell"
            aggressive = roll > 0.95
            offset = rng.randint(1, 20) * TICK
            if aggressive:
                price = MID + offset if side == "buy" else MID - offset
            else:
                price = MID - offset if side == "buy" else MID + offset
            command = Place(seq, user, side, "limit", price, rng.randint(1, 10) * LOT)
            live.append((seq, user))
        requests.append(EngineRequest(0, seq, command))
    return requests


def write_journal(folder: Path, requests: list[EngineRequest]) -> None:
    journal = Journal(folder, fsync=False)
    journal.recover()
    encoder = msgspec.msgpack.Encoder()
    for index, request in enumerate(requests):
        body = encoder.encode(request)
        journal.append(
            encoder.encode(Entry(1_700_000_000_000 + index, "router", b"accounts-0", 0, body))
        )
        if index % 10_000 == 9_999:
            journal.commit()
    journal.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-fsync", action="store_true", help="skip the group-commit phase")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        config_path = write_config(folder, snapshot_every=10**9)
        config = load_config(config_path)
        data = folder / "data"
        os.environ["BOURSE_DATA_DIR"] = str(data)
        started = time.perf_counter()
        write_journal(data / f"engine-{MARKET}", commands(args.commands, args.seed))
        size = sum(p.stat().st_size for p in (data / f"engine-{MARKET}").iterdir())
        print(
            f"journal: {args.commands:,} commands, {size / 1e6:.1f} MB, "
            f"written in {time.perf_counter() - started:.1f} s"
        )

        actor = EngineActor(config, MARKET)
        started = time.perf_counter()
        actor.open_journal(config)
        replay_s = time.perf_counter() - started
        replay_rate = args.commands / replay_s
        print(
            f"replay in-process: {replay_s:.2f} s, {replay_rate:,.0f} commands/s, "
            f"{len(actor.engine.orders):,} orders resting afterwards"
        )
        actor.journal.close()
        del actor

        (folder / "restart").mkdir()
        with cluster(folder / "restart", snapshot_every=10**9) as running:
            running.data_dir.rmdir()
            os.rename(data, running.data_dir)
            started = time.perf_counter()
            running.start_engine(MARKET)
            restart_s = time.perf_counter() - started
        print(f"restart of a real engine process to first answer: {restart_s:.2f} s")

    result: dict[str, object] = {
        "bench": "durability",
        "replay_commands_per_s": round(replay_rate),
        "restart_s": round(restart_s, 2),
    }
    if not args.skip_fsync:
        result.update(group_commit())
    print(json.dumps(result))


def group_commit() -> dict[str, object]:
    """Saturation throughput and 1,000/s latency with and without fsync per batch."""
    figures: dict[str, object] = {}
    for fsync in ("batch", "none"):
        phases = pipeline.run(pipeline.parse_args(["--fsync", fsync, "--rates", "1000"]))
        measured = pipeline.summarize(phases)
        print(f"fsync={fsync}: {measured}")
        figures[f"{fsync}_orders_per_s"] = measured["orders_per_s"]
        figures[f"{fsync}_p50_us"] = measured["p50_us"]
        figures[f"{fsync}_p99_us"] = measured["p99_us"]
    batch, none = figures["batch_orders_per_s"], figures["none_orders_per_s"]
    assert isinstance(batch, int | float) and isinstance(none, int | float)
    figures["fsync_cost_pct"] = round(100 * (1 - batch / none), 1)
    return figures


if __name__ == "__main__":
    main()
