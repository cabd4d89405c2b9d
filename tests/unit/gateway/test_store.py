"""The gateway's reads of Redis, with a scoped token (no Redis: a sorted-set stand-in)."""

from __future__ import annotations

import asyncio
from typing import Any

from contracts.wire import INDEX_KEY, MOVERS_KEY
from gateway.auth import Claims
from gateway.protocol import Session
from gateway.store import Store


class _Sorted:
    """ZREVRANGE and HMGET over fixed data, newest (highest score) first."""

    def __init__(self, sets: dict[str, list[str]]) -> None:
        self.sets = sets  # key -> members, highest score first

    async def zrevrange(self, key: str, start: int, end: int,
                        withscores: bool = False) -> list[Any]:
        got = self.sets.get(key, [])[start : end + 1]
        n = len(self.sets.get(key, []))
        return [(m, float(n - start - i)) for i, m in enumerate(got)] if withscores else got

    async def hmget(self, key: str, names: list[str]) -> list[Any]:
        return [b'{"actual": 1, "forecast": 2}' for _ in names]


def test_a_scoped_token_lists_its_own_series_behind_many_newer_others() -> None:
    """Its scope was applied to the first ``limit * 4`` matches: behind 3,000 newer series of
    other names, a token for ``S1*`` listed nothing, and its top movers were empty."""
    others = [f"R{i:05d}" for i in range(3000)]
    mine = [f"S1{i}" for i in range(10)]
    store = Store(_Sorted({INDEX_KEY: others + mine, MOVERS_KEY: others + mine}))  # type: ignore[arg-type]
    session = Session(4096, 100)
    session.claims = Claims(("forecasts",), ("S1*",), 4e9, "t")

    async def main() -> tuple[list[str], list[str], list[str]]:
        listed = await store.match("*", 5, session.claims)  # type: ignore[arg-type]
        unscoped = await store.match("*", 5)
        movers = [m["series"] for m in await store.movers(session, 3)]
        return listed, unscoped, movers

    listed, unscoped, movers = asyncio.run(main())
    assert listed == mine[:5] and unscoped == others[:5]
    assert movers == mine[:3]


def test_a_search_for_a_sku_with_glob_characters_finds_that_sku() -> None:
    """A probe: the dashboard sends text with ``*?[`` as a pattern, so a search for the SKU
    ``AB[1]`` listed ``AB1`` and never ``AB[1]`` itself."""
    store = Store(_Sorted({INDEX_KEY: ["AB1", "AB[1]", "ZZ"]}))  # type: ignore[arg-type]
    assert asyncio.run(store.match("AB[1]", 10)) == ["AB1", "AB[1]"]
    scoped = Claims(("forecasts",), ("AB[[]1]",), 4e9, "t")  # exactly AB[1] (--series)
    assert asyncio.run(store.match("AB[1]", 10, scoped)) == ["AB[1]"]  # type: ignore[arg-type]
