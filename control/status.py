"""``bourse status``: ask every process of a config how it is and print one table, host
by host: each engine and shard instance (the pair's leader with its epoch; its standby
with its lag, as the leader sees it), the coordinator a host runs, every feed relay
(subscribers, messages per second, slow consumers closed, stale markets), and the
gateway.

Invariants:
- Every process the config places is one row, on its host; nothing the config does not
  place is asked.
- The exit status is 0 exactly when every process answered and the gateway's own health
  says it reaches every actor (``GET /api/v1/health`` is 200): the two views agree, or
  the row of the gateway says which actors it cannot reach.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import zmq

from actors.accounts.protocol import AccountsReply, GetStatus, ShardStatus
from actors.engine.protocol import EngineOutbound, EngineStatus, StatusQuery
from actors.replication import PairStatus
from bourse.config import Config, FeedRelay, Instance
from bourse.peers import GATEWAY, OPERATOR
from feed.protocol import FeedReply, FeedStatus, FeedStatusQuery
from transport.blocking import BlockingClient
from transport.security import BusSecurity, bus_security

TIMEOUT_S = 1.0
HEADER = ("host", "process", "endpoint", "state", "details")


@dataclass(frozen=True, slots=True)
class Row:
    host: str
    process: str
    endpoint: str
    state: str  # "up", "standby", "DOWN", "DEGRADED"
    details: str

    @property
    def healthy(self) -> bool:
        return self.state in ("up", "standby")


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


def status_rows(config: Config) -> list[Row]:
    """One row per process of the config, host by host."""
    context: zmq.Context[Any] = zmq.Context()
    security = bus_security(config, OPERATOR, domains=[])
    rows: list[Row] = []
    try:
        for engine in config.engines.values():
            reply = ask(context, security, engine.routers, StatusQuery(), EngineOutbound)
            detail = ""
            if isinstance(reply, EngineStatus):
                detail = (
                    f"{reply.status}, seq {reply.seq}, {reply.open_orders} open orders "
                    f"(+{reply.untriggered} untriggered), {reply.bid_levels}/{reply.ask_levels} "
                    f"bid/ask levels, {reply.commands} commands"
                )
            pair = reply.pair if isinstance(reply, EngineStatus) else None
            rows += pair_rows(engine.instances, pair, detail)
        for shard in config.shards:
            reply = ask(context, security, shard.routers, GetStatus(), AccountsReply)
            detail = ""
            if isinstance(reply, ShardStatus):
                unreached = [market for market, up in reply.engines_up.items() if not up]
                detail = (
                    f"{reply.users} users, {reply.open_orders} open orders, "
                    f"{reply.pending_requests} waiting"
                    + (f", cannot reach {', '.join(unreached)}" if unreached else "")
                )
            pair = reply.pair if isinstance(reply, ShardStatus) else None
            rows += pair_rows(shard.instances, pair, detail)
        rows += coordinator_rows(config)
        for relay in config.feed_relays:
            rows.append(relay_row(context, security, relay))
        rows.append(gateway_row(config))
    finally:
        context.destroy(linger=0)
    order = {host: index for index, host in enumerate(config.raw.hosts)}
    return sorted(rows, key=lambda row: order.get(row.host, len(order)))


def print_status(config: Config) -> int:
    """The table; exit status 1 when any process does not answer or the gateway does
    not reach every actor."""
    rows = status_rows(config)
    table = [HEADER[:4], *((r.host, r.process, r.endpoint, r.state) for r in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    details = [HEADER[4], *(r.details for r in rows)]
    for cells, detail in zip(table, details, strict=True):
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)), detail)
    return 0 if all(row.healthy for row in rows) else 1


def pair_rows(instances: tuple[Instance, ...], pair: PairStatus | None, detail: str) -> list[Row]:
    """An engine's or shard's instances: the one that answered (the leader) with
    ``detail`` and its epoch; its standby as the leader sees it.  No answer (empty
    ``detail``): every instance is DOWN."""
    if not detail:
        return [
            Row(i.host, i.name, i.router.tcp, "DOWN", "no answer from the pair")
            if len(instances) > 1
            else Row(i.host, i.name, i.router.tcp, "DOWN", "no answer")
            for i in instances
        ]
    leader = instances[0].name if pair is None else pair.instance
    rows = []
    for instance in instances:
        if instance.name == leader:
            epoch = f"; leads at epoch {pair.epoch}" if pair is not None and pair.epoch else ""
            rows.append(
                Row(instance.host, instance.name, instance.router.tcp, "up", detail + epoch)
            )
        else:
            rows.append(standby_row(instance, pair))
    return rows


def standby_row(instance: Instance, pair: PairStatus | None) -> Row:
    if pair is None or pair.standby != instance.name:
        return Row(instance.host, instance.name, instance.router.tcp, "DOWN", "not following")
    lag = pair.index - pair.standby_held
    if pair.standby_in_sync:
        return Row(
            instance.host,
            instance.name,
            instance.router.tcp,
            "standby",
            f"in sync, {lag} records behind {pair.instance}",
        )
    return Row(
        instance.host,
        instance.name,
        instance.router.tcp,
        "DEGRADED",
        f"NOT in sync, {lag} records behind {pair.instance}",
    )


def relay_row(context: zmq.Context[Any], security: BusSecurity, relay: FeedRelay) -> Row:
    endpoint = relay.router.tcp
    reply = ask(
        context, security, [(relay.router.connect, relay.name)], FeedStatusQuery(), FeedReply
    )
    if not isinstance(reply, FeedStatus):
        return Row(relay.host, relay.name, endpoint, "DOWN", "no answer")
    detail = (
        f"{reply.subscribers} subscribers, {reply.messages_per_s} msgs/s, "
        f"{reply.slow_closed} slow consumers closed"
    )
    if reply.trades_lost:
        detail += f", {reply.trades_lost} trades lost beyond the engines' retention"
    if reply.stale:
        return Row(
            relay.host,
            relay.name,
            endpoint,
            "DEGRADED",
            f"{detail}; stale: {', '.join(reply.stale)}",
        )
    return Row(relay.host, relay.name, endpoint, "up", detail)


def coordinator_rows(config: Config) -> list[Row]:
    """The etcd that ``run --host`` starts on its host, when the config says so."""
    section = config.raw.coordinator
    if section is None or not section.host or config.coordinator is None:
        return []
    url = config.coordinator.endpoints[0]
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=TIMEOUT_S) as response:
            healthy = json.load(response).get("health") == "true"
    except (OSError, ValueError):
        return [Row(section.host, "etcd", url, "DOWN", "no answer")]
    if not healthy:
        return [Row(section.host, "etcd", url, "DEGRADED", "answers, but not healthy")]
    return [Row(section.host, "etcd", url, "up", "healthy")]


def gateway_row(config: Config) -> Row:
    """The gateway's own word on the exchange's health (over HTTP)."""
    url, answer, unreached = gateway_health(config)
    host = config.gateway.host
    if answer is None:
        return Row(host, GATEWAY, url, "DOWN", "no answer")
    if unreached:
        return Row(host, GATEWAY, url, "DEGRADED", f"cannot reach {', '.join(unreached)}")
    return Row(host, GATEWAY, url, "up", answer)


def gateway_health(config: Config) -> tuple[str, str | None, list[str]]:
    """The gateway's URL, what it answered (None: nothing), and the actors its
    ``/api/v1/health`` says it does not reach."""
    url = f"http://{config.gateway.address}:{config.gateway.port}"
    try:
        with urllib.request.urlopen(f"{url}/api/v1/health", timeout=TIMEOUT_S) as response:
            health = json.load(response)
    except urllib.error.HTTPError as error:
        try:
            health = json.loads(error.read())
        except ValueError:
            return url, f"answers {error.code}", ["?"]
        return url, f"answers {error.code}", unreached_in(health) or ["?"]
    except (OSError, ValueError):
        return url, None, []
    return url, "answers; reaches every actor", unreached_in(health)


def unreached_in(health: dict[str, Any]) -> list[str]:
    """The actors a health answer says are down, by process name."""
    down = [
        f"engine-{engine.get('market')}" for engine in health.get("engines", []) if not engine["up"]
    ]
    down += [
        f"accounts-{shard.get('shard')}" for shard in health.get("shards", []) if not shard["up"]
    ]
    if not health.get("feed", {}).get("up", False):
        down.append("feed")
    return down
