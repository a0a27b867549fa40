"""``splitcart bench grouping``: speed and exactness of the grouping engine.

Run as ``python -m splitcart_grouper.engine.bench [--scale 1] [--subset 100]``; prints
one JSON object. Every figure is measured in this process on the planted national
dataset of :mod:`.synthetic`:

* ``full_regroup_seconds``: exact regroup from scratch of every company (fast path);
* ``incremental_ms_per_store``: one ingested store (ten per company: members, or for
  IGA, whose stores are all alone, anchors), from ``upsert_store`` to the end of its
  round (health check, re-homing, merging of what the ingest touched); a third of the
  samples switch the store to another group's prices, so they are ejected and re-homed
  (or, when alone, merged);
* ``reference_seconds_subset`` / ``fast_seconds_subset``: full regroup of the same
  ``subset`` stores (spread over the four companies) with each comparator, best of
  three (reference) or five (fast) runs, each from a fresh comparator, and their
  ratio ``speedup_vs_reference`` (neither side's data layout is built inside the
  timing: the reference's dicts are made beforehand, as the fast path's matrices are
  already in memory);
* ``agreement``: share of all same-company pairs of the subset on which both
  comparators decide alike, counted as 0 unless the two groupings are also identical.

Extras: ``speedup_vs_reference_cpu`` (the same ratio in CPU seconds, steadier when other
work shares the machine), ``groups``, ``planted_zones_recovered``, ``subset_stores``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np

from .decisions import RoundResult, full_regroup, run_round
from .overlap import FastComparator, ReferenceComparator
from .params import GroupingParams
from .prices import CompanyPrices, ticks
from .synthetic import PlantedDataset, national

T = TypeVar("T")


def run_bench(scale: float = 1.0, subset: int = 100, seed: int = 0) -> dict[str, Any]:
    params = GroupingParams()
    data = national(scale, seed=seed)
    companies = list(data.companies.values())
    figures: dict[str, Any] = {
        "stores": sum(len(c.prices) for c in companies),
        "price_rows": int(sum(np.count_nonzero(c.prices.seen) for c in companies)),
    }
    regroup_s, grouped = _timed(lambda: _regroup_all(data, params))
    versus = _reference_subset(data, params, subset, seed)
    recovered = all(grouped[c.company].state.partition() == c.planted() for c in companies)
    incremental_ms = _incremental(data, grouped, params, seed)  # mutates the dataset: last
    return figures | {
        "full_regroup_seconds": round(regroup_s, 3),
        "incremental_ms_per_store": round(incremental_ms, 2),
        **versus,
        "groups": sum(len(r.state.groups) for r in grouped.values()),
        "planted_zones_recovered": recovered,
    }


def _timed(work: Callable[[], T]) -> tuple[float, T]:
    seconds, _, result = _clocked(work)
    return seconds, result


def _clocked(work: Callable[[], T]) -> tuple[float, float, T]:
    """Wall and CPU seconds of one run (CPU time shrugs off other load on the machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def _best_of(runs: int, work: Callable[[], T]) -> tuple[float, float, T]:
    """Fastest wall and CPU time of a few runs (each from a fresh comparator, so nothing
    is memoised across runs)."""
    runs_done = [_clocked(work) for _ in range(runs)]
    return min(r[0] for r in runs_done), min(r[1] for r in runs_done), runs_done[0][2]


def _regroup_all(data: PlantedDataset, params: GroupingParams) -> dict[str, RoundResult]:
    return {
        name: full_regroup(list(c.prices), FastComparator(c.prices, data.now, params))
        for name, c in data.companies.items()
    }


def _reference_subset(
    data: PlantedDataset, params: GroupingParams, subset: int, seed: int
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    per_company = max(2, subset // len(data.companies))
    totals = np.zeros(6)  # ref wall, fast wall, ref cpu, fast cpu, agreed pairs, pairs
    identical = True
    for c in data.companies.values():
        keys = sorted(rng.choice(list(c.prices), per_company, replace=False).tolist())
        figures, same = _compare_paths(c.prices, keys, data, params)
        totals += figures
        identical &= same
    ref_s, fast_s, ref_cpu, fast_cpu, agreed, pairs = totals.tolist()
    return {
        "reference_seconds_subset": round(ref_s, 3),
        "fast_seconds_subset": round(fast_s, 4),
        "speedup_vs_reference": round(ref_s / fast_s, 1),
        "agreement": agreed / pairs if identical else 0.0,
        "subset_stores": per_company * len(data.companies),
        "speedup_vs_reference_cpu": round(ref_cpu / fast_cpu, 1),
    }


def _compare_paths(
    prices: CompanyPrices, keys: list[str], data: PlantedDataset, params: GroupingParams
) -> tuple[list[float], bool]:
    """Both comparators on the same stores: regroup times, pair agreement, same groups."""
    subset = _restricted(prices, keys)
    refs = [ReferenceComparator.from_prices(subset, data.now, params) for _ in range(4)]
    ref_s, ref_cpu, by_ref = _best_of(3, lambda: full_regroup(keys, refs.pop()))
    ref = refs.pop()
    fast_s, fast_cpu, by_fast = _best_of(
        5, lambda: full_regroup(keys, FastComparator(prices, data.now, params))
    )
    fast = FastComparator(prices, data.now, params)
    agreed = pairs = 0
    for i, a in enumerate(keys[:-1]):
        rest = keys[i + 1 :]
        decided = zip(ref.matches(a, rest), fast.matches(a, rest), strict=True)
        agreed += sum(x == y for x, y in decided)
        pairs += len(rest)
    same = by_ref.state.partition() == by_fast.state.partition()
    return [ref_s, fast_s, ref_cpu, fast_cpu, agreed, pairs], same


def _restricted(prices: CompanyPrices, keys: list[str]) -> CompanyPrices:
    rows = prices.rows(keys)
    return CompanyPrices.from_matrix(keys, prices.prices[rows], prices.seen[rows])


def _incremental(
    data: PlantedDataset, grouped: dict[str, RoundResult], params: GroupingParams, seed: int
) -> float:
    """Mean wall time of one ingested store: upsert, then its round (merging only what
    the ingest touched). Members where a company has them (IGA stores are all alone)."""
    rng = np.random.default_rng(seed + 1)
    later = data.now + timedelta(hours=1)
    samples: list[float] = []
    for name, c in data.companies.items():
        state = grouped[name].state
        pool = sorted(s for s in c.prices if not state.is_anchor(s)) or sorted(c.prices)
        for i, store in enumerate(rng.choice(pool, min(10, len(pool)), replace=False).tolist()):
            source = _other_anchor(state.anchors(), state.group(store).anchor, i, rng)
            idx, cents, _ = c.prices.observations(source or store)
            seen = np.full(idx.size, ticks(later) - 60, np.int32)
            start = time.perf_counter()
            c.prices.upsert_store(store, idx, cents, seen)
            cmp = FastComparator(c.prices, later, params)
            state = run_round(state, cmp, {store: "full"}, merge_scope="touched").state
            samples.append(time.perf_counter() - start)
    return 1000 * sum(samples) / len(samples)


def _other_anchor(anchors: list[str], own: str, i: int, rng: np.random.Generator) -> str | None:
    """Every third sample takes another group's prices (a rogue); the rest stay put."""
    others = [a for a in anchors if a != own]
    if i % 3 or not others:
        return None
    return str(rng.choice(others))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="benchmark the grouping engine")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--subset", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(run_bench(args.scale, args.subset, args.seed), indent=2))


if __name__ == "__main__":
    main()
