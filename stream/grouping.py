"""Which child of the shop's ``total`` an event counts in: the grouping of the aggregates.

``SALESCAST_AGGREGATE_BY`` names it: ``country`` (the event's field), ``category`` (its series'
category from ``SALESCAST_CATEGORY_MAP``) or ``none`` (no aggregates). An event without the
field counts in ``<by>:(none)``, so the children always add up to ``total``
(:mod:`stream.aggregates`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from config import Settings
from config.rules import category_problem, read_category_map
from config.settings import ConfigError
from contracts.events import SaleEvent

__all__ = ["ROOT", "NONE", "Grouping", "grouping_of"]

ROOT = "total"
NONE = "(none)"


@dataclass(frozen=True)
class Grouping:
    """Which child of ``total`` an event counts in: its ``country``, or its series' category
    from a mapping (``SALESCAST_CATEGORY_MAP``)."""

    by: str = "country"
    categories: Mapping[str, str] = field(default_factory=dict)
    #: the worker group that aggregates (SALESCAST_WORKER_ID; "": none named): its
    #: partitions' reports name it, and its ledger takes no other group's
    group: str = ""

    def child_of(self, ev: SaleEvent) -> str:
        """
        >>> Grouping().child_of(SaleEvent("A", 0.0, 1.0, 1.0, country="EIRE"))
        'country:EIRE'
        >>> Grouping("category", {"A": "mugs"}).child_of(SaleEvent("B", 0.0, 1.0, 1.0))
        'category:(none)'
        """
        value = ev.country if self.by == "country" else self.categories.get(ev.series)
        return f"{self.by}:{value or NONE}"

    def reserved(self, series: str) -> bool:
        """A SKU may not be called like an aggregate (it would share its Redis hash)."""
        return series == ROOT or series.startswith(f"{self.by}:")


def grouping_of(settings: Settings) -> Grouping | None:
    """The grouping ``SALESCAST_AGGREGATE_BY`` names (None: no aggregates)."""
    if settings.aggregate_by == "none":
        return None
    if settings.aggregate_by == "country":
        return Grouping("country", group=settings.worker_id)
    # load_settings checks this rule too; settings changed with model_copy skip it
    if (problem := category_problem(settings)) is not None or settings.category_map is None:
        raise ConfigError(problem or "no SALESCAST_CATEGORY_MAP")
    return Grouping("category", read_category_map(settings.category_map), settings.worker_id)
