"""The command-line entry points: ``sandbox serve`` options and the bench JSON."""

from __future__ import annotations

import pytest
from splitcart_scraper.sandbox.bench import run_bench
from splitcart_scraper.sandbox.cli import app
from typer.testing import CliRunner


def test_serve_offers_seed_scales_and_fault_options() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in (
        "--seed",
        "--scale",
        "--store-scale",
        "--product-scale",
        "--port",
        "--fault-rate-limit",
        "--fault-store-mismatch",
    ):
        assert option in result.output


@pytest.mark.slow
def test_bench_serves_listing_pages_and_reports_throughput_and_memory() -> None:
    result = run_bench(seed=2, scale=0.02, requests=60, seconds=60)
    assert result["pages"] == 60 and result["errors"] == 0
    assert result["pages_per_second"] > 0 and result["peak_rss_mb"] > 0
    assert result["server_pages_counted"] >= 60
