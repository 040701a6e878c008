"""``bourse status``: ask every actor of a config how it is and print one table."""

from __future__ import annotations

from typing import Any

import zmq

from actors.accounts.protocol import AccountsReply, GetStatus, ShardStatus
from actors.engine.protocol import EngineOutbound, EngineStatus, StatusQuery
from bourse.config import Config
from bourse.peers import OPERATOR
from transport.blocking import BlockingClient
from transport.security import BusSecurity, bus_security

TIMEOUT_S = 1.0


def ask(
    context: zmq.Context[Any],
    security: BusSecurity,
    servers: list[tuple[str, str]],
    message: object,
    reply_type: Any,
) -> Any:
    client = BlockingClient(context, servers, security)
    try:
        return client.ask(message, reply_type, TIMEOUT_S)
    finally:
        client.close()


def print_status(config: Config) -> int:
    context: zmq.Context[Any] = zmq.Context()
    security = bus_security(config, OPERATOR, domains=[])
    rows = [("process", "endpoint", "state", "details")]
    down = 0
    for market, engine in config.engines.items():
        reply = ask(context, security, engine.routers, StatusQuery(), EngineOutbound)
        if isinstance(reply, EngineStatus):
            detail = (
                f"seq {reply.seq}, {reply.open_orders} open orders, "
                f"{reply.bid_levels}/{reply.ask_levels} bid/ask levels, "
                f"{reply.commands} commands{', HALTED' if reply.halted else ''}"
            )
            rows.append((engine.name, engine.router.connect, "up", detail))
        else:
            down += 1
            rows.append((engine.name, engine.router.connect, "DOWN", f"no answer ({market})"))
    for shard in config.shards:
        reply = ask(context, security, shard.routers, GetStatus(), AccountsReply)
        if isinstance(reply, ShardStatus):
            detail = (
                f"{reply.users} users, {reply.open_orders} open orders, "
                f"{reply.pending_requests} waiting, engine seqs in {reply.engine_in_seq}"
            )
            rows.append((shard.name, shard.router.connect, "up", detail))
        else:
            down += 1
            rows.append((shard.name, shard.router.connect, "DOWN", "no answer"))
    context.destroy(linger=0)
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[3]
        )
    return 1 if down else 0
