"""Property-based fuzzing of the whole REST API from the OpenAPI document it serves.

Schemathesis generates valid and invalid requests for every documented operation and
checks each answer: never a 5xx, a status the document lists, a body that conforms to
the documented schema.  Private calls go with a funded user's key, admin calls with the
admin key.  Afterwards, money is still conserved over every shard.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from gateway_kit import ADMIN, ADMIN_KEY, Api, User, exchange, wait_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bourse.config import load_config
from gateway.app import create_app
from harness.cluster import ROOT, Cluster

MAX_EXAMPLES = 30
# Placing orders is where money moves: worth more examples, so that some of them trade.
MORE_EXAMPLES = {("POST", "/api/v1/orders"): 150}

# Amounts are documented as `format: decimal`; mostly plausible ones, so that orders pass
# the grid and trade, and now and then any decimal at all.
schemathesis.openapi.format(
    "decimal",
    st.one_of(
        st.sampled_from(["0.001", "0.01", "0.1", "0.5", "1", "2", "10", "100", "1000", "30000"]),
        st.from_regex(r"\A[0-9]{1,6}(\.[0-9]{1,9})?\Z"),
    ),
)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Api]]:
    with exchange(tmp_path_factory.mktemp("fuzzed"), feed=True) as pair:
        yield pair


@pytest.fixture(scope="module")
def trader(fuzzed: tuple[Cluster, Api]) -> User:
    _, api = fuzzed
    return api.new_user(BTC="10", ETH="100", USDT="1000000")


def _load(api: Api, key: str) -> Any:
    """The document the running gateway serves, with ``key`` as the bearer token."""
    config = SchemathesisConfig.from_dict({"auth": {"openapi": {"bearer": {"bearer": key}}}})
    return schemathesis.openapi.from_url(api.base_url + "/schema/openapi.json", config=config)


@pytest.fixture(scope="module")
def served(fuzzed: tuple[Cluster, Api], trader: User) -> Any:
    return _load(fuzzed[1], trader.key)


@pytest.fixture(scope="module")
def served_to_admin(fuzzed: tuple[Cluster, Api]) -> Any:
    return _load(fuzzed[1], ADMIN_KEY)


def _operations() -> dict[tuple[str, str], bool]:
    """Every documented operation, and whether it takes any input (else no invalid one)."""
    document = create_app(load_config(ROOT / "configs" / "local.toml")).openapi_schema
    return {
        (method.upper(), path): bool(spec.get("parameters") or spec.get("requestBody"))
        for path, item in document.to_schema()["paths"].items()
        for method, spec in item.items()
    }


OPERATIONS = _operations()
CASES = sorted(
    (method, path, mode)
    for (method, path), takes_input in OPERATIONS.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if takes_input or mode is GenerationMode.POSITIVE
)


def test_the_served_document_has_every_operation(served: Any) -> None:
    served_operations = {
        (operation.ok().method.upper(), operation.ok().path)
        for operation in served.get_all_operations()
    }
    assert served_operations == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=lambda v: str(v))
def test_every_operation_answers_as_documented(
    method: str,
    path: str,
    mode: GenerationMode,
    served: Any,
    served_to_admin: Any,
    fuzzed: tuple[Cluster, Api],
) -> None:
    _, api = fuzzed
    document = served_to_admin if path.startswith("/api/v1/admin") else served

    @given(case=document[path][method].as_strategy(generation_mode=mode))
    @settings(
        max_examples=MORE_EXAMPLES.get((method, path), MAX_EXAMPLES),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case: Any) -> None:
        # A request the schema allows may still break a rule the schema cannot say (an
        # unknown market, a price off the tick): refusing it with a documented 4xx is right.
        case.call_and_validate(base_url=api.base_url, excluded_checks=[positive_data_acceptance])

    answers_as_documented()


def test_money_is_conserved_after_fuzzing(fuzzed: tuple[Cluster, Api]) -> None:
    _, api = fuzzed
    for market in ("BTC-USDT", "ETH-USDT"):
        api.post(f"/api/v1/admin/markets/{market}/resume", headers=ADMIN)
    wait_until(
        lambda: all(s["pending_requests"] == 0 for s in api.get("/api/v1/health").json()["shards"]),
        what="no request is in flight",
    )
    totals = api.totals()
    assert totals["conserved"] is True, totals
    for row in totals["assets"]:
        assert row["traded_in"] == row["traded_out"], row
