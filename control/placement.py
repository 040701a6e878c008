"""A readable table of where a config puts every process, and what an operator should
fix before running it (warnings, and which keys this machine holds)."""

from __future__ import annotations

from bourse.config import Config
from transport.keys import public_path, secret_path


def processes_by_host(config: Config) -> dict[str, list[tuple[str, str]]]:
    """host name -> [(process name, endpoints)] in start order (engines, shards, rest)."""
    placed: dict[str, list[tuple[str, str]]] = {host: [] for host in config.raw.hosts}
    for instance in config.actor_instances():
        endpoints = f"router {instance.router.connect}  pub {instance.pub.connect}"
        if instance.repl is not None:
            endpoints += f"  repl {instance.repl.connect}"
        placed[instance.host].append((instance.name, endpoints))
    placed[config.gateway.host].append(
        ("gateway", f"http://{config.gateway.address}:{config.gateway.port}")
    )
    for relay in config.feed_relays:
        endpoints = f"ws://{relay.ws.address}:{relay.ws.port}/ws  router {relay.router.connect}"
        if relay.shared_ws:
            endpoints += "  (ws port shared)"
        if relay.metrics is not None:
            endpoints += f"  metrics http://{relay.metrics.address}:{relay.metrics.port}/metrics"
        placed[relay.host].append((relay.name, endpoints))
    return placed


def describe(config: Config) -> str:
    lines = [f"config {config.path}: ok"]
    for host, processes in processes_by_host(config).items():
        address = config.raw.hosts[host].address
        lines.append(f"host {host} ({address}): {len(processes)} process(es)")
        for name, endpoints in processes:
            lines.append(f"  {name:<22} {endpoints}")
    lines.append(keys_line(config))
    lines += [f"WARNING: {warning}" for warning in warnings(config)]
    return "\n".join(lines)


def keys_line(config: Config) -> str:
    folder = config.keys_dir
    names = list(config.processes())
    public = sum(public_path(folder, name).exists() for name in names)
    secret = [name for name in names if secret_path(folder, name).exists()]
    held = ", ".join(secret) if secret else "none (`bourse keys init` makes them)"
    return f"keys {folder}: public keys of {public}/{len(names)} processes; secret keys of {held}"


def warnings(config: Config) -> list[str]:
    found = []
    if not config.security.curve:
        found.append(
            "security.curve = false: the bus is unencrypted and anyone who reaches a port "
            "speaks for any process (for measuring only)"
        )
    if config.exchange.admin_key_sha256 == "0" * 64:
        found.append(
            "exchange.admin_key_sha256 is all zeros, a placeholder: set the SHA-256 of your "
            "admin key (printf '%s' \"$KEY\" | sha256sum)"
        )
    return found
