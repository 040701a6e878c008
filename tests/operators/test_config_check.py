"""`bourse config check` accepts the shipped configs and refuses broken ones by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bourse.config import load_config
from bourse.money import AmountError, parse_units

ROOT = Path(__file__).resolve().parents[2]
LOCAL = (ROOT / "configs" / "local.toml").read_text()


def check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "control.cli", "--config", str(config), "config", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("name", ["local.toml", "cluster-example.toml"])
def test_the_shipped_configs_pass_and_print_the_placement(name: str) -> None:
    result = check(ROOT / "configs" / name)
    assert result.returncode == 0, result.stderr
    assert "engine-BTC-USDT" in result.stdout and "accounts-1" in result.stdout
    assert "gateway" in result.stdout and "feed" in result.stdout


def test_relays_of_one_host_may_share_the_websocket_port_and_nothing_else() -> None:
    result = check(ROOT / "configs" / "cluster-example.toml")
    assert result.returncode == 0, result.stderr
    relays = [line for line in result.stdout.splitlines() if line.strip().startswith("feed-")]
    assert len(relays) == 2 and all("(ws port shared)" in line for line in relays), relays
    config = load_config(ROOT / "configs" / "cluster-example.toml")
    assert [relay.name for relay in config.feed_relays] == ["feed-1", "feed-2"]
    assert config.processes()["feed-2"] == "edge"


BROKEN = {
    "two processes on one endpoint": (
        LOCAL.replace("router_port = 7111", "router_port = 7101"),
        "`markets.ETH-USDT` and `markets.BTC-USDT` both use 127.0.0.1:7101",
    ),
    "a market with no engine placement": (
        LOCAL.replace('host = "local"\nrouter_port = 7101\npub_port = 7102\n', ""),
        "missing required field `host` - at `$.markets.BTC-USDT`",
    ),
    "an unknown key": (
        LOCAL.replace("faucet = true", "faucet = true\nfuacet = true"),
        "unknown field `fuacet` - at `$.exchange`",
    ),
    "a wrong type": (
        LOCAL.replace("router_port = 7201", 'router_port = "7201"'),
        "Expected `int`, got `str` - at `$.shards[0].router_port`",
    ),
    "an unknown host": (
        LOCAL.replace('[gateway]\nhost = "local"', '[gateway]\nhost = "edge"'),
        "`gateway.host`: unknown host 'edge'",
    ),
    "an unknown asset": (
        LOCAL.replace('base = "ETH"', 'base = "ETC"'),
        "`markets.ETH-USDT.base`: unknown asset 'ETC'",
    ),
    "a tick finer than the asset": (
        LOCAL.replace('tick = "0.01"', 'tick = "0.0000001"', 1),
        "`markets.BTC-USDT.tick`",
    ),
    "a notional that cannot be exact": (
        LOCAL.replace('lot = "0.0001"', 'lot = "0.00000001"', 1),
        "tick x lot must be a whole number of USDT units",
    ),
    "a busy poll past its bound": (
        LOCAL.replace("busy_poll_us = 0", "busy_poll_us = -5"),
        "`actors.busy_poll_us` must be between 0 and 100000",
    ),
    "a head limit below its floor": (
        LOCAL.replace("max_header_bytes = 16384", "max_header_bytes = 100"),
        "`gateway.max_header_bytes` must be at least 1024",
    ),
    "a header timeout of zero": (
        LOCAL.replace("header_timeout_ms = 10000", "header_timeout_ms = 0"),
        "`gateway.header_timeout_ms` must be greater than zero",
    ),
    "a budget rate that is not a number": (
        LOCAL.replace("signup_per_s = 0.1", "signup_per_s = nan"),
        "`gateway.signup_per_s` must be greater than zero",
    ),
    "more connections per address than in all": (
        LOCAL.replace("max_connections = 16384", "max_connections = 100"),
        "`feed.max_connections_per_address` must not exceed `feed.max_connections`",
    ),
    "a block after no failure": (
        LOCAL.replace("block_after = 20", "block_after = 0"),
        "`auth_failures.block_after` must be greater than zero",
    ),
    "a stale delay shorter than two heartbeats": (
        LOCAL.replace("stale_after_ms = 1000", "stale_after_ms = 400"),
        "`market_data.stale_after_ms` must be at least twice `market_data.heartbeat_ms`",
    ),
    "relays beside a [feed] that places itself": (
        LOCAL + '[[feed.relays]]\nhost = "local"\nrouter_port = 7302\nws_port = 8002\n',
        "`feed.host`: with [[feed.relays]], each relay says where it runs",
    ),
    "a [feed] that is placed nowhere": (
        LOCAL.replace('[feed]\nhost = "local"\n', "[feed]\n"),
        "`feed.host` is needed (or a [[feed.relays]] per relay)",
    ),
    "two relays on one router port": (
        LOCAL.replace(
            '[feed]\nhost = "local"\nrouter_port = 7301\nws_port = 8001\n', "[feed]\n"
        ).replace("metrics_port = 9301", "")
        + '[[feed.relays]]\nhost = "local"\nrouter_port = 7301\nws_port = 8001\n'
        + '[[feed.relays]]\nhost = "local"\nrouter_port = 7301\nws_port = 8001\n',
        "`feed.relays[1]` and `feed.relays[0]` both use 127.0.0.1:7301",
    ),
    "a fee of 100%": (
        LOCAL.replace('taker_fee = "0.002"', 'taker_fee = "1"', 1),
        "`markets.BTC-USDT.taker_fee` must be below 1",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_config_is_refused_with_a_message_naming_it(tmp_path: Path, case: str) -> None:
    text, message = BROKEN[case]
    assert text != LOCAL, "the case must change the config"
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = check(path)
    assert result.returncode == 2
    assert message in result.stderr, result.stderr


def test_a_step_written_with_spare_zeros_shows_no_more_places_than_its_asset(
    tmp_path: Path,
) -> None:
    path = tmp_path / "zeros.toml"
    path.write_text(LOCAL.replace('tick = "0.01"', 'tick = "0.0100000"', 1))
    market = load_config(path).markets["BTC-USDT"]
    assert market.tick == 10_000
    assert market.format_price(30_000_010_000) == "30000.010000"


@pytest.mark.parametrize("text", ["\u0661\u0662", "1\u00b2", "\uff11.5"])
def test_an_amount_takes_ascii_digits_only(text: str) -> None:
    with pytest.raises(AmountError) as refused:
        parse_units(text, 6, field="amount")
    assert refused.value.code == "INVALID_FIELD"
