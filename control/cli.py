"""The ``bourse`` command: run any process of a config, check a config, ask for status.

Invariants: every process reads the one config file (``--config``, else
``$BOURSE_CONFIG``, else ``configs/local.toml``); a config that does not load stops the
command before anything starts, with the message naming the key.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from bourse.config import Config, ConfigError, load_config, run_on_host
from bourse.logs import setup_logging

DEFAULT_CONFIG = "configs/local.toml"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"bourse: {error}", file=sys.stderr)
        return 2
    command: str = args.command
    if command == "run":
        return _run(config, args)
    if command == "config":
        from control.placement import describe

        print(describe(config))
        return 0
    if command == "status":
        from control.status import print_status

        return print_status(config)
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
    config = commands.add_parser("config", help="check a config and print the placement")
    config.add_argument("action", choices=["check"])
    commands.add_parser("status", help="ask every actor of the config for its health")
    return parser


def _run(config: Config, args: argparse.Namespace) -> int:
    process: str | None = args.process
    if args.host is not None:
        from control.supervisor import run_host

        return run_host(config, args.host, args.config)
    if process == "engine":
        if args.market not in config.engines:
            print(f"bourse: --market must be one of {sorted(config.engines)}", file=sys.stderr)
            return 2
        from actors.engine.actor import EngineActor

        engine = config.engines[args.market]
        run_on_host(engine.router.host)
        setup_logging(engine.name)
        return _run_actor(EngineActor(config, args.market), config)
    if process == "accounts":
        if args.shard is None or not 0 <= args.shard < len(config.shards):
            print(f"bourse: --shard must be 0..{len(config.shards) - 1}", file=sys.stderr)
            return 2
        from actors.accounts.actor import AccountsActor

        shard = config.shards[args.shard]
        run_on_host(shard.router.host)
        setup_logging(shard.name)
        return _run_actor(AccountsActor(config, args.shard), config)
    if process in ("gateway", "feed"):
        run_on_host(config.gateway.host if process == "gateway" else config.feed_router.host)
        setup_logging(process)
        return _serve(f"{process}.serve", config)
    print(
        "bourse: run needs a process (engine, accounts, gateway, feed) or --host", file=sys.stderr
    )
    return 2


def _serve(module: str, config: Config) -> int:
    """Run an asyncio service's ``serve(config)``; imported late so that starting one
    process never imports the others' dependencies."""
    serve = importlib.import_module(module).serve
    code: int = serve(config)
    return code


def _run_actor(actor: object, config: Config) -> int:
    from transport.runtime import Actor, Runtime

    assert isinstance(actor, Actor)
    return Runtime(actor, busy_poll_us=config.raw.actors.busy_poll_us).run()


if __name__ == "__main__":
    sys.exit(main())
