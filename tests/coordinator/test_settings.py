"""The ``[coordinator]`` section: absent means no coordinator, and each wrong key is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from bourse.config import ConfigError, load_config
from harness.cluster import write_config


def config_with(folder: Path, section: str | None, exchange_name: str = "bourse-test") -> Path:
    path = write_config(folder)
    text = path.read_text().replace('name = "bourse-test"', f'name = "{exchange_name}"')
    if section is not None:
        text += "[coordinator]\n" + section + "\n"
    path.write_text(text)
    return path


def test_no_section_means_no_coordinator(tmp_path: Path) -> None:
    assert load_config(config_with(tmp_path, None)).coordinator is None


def test_an_empty_section_takes_the_defaults(tmp_path: Path) -> None:
    settings = load_config(config_with(tmp_path, "")).coordinator
    assert settings is not None
    assert settings.endpoints == ("http://127.0.0.1:2379",)
    assert settings.prefix == "/bourse/bourse-test"
    assert settings.lease_ttl_ms == 1000
    assert settings.request_timeout_ms == 250
    assert settings.fence_margin_ms == 100


def test_every_key_as_given(tmp_path: Path) -> None:
    section = (
        'endpoints = ["http://10.0.0.1:2379", "http://etcd-b:2379/"]\n'
        'prefix = "/prod/bourse"\nlease_ttl_ms = 3000\nrequest_timeout_ms = 500\n'
        "fence_margin_ms = 300"
    )
    settings = load_config(config_with(tmp_path, section)).coordinator
    assert settings is not None
    assert settings.endpoints == ("http://10.0.0.1:2379", "http://etcd-b:2379")
    assert (settings.prefix, settings.lease_ttl_ms) == ("/prod/bourse", 3000)
    assert (settings.request_timeout_ms, settings.fence_margin_ms) == (500, 300)


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ("endpoints = []", "`coordinator.endpoints` must list"),
        ('endpoints = ["127.0.0.1:2379"]', "`coordinator.endpoints`: '127.0.0.1:2379'"),
        ('endpoints = ["https://etcd:2379"]', "`coordinator.endpoints`: 'https://etcd:2379'"),
        ('endpoints = ["http://etcd"]', "must be http://host:port"),
        ('endpoints = ["http://etcd:0"]', "must be http://host:port"),
        ('endpoints = ["http://etcd:99999"]', "must be http://host:port"),
        ('endpoints = ["http://etcd:2379/v3"]', "must be http://host:port"),
        ('endpoints = ["http://u:p@etcd:2379"]', "must be http://host:port"),
        (
            'endpoints = ["http://a:1", "http://a:1"]',
            "lists an endpoint twice",
        ),
        ("endpoints = [1]", "`$.coordinator.endpoints[0]`"),
        ('prefix = "bourse"', "`coordinator.prefix` 'bourse'"),
        ('prefix = "/bourse/"', "`coordinator.prefix` '/bourse/'"),
        ('prefix = "/a//b"', "`coordinator.prefix`"),
        ('prefix = "/a b"', "`coordinator.prefix`"),
        ("lease_ttl_ms = 1500", "`coordinator.lease_ttl_ms` must be whole seconds"),
        ("lease_ttl_ms = 0", "`coordinator.lease_ttl_ms`"),
        ("lease_ttl_ms = 7200000", "`coordinator.lease_ttl_ms`"),
        ('lease_ttl_ms = "1000"', "`$.coordinator.lease_ttl_ms`"),
        ("request_timeout_ms = 0", "`coordinator.request_timeout_ms`"),
        ("request_timeout_ms = 251", "at most a quarter of `coordinator.lease_ttl_ms`"),
        ("fence_margin_ms = -1", "`coordinator.fence_margin_ms`"),
        ("fence_margin_ms = 251", "`coordinator.fence_margin_ms`"),
        ("ttl = 1", "unknown field `ttl`"),
    ],
)
def test_a_wrong_key_is_named(tmp_path: Path, section: str, named: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(config_with(tmp_path, section))
    assert named in str(error.value)


def test_an_exchange_name_unfit_for_a_key_asks_for_a_prefix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="set it when the exchange's name"):
        load_config(config_with(tmp_path, "", exchange_name="my exchange"))
    path = config_with(tmp_path, 'prefix = "/my-exchange"', exchange_name="my exchange")
    settings = load_config(path).coordinator
    assert settings is not None and settings.prefix == "/my-exchange"
