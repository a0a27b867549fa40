"""The grouping engine: database-free domain logic of the grouper service.

Data in: per-company :class:`CompanyPrices` (kept in memory, updated per ingest) and a
:class:`GroupingState`. Decisions and their evidence out: :func:`full_regroup` and
:func:`run_round` return a :class:`RoundResult`. See ``decisions`` for the procedure
and ``overlap`` for the comparison rule.
"""

from .decisions import (
    AnchorChanged,
    Confirmed,
    Decision,
    Ejected,
    Founded,
    Merged,
    Rehomed,
    RescrapeRequested,
    RoundResult,
    ScrapeKind,
    full_regroup,
    run_round,
)
from .overlap import Comparator, Evidence, FastComparator, ReferenceComparator
from .params import GroupingParams
from .prices import EPOCH, NO_PRICE, CompanyPrices, ticks, unix_to_ticks
from .state import Group, GroupingState, IdFactory

__all__ = [
    "EPOCH",
    "NO_PRICE",
    "AnchorChanged",
    "CompanyPrices",
    "Comparator",
    "Confirmed",
    "Decision",
    "Ejected",
    "Evidence",
    "FastComparator",
    "Founded",
    "Group",
    "GroupingParams",
    "GroupingState",
    "IdFactory",
    "Merged",
    "ReferenceComparator",
    "Rehomed",
    "RescrapeRequested",
    "RoundResult",
    "ScrapeKind",
    "full_regroup",
    "run_round",
    "ticks",
    "unix_to_ticks",
]
