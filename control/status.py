"""``bourse status``: ask every process of a config how it is and print one table: each
engine and shard (its leader, and with a standby the epoch and how far the standby lags),
the feed, and the gateway."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import zmq

from actors.accounts.protocol import AccountsReply, GetStatus, ShardStatus
from actors.engine.protocol import EngineOutbound, EngineStatus, StatusQuery
from actors.replication import PairStatus
from bourse.config import Config, Instance
from bourse.peers import FEED, GATEWAY, OPERATOR
from feed.protocol import FeedReply, FeedStatus, FeedStatusQuery
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
    """One line per process of the config (an engine or shard pair's leader, with its
    standby's lag), the feed and the gateway; exit status 1 when any does not answer."""
    context: zmq.Context[Any] = zmq.Context()
    security = bus_security(config, OPERATOR, domains=[])
    rows = [("process", "endpoint", "state", "details")]
    down = 0
    for market, engine in config.engines.items():
        reply = ask(context, security, engine.routers, StatusQuery(), EngineOutbound)
        if isinstance(reply, EngineStatus):
            detail = (
                f"{reply.status}, seq {reply.seq}, {reply.open_orders} open orders "
                f"(+{reply.untriggered} untriggered), {reply.bid_levels}/{reply.ask_levels} "
                f"bid/ask levels, {reply.commands} commands{pair_detail(reply.pair)}"
            )
            rows.append((*leader_of(engine.instances, reply.pair), "up", detail))
        else:
            down += 1
            rows.append((engine.name, engine.router.tcp, "DOWN", f"no answer ({market})"))
    for shard in config.shards:
        reply = ask(context, security, shard.routers, GetStatus(), AccountsReply)
        if isinstance(reply, ShardStatus):
            unreached = [market for market, up in reply.engines_up.items() if not up]
            detail = (
                f"{reply.users} users, {reply.open_orders} open orders, "
                f"{reply.pending_requests} waiting"
                + (f", cannot reach {', '.join(unreached)}" if unreached else "")
                + pair_detail(reply.pair)
            )
            rows.append((*leader_of(shard.instances, reply.pair), "up", detail))
        else:
            down += 1
            rows.append((shard.name, shard.router.tcp, "DOWN", "no answer"))
    feed = ask(
        context, security, [(config.feed_router.connect, FEED)], FeedStatusQuery(), FeedReply
    )
    if isinstance(feed, FeedStatus):
        rows.append((FEED, config.feed_router.tcp, "up", f"{feed.subscribers} subscribers"))
    else:
        down += 1
        rows.append((FEED, config.feed_router.tcp, "DOWN", "no answer"))
    gateway, answer = gateway_health(config)
    rows.append((GATEWAY, gateway, "up" if answer is not None else "DOWN", answer or "no answer"))
    down += answer is None
    context.destroy(linger=0)
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[3]
        )
    return 1 if down else 0


def leader_of(instances: tuple[Instance, ...], pair: PairStatus | None) -> tuple[str, str]:
    """The name and endpoint of the instance that answered (a pair's leader)."""
    for instance in instances:
        if pair is not None and instance.name == pair.instance:
            return instance.name, instance.router.tcp
    return instances[0].name, instances[0].router.tcp


def pair_detail(pair: PairStatus | None) -> str:
    """The pair: its epoch and its standby's state, as the leader sees it."""
    if pair is None or pair.standby is None:
        return ""
    state = "in sync" if pair.standby_in_sync else "NOT in sync"
    lag = pair.index - pair.standby_held
    return f"; leads at epoch {pair.epoch}, standby {pair.standby} {state}, {lag} records behind"


def gateway_health(config: Config) -> tuple[str, str | None]:
    """The gateway's own word on the exchange's health (over HTTP)."""
    url = f"http://{config.gateway.address}:{config.gateway.port}"
    try:
        with urllib.request.urlopen(f"{url}/api/v1/health", timeout=TIMEOUT_S) as response:
            health = json.load(response)
    except urllib.error.HTTPError as error:
        return url, f"answers, but not every actor does ({error.code})"
    except (OSError, ValueError):
        return url, None
    return url, "answers; every actor answers it" if health.get("ok") else "answers"
