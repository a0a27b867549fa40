"""The simulation report: pooling over days, by chain and by role."""

from __future__ import annotations

from pathlib import Path

from splitcart_scraper.pipeline.driver import DayRecord, SimulationConfig, build_report


def day(index: int, pairs: dict[str, dict[str, tuple[int, int]]]) -> DayRecord:
    totals = {
        chain: (sum(r[0] for r in roles.values()), sum(r[1] for r in roles.values()))
        for chain, roles in pairs.items()
    }
    return DayRecord(
        day=index,
        date=f"2025-09-0{index + 1}",
        requests={"aldi": 10},
        brute_force_requests={"aldi": 100},
        full_scrapes={},
        spot_scrapes={},
        price_accuracy={c: (t[0] / t[1] if t[1] else None) for c, t in totals.items()},
        price_pairs=totals,
        coverage={},
        groups={},
        false_merges=0,
        missed_merges=0,
        rogues_pending=0,
        false_merges_without_pending_rogues=0,
        wall_seconds=1.0,
        price_pairs_by_role=pairs,
    )


def test_accuracy_by_role_is_pooled_over_the_days_after_the_first(tmp_path: Path) -> None:
    days = [
        day(0, {"aldi": {"anchor": (0, 50), "member": (0, 50)}}),  # before the first cycle
        day(1, {"aldi": {"anchor": (10, 10), "member": (80, 90)}}),
        day(2, {"aldi": {"anchor": (30, 30), "member": (9, 10)}}),
    ]
    report = build_report(SimulationConfig(out_dir=tmp_path), days, {}, {}, {})
    roles = report["price_accuracy_by_role"]["aldi"]
    assert roles == {"anchor": 1.0, "member": 89 / 100}
    assert report["price_accuracy"] == (10 + 80 + 30 + 9) / 140
    assert report["price_accuracy_by_role"]["coles"] == {"anchor": None, "member": None}
