"""The import graph has layers (docs/architecture.md), pure modules import no I/O library, and
modules stay small.

Every ``import`` of a module counts, at its top or inside a function: a lazy import is still
a dependency.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: the rooms, bottom first; a module may import its own room and the rooms of a lower rank
RANK = {"config": 0, "contracts": 0, "infra": 1, "sources": 1, "models": 2, "stream": 3,
        "gateway": 4, "benchmarks": 5, "salescast": 6}
#: the gateway reads what the worker writes through :mod:`contracts` only
SIBLINGS_APART = {"gateway": {"stream", "models"}}
#: known upward imports, each to be removed by the work named beside it (an entry that is no
#: longer needed fails too, so that the list only shrinks)
KNOWN_UPWARD: dict[tuple[str, str], str] = {}

IO_LIBRARIES = {"redis", "aiokafka", "faust", "mode", "confluent_kafka", "kafka", "websockets",
                "aiohttp", "httpx", "requests", "urllib3", "torch"}
#: sans-I/O modules: neither they nor anything of the project they import uses an I/O library
PURE = ["contracts.wire", "contracts.events", "config.settings", "stream.validation",
        "stream.bucketing", "stream.clock", "stream.outcomes",
        "stream.processor", "stream.partitioning", "stream.membership", "stream.continuity",
        "stream.aggregates", "stream.aggregate_rows",
        "gateway.protocol", "gateway.messages",
        "gateway.auth", "gateway.fanout", "gateway.routing", "gateway.limits", "gateway.hosts",
        "gateway.outputs", "gateway.acks"]
#: models/ except the torch parts (``models.neural``: the LSTM, its store, trainer and backtest)
#: and the backtest, which runs the LSTM too
MODELS_NOT_PURE = {"models.evaluation.backtest"}

MAX_LINES = 300
#: modules over the limit that other work is changing at the time of writing
KNOWN_LONG: set[str] = set()


def _modules() -> Iterator[tuple[str, Path]]:
    for room in RANK:
        for path in sorted((ROOT / room).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


MODULES = dict(_modules())


@cache
def _imports(module: str) -> frozenset[str]:
    """Every module name ``module`` imports (absolute names; relative ones resolved)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            found.add(base)
            # "from pkg import mod" imports the module pkg.mod when there is one
            found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES)
    return frozenset(found)


def _project(name: str) -> str | None:
    """The project module an import names (itself or its package), if any."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _closure(module: str) -> set[str]:
    seen, todo = {module}, [module]
    while todo:
        for name in _imports(todo.pop()):
            dep = _project(name)
            if dep is not None and dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def _edges() -> Iterator[tuple[str, str]]:
    for module in MODULES:
        for name in _imports(module):
            dep = _project(name)
            if dep is not None and dep != module:
                yield module, dep


def test_the_rooms_are_found() -> None:
    assert {"contracts.wire", "config.settings", "gateway.server", "stream.processor",
            "salescast.cli", "models.factory", "infra.services",
            "sources.online_retail"} <= set(MODULES)


def test_no_module_imports_from_a_room_above_it() -> None:
    upward = set()
    for module, dep in _edges():
        room, dep_room = module.split(".")[0], dep.split(".")[0]
        if RANK[dep_room] > RANK[room] or dep_room in SIBLINGS_APART.get(room, set()):
            upward.add((module, dep))
    unexpected = sorted(upward - set(KNOWN_UPWARD))
    assert not unexpected, f"imports from a room above (docs/architecture.md): {unexpected}"
    stale = sorted(set(KNOWN_UPWARD) - upward)
    assert not stale, f"no longer needed: remove from KNOWN_UPWARD: {stale}"


def test_the_bottom_rooms_import_nothing_of_the_project() -> None:
    for module, dep in _edges():
        if module.split(".")[0] in ("config", "contracts"):
            assert dep.split(".")[0] == module.split(".")[0], (module, dep)


@pytest.mark.parametrize("module", PURE + sorted(
    m for m in MODULES if m.startswith("models.") and not m.startswith("models.neural.")
    and m not in MODELS_NOT_PURE))
def test_pure_modules_import_no_io_library(module: str) -> None:
    bad = {}
    for name in _closure(module):
        libraries = {i.split(".")[0] for i in _imports(name)} & IO_LIBRARIES
        if libraries:
            bad[name] = sorted(libraries)
    assert not bad, f"{module} reaches I/O libraries through {bad}"


def test_the_checks_see_io_imports() -> None:
    """The graph reads lazy imports too (the sink imports redis; the ops monitor imports
    confluent_kafka inside a method)."""
    assert "redis.asyncio" in _imports("stream.sink")
    assert any(i.startswith("confluent_kafka") for i in _imports("stream.monitor"))
    assert "stream.sink" in _closure("stream.agents")


def test_modules_stay_small() -> None:
    long = {str(path.relative_to(ROOT)): n for path in MODULES.values()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    unexpected = {p: n for p, n in long.items() if p not in KNOWN_LONG}
    assert not unexpected, f"modules over {MAX_LINES} lines: {unexpected}"
    stale = KNOWN_LONG - set(long)
    assert not stale, f"no longer over {MAX_LINES} lines: remove from KNOWN_LONG: {stale}"


def test_the_documented_path_of_an_event_is_at_most_ten_existing_files() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    path = text.split("## One event, from `salescast replay` to the dashboard")[1]
    steps = [line for line in path.splitlines() if re.match(r"\d+\. `", line)]
    files = [line.split("`")[1] for line in steps]
    assert 1 < len(files) <= 10 and len(set(files)) == len(files)
    assert all((ROOT / f).is_file() for f in files), files
    readme = (ROOT / "README.md").read_text()
    assert " → ".join(f"`{f}`" for f in files) in " ".join(readme.split())
