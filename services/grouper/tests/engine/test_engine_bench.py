"""The benchmark reports the figures the issue names, and exactness holds on them."""

from __future__ import annotations

from splitcart_grouper.engine.bench import run_bench

KEYS = {
    "stores",
    "price_rows",
    "full_regroup_seconds",
    "incremental_ms_per_store",
    "reference_seconds_subset",
    "fast_seconds_subset",
    "speedup_vs_reference",
    "agreement",
}


def test_bench_reports_every_figure_with_full_agreement() -> None:
    figures = run_bench(scale=0.02, subset=12)
    assert figures.keys() >= KEYS
    assert figures["agreement"] == 1.0
    assert figures["planted_zones_recovered"] is True
    assert figures["stores"] == 71 and figures["price_rows"] > 0
