"""The whole pipeline against the sandbox, at a tiny scale over a few simulated days.

Embedded: one ``splitcart up`` process on SQLite. Distributed: every service its own
process on Postgres + RabbitMQ. Both are checked against the sandbox's ground truth.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from splitcart_scraper.pipeline.driver import Simulation, SimulationConfig, Stack

pytestmark = pytest.mark.slow


def simulate(config: SimulationConfig) -> dict[str, Any]:
    stack = Stack(config)
    stack.start()
    try:
        return asyncio.run(Simulation(config, stack).run())
    finally:
        stack.stop()


def tiny(out: Path, *, distributed: bool) -> SimulationConfig:
    return SimulationConfig(
        days=3,
        seed=11,
        store_scale=0.01,
        product_scale=0.02,
        step_hours=12,
        distributed=distributed,
        out_dir=out,
        accuracy_sample=1.0,
        max_step_seconds=300,
        scraper_concurrency=4,
    )


def assert_pipeline_tracks_the_truth(report: dict[str, Any]) -> None:
    assert report["coverage"] is not None and report["coverage"] >= 0.95
    assert report["price_accuracy"] is not None and report["price_accuracy"] >= 0.97
    assert report["false_merges"] == 0
    assert report["requests"] > 0
    assert report["brute_force_requests"] > 0
    # Every compared pair is an anchor's (or a lone store's) or a member's, and members exist.
    for day in report["days"]:
        for chain, (_, compared) in day["price_pairs"].items():
            roles = day["price_pairs_by_role"][chain]
            assert roles["anchor"][1] + roles["member"][1] == compared
    members = [r["member"] for r in report["price_accuracy_by_role"].values()]
    assert any(m is not None for m in members)


def test_embedded_pipeline_tracks_the_sandbox_truth(tmp_path: Path) -> None:
    assert_pipeline_tracks_the_truth(simulate(tiny(tmp_path, distributed=False)))


def test_distributed_pipeline_tracks_the_sandbox_truth(
    tmp_path: Path, pg_url: str, amqp_url: str
) -> None:
    assert_pipeline_tracks_the_truth(simulate(tiny(tmp_path, distributed=True)))
