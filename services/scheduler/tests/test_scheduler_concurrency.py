"""Many scrapers at once: a store is never held twice, a company never exceeds its cap."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest
from splitcart_scheduler.testing import Harness, record

Open = Callable[..., AbstractAsyncContextManager[Harness]]
CLIENTS = 64
# SQLite runs claims one at a time (and opens a connection per transaction), so there a
# shorter run covers the same interleavings.
ROUNDS = {"postgres": 3000, "sqlite": 1200}
# Every completed store is due again at once, so all clients keep competing for stores.
ALWAYS_DUE = {"anchor_refresh_hours": 0.0, "alone_refresh_hours": 0.0}


async def test_concurrent_clients_never_hold_the_same_store_at_once(
    harness_with: Open, backend: str
) -> None:
    rounds = ROUNDS[backend]
    caps = {"coles": 20, "woolworths": 20, "aldi": 20, "iga": 20}
    async with harness_with(company_lease_cap=caps, **ALWAYS_DUE) as h:
        for company in caps:
            await h.discover(company, *(record(f"{company}-{i}") for i in range(25)))
        held: dict[tuple[str, str], int] = {}
        leased = Counter[str]()
        doubles: list[tuple[str, str]] = []

        async def client(n: int) -> None:
            while sum(leased.values()) < rounds:
                response = await h.lease(worker_id=f"w{n}")
                if response.status_code == 204:
                    await asyncio.sleep(0)  # let the holders finish
                    continue
                lease = response.json()
                key = (lease["store"]["company"], lease["store"]["store_id"])
                if key in held:
                    doubles.append(key)
                held[key] = n
                leased[key[0]] += 1
                # Hold the store across a real call, so other clients lease meanwhile.
                assert (await h.heartbeat(lease["token"])).status_code == 200
                # Let go before the scheduler does, so a fast re-lease is never miscounted.
                del held[key]
                assert (await h.complete(lease["token"])).status_code == 200

        await asyncio.gather(*(client(n) for n in range(CLIENTS)))

    assert doubles == []
    assert sum(leased.values()) >= rounds
    assert set(leased) == set(caps)


# SQLite serialises every claim, so the race exists only on Postgres.
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_concurrent_claims_never_take_a_company_past_its_cap(harness_with: Open) -> None:
    async with harness_with(company_lease_cap={"coles": 3, "aldi": 2}, **ALWAYS_DUE) as h:
        await h.discover("coles", *(record(f"COL:{i}") for i in range(50)))
        await h.discover("aldi", *(record(f"G{i}") for i in range(50)))
        for _ in range(10):
            responses = await asyncio.gather(*(h.lease(worker_id=f"w{n}") for n in range(CLIENTS)))
            granted = [r.json() for r in responses if r.status_code == 200]
            per_company = Counter(lease["store"]["company"] for lease in granted)
            assert per_company == {"coles": 3, "aldi": 2}
            await asyncio.gather(*(h.complete(lease["token"]) for lease in granted))
