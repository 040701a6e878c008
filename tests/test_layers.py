"""Layers point down: no module imports a layer above its own.

From the ground up: ``bourse`` (config, money, ids, journal, logs), ``transport``
(ZeroMQ plumbing), ``actors`` (their shared runtime pieces, then the engine, then the
accounts shards, which talk to engines), ``api`` (the public JSON shapes), ``feed``,
``gateway`` (which asks the feed), ``control`` (the operator's commands), ``harness``
(processes for tests and benchmarks).  ``bench`` and ``tests`` stand on top, and
neither imports the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Longest prefix wins; a module may import its own layer and those listed before it.
LAYERS = [
    "bourse",
    "transport",
    "actors",
    "actors.engine",
    "actors.accounts",
    "api",
    "feed",
    "gateway",
    "control",
    "harness",
    "bench",
    "tests",
]
TOPS = {"bench", "tests"}  # side by side: neither may import the other


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    best: int | None = None
    for index, prefix in enumerate(LAYERS):
        if (module == prefix or module.startswith(prefix + ".")) and (
            best is None or len(prefix) > len(LAYERS[best])
        ):
            best = index
    return best


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def sources() -> list[Path]:
    paths: list[Path] = []
    for top in {prefix.split(".")[0] for prefix in LAYERS}:
        paths += sorted((ROOT / top).rglob("*.py"))
    return paths


def upward_imports() -> list[str]:
    wrong = []
    for path in sources():
        module = module_name(path)
        own = layer_of(module)
        assert own is not None, module
        for line, target in imports_of(path):
            theirs = layer_of(target)
            if theirs is None:
                continue  # the standard library or a third-party package
            both_tops = LAYERS[own] in TOPS and LAYERS[theirs] in TOPS
            if theirs > own or (both_tops and theirs != own):
                wrong.append(f"{path.relative_to(ROOT)}:{line} {module} imports {target}")
    return wrong


def test_no_module_imports_a_layer_above_its_own() -> None:
    assert upward_imports() == []


@pytest.mark.parametrize(
    ("module", "target", "allowed"),
    [
        ("bourse.config", "transport.framing", False),
        ("actors.engine.actor", "actors.accounts.protocol", False),
        ("actors.accounts.actor", "actors.engine.protocol", True),
        ("bench.pipeline", "tests.harness", False),
        ("gateway.actors", "feed.protocol", True),
    ],
)
def test_the_rule_itself(module: str, target: str, allowed: bool) -> None:
    own, theirs = layer_of(module), layer_of(target)
    assert own is not None and theirs is not None
    both_tops = LAYERS[own] in TOPS and LAYERS[theirs] in TOPS
    assert (theirs <= own and not (both_tops and theirs != own)) is allowed
