"""Micro-batching of the lease hot path: calls that arrive together are served together."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import pytest
from splitcart_scheduler.batching import Batcher
from splitcart_scheduler.repository import PoolLeases
from splitcart_scheduler.testing import Harness, record
from splitcart_shared.clock import SimulatedClock, clock

Open = Callable[..., AbstractAsyncContextManager[Harness]]
ROOMY = {"company_lease_cap": {"coles": 20, "woolworths": 20, "aldi": 20, "iga": 20}}


class Doubler:
    """A batch server that records the batches it was given."""

    def __init__(self, *, gate: asyncio.Event | None = None) -> None:
        self.batches: list[list[int]] = []
        self.gate = gate

    async def __call__(self, asks: Sequence[int]) -> list[int]:
        self.batches.append(list(asks))
        if self.gate is not None:
            await self.gate.wait()
        if any(ask < 0 for ask in asks):
            raise ValueError("negative")
        return [2 * ask for ask in asks]


async def test_a_call_to_an_idle_batcher_is_served_at_once_on_its_own() -> None:
    doubler = Doubler()
    batcher = Batcher(doubler)
    assert await asyncio.wait_for(batcher(21), timeout=5) == 42
    assert doubler.batches == [[21]]


async def test_calls_arriving_while_a_batch_is_served_leave_together_in_order() -> None:
    gate = asyncio.Event()
    doubler = Doubler(gate=gate)
    batcher = Batcher(doubler, size=3)
    first = asyncio.create_task(batcher(1))
    await asyncio.sleep(0)  # the first batch is under way
    later = [asyncio.create_task(batcher(n)) for n in range(2, 7)]
    gate.set()
    answers = await asyncio.wait_for(asyncio.gather(first, *later), timeout=5)
    assert answers == [2, 4, 6, 8, 10, 12]
    assert doubler.batches == [[1], [2, 3, 4], [5, 6]]


async def test_with_two_lanes_a_second_batch_is_served_while_the_first_waits() -> None:
    gate = asyncio.Event()
    doubler = Doubler(gate=gate)
    batcher = Batcher(doubler, lanes=2)
    first = asyncio.create_task(batcher(1))
    await asyncio.sleep(0)
    second = asyncio.create_task(batcher(2))
    await asyncio.sleep(0)
    third = [asyncio.create_task(batcher(n)) for n in (3, 4)]
    await asyncio.sleep(0)
    assert doubler.batches == [[1], [2]]  # two under way, the rest waits for a lane
    gate.set()
    assert await asyncio.wait_for(asyncio.gather(first, second, *third), timeout=5) == [2, 4, 6, 8]
    assert doubler.batches[2:] == [[3, 4]]


async def test_a_failed_batch_fails_each_of_its_calls_and_not_the_next_batch() -> None:
    gate = asyncio.Event()
    batcher = Batcher(Doubler(gate=gate))
    first = asyncio.create_task(batcher(1))
    await asyncio.sleep(0)
    doomed = [asyncio.create_task(batcher(n)) for n in (2, -3)]
    gate.set()
    assert await asyncio.wait_for(first, timeout=5) == 2
    for task in doomed:
        with pytest.raises(ValueError):
            await asyncio.wait_for(task, timeout=5)
    assert await asyncio.wait_for(batcher(5), timeout=5) == 10


# --- batched claims and ends on Postgres ----------------------------------------------------

pg_only = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


def _pool_leases(h: Harness) -> PoolLeases:
    leases = h.runtime.state["leases"]
    assert isinstance(leases, PoolLeases)
    return leases


async def _claim_together(leases: PoolLeases, count: int) -> list[Mapping[str, Any] | None]:
    """``count`` claims at once (one batch: none of them waits for the database before the
    batcher takes them all)."""
    now = clock.now()
    claims = await asyncio.gather(
        *(
            leases.claim(
                token=f"token-{n}",
                holder=f"w{n}",
                now=now,
                expires=now + timedelta(minutes=5),
                companies=None,
            )
            for n in range(count)
        )
    )
    return [claim.lease for claim in claims]


@pg_only
async def test_a_batch_of_claims_hands_each_store_out_once_within_each_cap(
    harness_with: Open,
) -> None:
    async with harness_with(company_lease_cap={"coles": 3, "aldi": 5}) as h:
        await h.discover("coles", *(record(f"COL:{i}") for i in range(10)))
        await h.discover("aldi", *(record(f"G{i}") for i in range(4)))
        claimed = await _claim_together(_pool_leases(h), 20)
        stats = (await h.client.get("/v1/stats")).json()

    leases = [lease for lease in claimed if lease is not None]
    stores = [(lease["company"], lease["store_id"]) for lease in leases]
    assert len(stores) == len(set(stores))
    assert len({lease["lease_token"] for lease in leases}) == len(leases)
    assert Counter(company for company, _ in stores) == {"coles": 3, "aldi": 4}
    live = {row["company"]: row["live"] for row in stats["leases"]}
    assert (live["coles"], live["aldi"]) == (3, 4)


@pg_only
async def test_in_a_batch_of_claims_the_first_caller_gets_the_most_deserving_store(
    harness_with: Open, sim_clock: SimulatedClock
) -> None:
    async with harness_with(**ROOMY) as h:
        await h.discover("aldi", record("OLD"))
        sim_clock.advance(timedelta(minutes=1))
        await h.discover("aldi", record("NEW"))
        leases = await _claim_together(_pool_leases(h), 3)

    first, second, third = leases
    assert first is not None and second is not None and third is None
    assert (first["store_id"], first["lease_token"]) == ("OLD", "token-0")
    assert (second["store_id"], second["lease_token"]) == ("NEW", "token-1")


@pg_only
async def test_a_batch_of_completes_places_each_store_from_its_own_facts(
    harness_with: Open, sim_clock: SimulatedClock
) -> None:
    async with harness_with(**ROOMY) as h:
        await h.discover("coles", *(record(f"COL:{i}") for i in range(6)))
        await h.ingested("coles", "COL:0")
        await h.ingested("coles", "COL:1")
        await h.merged("coles", "g1", "COL:0", "COL:1")  # COL:1 is a member: checked weekly
        sim_clock.advance(timedelta(days=8))
        leases = [await h.lease_ok() for _ in range(6)]
        answers = await asyncio.gather(*(h.complete(lease["token"]) for lease in leases))
        views = {s: await h.store("coles", s) for s in (f"COL:{i}" for i in range(6))}

    assert [a.status_code for a in answers] == [200] * 6
    for store_id, view in views.items():
        assert view["lease"] is None, store_id
        assert view["last_completed_at"] is not None, store_id
        assert view["next"]["ready_at"] == view["next"]["due_at"], store_id
    assert views["COL:1"]["next"]["reason"] == "member_check"
    assert views["COL:2"]["next"]["reason"] == "anchor_refresh"


@pg_only
async def test_a_stale_token_in_a_batch_of_completes_gets_409_and_the_others_succeed(
    harness_with: Open,
) -> None:
    async with harness_with(**ROOMY) as h:
        await h.discover("coles", *(record(f"COL:{i}") for i in range(4)))
        tokens = [(await h.lease_ok())["token"] for _ in range(4)]
        done = tokens[0]
        assert (await h.complete(done)).status_code == 200
        asked = [tokens[1], done, tokens[2], "no-such-token", tokens[3], tokens[3]]
        answers = await asyncio.gather(*(h.complete(token) for token in asked))
        stats = (await h.client.get("/v1/stats")).json()

    statuses = [a.status_code for a in answers]
    assert statuses[:4] == [200, 409, 200, 409]
    assert sorted(statuses[4:]) == [200, 409]  # the same lease asked to end twice ends once
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"stale_lease"}
    live = {row["company"]: row["live"] for row in stats["leases"]}
    assert live["coles"] == 0


@pg_only
async def test_a_batch_of_ends_ends_each_live_lease_once_and_reports_stale_tokens(
    harness_with: Open,
) -> None:
    placed: list[str] = []

    def place(facts: Mapping[str, Any]) -> tuple[int | None, None, None]:
        placed.append(str(facts["store_id"]))
        return None, None, None  # never handed out again

    async with harness_with(**ROOMY) as h:
        await h.discover("coles", *(record(f"COL:{i}") for i in range(2)))
        first, second = (await h.lease_ok())["token"], (await h.lease_ok())["token"]
        leases, now = _pool_leases(h), clock.now()
        asked = [first, "no-such-token", second, first]
        ended = await asyncio.gather(*(leases.release(t, now, None, place) for t in asked))
        assert (await h.lease()).status_code == 204

    assert [facts is not None for facts in ended] == [True, False, True, False]
    assert sorted(placed) == ["COL:0", "COL:1"]
