"""The benchmark runs end to end against a real server on Postgres (small and short here)."""

from __future__ import annotations

from splitcart_scheduler.bench import double_handouts, run


async def test_the_benchmark_leases_over_http_without_double_hand_outs(pg_url: str) -> None:
    # ``pg_url`` only makes sure Postgres is there; the benchmark makes its own database.
    result = await run(stores=40, clients=4, seconds=1.0)
    assert result["leases"] > 0
    assert result["errors"] == 0
    assert result["double_handouts"] == 0
    assert {"leases_per_second", "p50_ms", "p99_ms"} <= set(result)


def test_a_store_received_while_another_client_holds_it_counts_as_a_double_hand_out() -> None:
    holds = [("coles/1", 0.0, 1.0), ("coles/1", 1.5, 2.0), ("aldi/1", 0.5, 3.0)]
    assert double_handouts(holds) == 0
    assert double_handouts([*holds, ("coles/1", 1.8, 2.5)]) == 1
