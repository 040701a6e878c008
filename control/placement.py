"""A readable table of where a config puts every process."""

from __future__ import annotations

from bourse.config import Config


def processes_by_host(config: Config) -> dict[str, list[tuple[str, str]]]:
    """host name -> [(process name, endpoints)] in start order (engines, shards, rest)."""
    placed: dict[str, list[tuple[str, str]]] = {host: [] for host in config.raw.hosts}
    for engine in config.engines.values():
        placed[engine.router.host].append(
            (engine.name, f"router {engine.router.connect}  pub {engine.pub.connect}")
        )
    for shard in config.shards:
        placed[shard.router.host].append(
            (shard.name, f"router {shard.router.connect}  pub {shard.pub.connect}")
        )
    placed[config.gateway.host].append(
        ("gateway", f"http://{config.gateway.address}:{config.gateway.port}")
    )
    placed[config.feed_ws.host].append(
        (
            "feed",
            f"ws://{config.feed_ws.address}:{config.feed_ws.port}/ws  "
            f"router {config.feed_router.connect}",
        )
    )
    return placed


def describe(config: Config) -> str:
    lines = [f"config {config.path}: ok"]
    for host, processes in processes_by_host(config).items():
        address = config.raw.hosts[host].address
        lines.append(f"host {host} ({address}): {len(processes)} process(es)")
        for name, endpoints in processes:
            lines.append(f"  {name:<22} {endpoints}")
    return "\n".join(lines)
