"""The benchmark runs end to end against a real server on Postgres (small and short here)."""

from __future__ import annotations

from splitcart_scheduler.bench import run


async def test_the_benchmark_leases_over_http_without_double_hand_outs(pg_url: str) -> None:
    # ``pg_url`` only makes sure Postgres is there; the benchmark makes its own database.
    result = await run(stores=40, clients=4, seconds=1.0)
    assert result["leases"] > 0
    assert result["errors"] == 0
    assert result["double_handouts"] == 0
    assert {"leases_per_second", "p50_ms", "p99_ms"} <= set(result)
