"""Which spot bucket a lease's store is checked on."""

from __future__ import annotations

from splitcart_scraper.adapters.base import StoreTarget
from splitcart_scraper.worker import Lease, rotation_of


def lease(store_id: str, rotation: int, reason: str = "member_check") -> Lease:
    return Lease("t", "spot", reason, StoreTarget("coles", store_id), rotation)


def test_successive_checks_of_a_store_move_to_the_next_bucket() -> None:
    first = rotation_of(lease("COL:1", 0))
    assert [rotation_of(lease("COL:1", n)) - first for n in range(4)] == [0, 1, 2, 3]


def test_stores_checked_on_the_same_count_sample_different_buckets() -> None:
    buckets = {rotation_of(lease(f"COL:{n}", 0)) % 10 for n in range(100)}
    assert len(buckets) == 10


def test_every_probe_of_a_company_reads_one_bucket() -> None:
    probes = {rotation_of(lease(f"COL:{n}", 0, "new_store_probe")) for n in range(100)}
    assert len(probes) == 1
    other = Lease("t", "spot", "new_store_probe", StoreTarget("aldi", "G1"), 0)
    assert rotation_of(other) != probes.pop()
