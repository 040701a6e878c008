"""The ``bourse`` command: run any process of a config, check a config, ask for status,
make and rotate the bus's keys.

Invariants: every process reads the one config file (``--config``, else
``$BOURSE_CONFIG``, else ``configs/local.toml``; ``config check`` also takes it as a
path); a config that does not load, or a process whose key is missing or unreadable,
stops the command before anything starts (exit 2), with the message naming the key, or
the process and the file.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable

from bourse.config import Config, ConfigError, Instance, load_config, run_on_host
from bourse.logs import setup_logging
from bourse.peers import (
    ACCOUNTS_PUB,
    ACCOUNTS_REPL,
    ACCOUNTS_ROUTER,
    ENGINE_PUB,
    ENGINE_REPL,
    ENGINE_ROUTER,
)
from transport.keys import KeyFileError

DEFAULT_CONFIG = "configs/local.toml"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    path = getattr(args, "path", None) or args.config
    try:
        config = load_config(path)
    except ConfigError as error:
        print(f"bourse: {error}", file=sys.stderr)
        return 2
    command: str = args.command
    try:
        if command == "run":
            return _run(config, args)
        if command == "config":
            from control.placement import describe

            print(describe(config))
            return 0
        if command == "status":
            from control.status import print_status

            return print_status(config)
        if command == "keys":
            from control.keys import keys_command

            return keys_command(config, args)
    except KeyFileError as error:
        print(f"bourse: {error}", file=sys.stderr)
        return 2
    parser.print_help()
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bourse", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        default=os.environ.get("BOURSE_CONFIG", DEFAULT_CONFIG),
        help="the TOML config (default: $BOURSE_CONFIG or configs/local.toml)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start a process of the config")
    run.add_argument("process", nargs="?", choices=["engine", "accounts", "gateway", "feed"])
    run.add_argument("--market", help="the engine's market, e.g. BTC-USDT")
    run.add_argument("--shard", type=int, help="the accounts shard number")
    run.add_argument("--host", help="start every process the config puts on this host")
    run.add_argument(
        "--standby", action="store_true", help="run the engine's or shard's standby instance"
    )
    run.add_argument(
        "--announce", action="store_true", help="with --host: print the URLs once all is up"
    )
    config = commands.add_parser("config", help="check a config and print the placement")
    config.add_argument("action", choices=["check"])
    config.add_argument("path", nargs="?", help="the config to check (instead of --config)")
    commands.add_parser("status", help="ask every actor of the config for its health")
    keys = commands.add_parser("keys", help="make, bundle and rotate the bus's CURVE keys")
    keys_actions = keys.add_subparsers(dest="action", required=True)
    keys_actions.add_parser("init", help="make a key pair for every process that has none")
    bundle = keys_actions.add_parser(
        "bundle", help="copy what one host needs (every public key, its own secret keys)"
    )
    bundle.add_argument("--host", required=True)
    bundle.add_argument("--out", required=True, help="an empty folder to fill")
    rotate = keys_actions.add_parser("rotate", help="stage a new key pair for a process")
    rotate.add_argument("process")
    promote = keys_actions.add_parser("promote", help="make a staged key the current one")
    promote.add_argument("process")
    retire = keys_actions.add_parser("retire", help="stop accepting a process's old key")
    retire.add_argument("process")
    return parser


def _run(config: Config, args: argparse.Namespace) -> int:
    process: str | None = args.process
    if args.host is not None:
        from control.supervisor import run_host

        return run_host(config, args.host, args.config, announce=args.announce)
    if process == "engine":
        if args.market not in config.engines:
            print(f"bourse: --market must be one of {sorted(config.engines)}", file=sys.stderr)
            return 2
        from actors.engine.actor import EngineActor

        engine = config.engines[args.market]
        return _run_instance(
            config,
            engine.instances,
            args.standby,
            lambda rank: EngineActor(config, args.market, rank),
            [ENGINE_ROUTER, ENGINE_PUB, ENGINE_REPL],
        )
    if process == "accounts":
        if args.shard is None or not 0 <= args.shard < len(config.shards):
            print(f"bourse: --shard must be 0..{len(config.shards) - 1}", file=sys.stderr)
            return 2
        from actors.accounts.actor import AccountsActor

        shard = config.shards[args.shard]
        return _run_instance(
            config,
            shard.instances,
            args.standby,
            lambda rank: AccountsActor(config, args.shard, rank),
            [ACCOUNTS_ROUTER, ACCOUNTS_PUB, ACCOUNTS_REPL],
        )
    if process in ("gateway", "feed"):
        run_on_host(config.gateway.host if process == "gateway" else config.feed_router.host)
        setup_logging(process)
        return _serve(f"{process}.serve", config)
    print(
        "bourse: run needs a process (engine, accounts, gateway, feed) or --host", file=sys.stderr
    )
    return 2


def _run_instance(
    config: Config,
    instances: tuple[Instance, ...],
    standby: bool,
    build: Callable[[int], object],
    domains: list[str],
) -> int:
    """Run one member of an engine's or shard's pair: rank 0 is the preferred leader,
    rank 1 its standby."""
    if standby and len(instances) < 2:
        print("bourse: --standby: the config names no standby for it", file=sys.stderr)
        return 2
    instance = instances[int(standby)]
    run_on_host(instance.host)
    setup_logging(instance.name)
    return _run_actor(build(int(standby)), config, domains)


def _serve(module: str, config: Config) -> int:
    """Run an asyncio service's ``serve(config)``; imported late so that starting one
    process never imports the others' dependencies."""
    serve = importlib.import_module(module).serve
    code: int = serve(config)
    return code


def _run_actor(actor: object, config: Config, domains: list[str]) -> int:
    from bourse.metrics import ActorMetrics
    from transport.runtime import Actor, Runtime
    from transport.security import bus_security

    assert isinstance(actor, Actor)
    metrics = ActorMetrics(actor.name)
    security = bus_security(config, actor.name, domains, metrics.registry)
    runtime = Runtime(actor, security, metrics, busy_poll_us=config.raw.actors.busy_poll_us)
    return runtime.run()


if __name__ == "__main__":
    sys.exit(main())
