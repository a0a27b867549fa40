"""A step ends only once the services have caught up, however slow they are; a step whose
work stops moving fails the run instead of letting the clock move on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from splitcart_scraper.pipeline import driver
from splitcart_scraper.pipeline.driver import Simulation, SimulationConfig, SimulationStalled


class Services:
    """Scripted (due, live, behind, events) answers of the services, one per poll."""

    def __init__(self, script: list[tuple[int, ...]]) -> None:
        self.script: Iterator[tuple[int, ...]] = iter(t if len(t) == 4 else (*t, 0) for t in script)
        self.last: tuple[int, ...] = (0, 0, 0, 0)
        self.polls = 0

    def next(self) -> tuple[int, ...]:
        self.polls += 1
        self.last = next(self.script, self.last)
        return self.last


class Stack:
    def check_alive(self) -> None:
        return None


def simulation(services: Services, max_step_seconds: float) -> Simulation:
    sim = Simulation(SimulationConfig(max_step_seconds=max_step_seconds), Stack())  # type: ignore[arg-type]

    async def scheduler_busy() -> tuple[int, int]:
        due, live, *_ = services.next()
        return due, live

    async def backlog() -> int:
        return services.last[3]

    async def grouping_behind() -> int:
        return services.last[2]

    async def publish() -> None:
        return None

    sim.scheduler_busy = scheduler_busy  # type: ignore[method-assign]
    sim.grouping_behind = grouping_behind  # type: ignore[method-assign]
    sim.backlog = backlog  # type: ignore[method-assign]
    sim._publish_snapshot = publish  # type: ignore[method-assign]
    return sim


@pytest.fixture(autouse=True)
def fast_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Polls sleep no real time; the monotonic clock moves 100 s per poll."""
    now = [0.0]

    async def sleep(_: float) -> None:
        now[0] += 100.0

    monkeypatch.setattr(asyncio, "sleep", sleep)
    monkeypatch.setattr(driver, "time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


def test_a_slow_step_is_waited_for_past_the_stall_limit() -> None:
    # Busy for 30 polls (3,000 s of the mocked clock, past the 250 s limit), always moving.
    script = [(10 - i % 10, 1, i) for i in range(30)]
    services = Services([*script, (0, 0, 0), (0, 0, 0)])
    asyncio.run(simulation(services, max_step_seconds=250).settle())
    assert services.polls == 32  # the 30 busy polls, then two quiet ones


def test_a_step_that_stops_moving_fails_the_run() -> None:
    services = Services([(5, 1, 3)] * 10)
    with pytest.raises(SimulationStalled, match="5 stores due, 1 leases live, 0 events unhandled"):
        asyncio.run(simulation(services, max_step_seconds=250).settle())
    assert services.polls == 4


def test_a_quiet_moment_between_busy_ones_does_not_end_the_step() -> None:
    services = Services([(0, 0, 0), (0, 0, 4), (0, 0, 0), (0, 0, 0)])
    asyncio.run(simulation(services, max_step_seconds=250).settle())
    assert services.polls == 4


def test_events_not_yet_handled_keep_the_step_open() -> None:
    # Every lease is done and grouping has caught up with what it has seen, but ingest
    # still has scrapes' events to pass on: the step is not over.
    services = Services([(0, 0, 0, 40), (0, 0, 0, 25), (0, 0, 2, 0), (0, 0, 0, 0), (0, 0, 0, 0)])
    asyncio.run(simulation(services, max_step_seconds=250).settle())
    assert services.polls == 5


def test_the_report_so_far_is_written_whole_after_each_day(tmp_path: Path) -> None:
    sim = Simulation(SimulationConfig(out_dir=tmp_path), Stack())  # type: ignore[arg-type]
    sim.write_partial()
    first = json.loads((tmp_path / "report.partial.json").read_text())
    assert first["days"] == [] and first["requests"] == 0
    sim.snapshot["requests"] = {"aldi": 3}
    sim.write_partial()
    assert json.loads((tmp_path / "report.partial.json").read_text())["days"] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.partial.json"]


def test_brute_force_costs_an_unscraped_store_like_the_scraped_ones_of_its_division() -> None:
    sim = Simulation(SimulationConfig(), Stack())  # type: ignore[arg-type]
    stats = {"full_scrape_requests": {"coles": {"C1": 17, "L1": 3, "L2": 3}}}
    stores = {
        "coles": [
            {"store_id": "C1", "division": "COL"},
            {"store_id": "C2", "division": "COL"},  # never fully scraped: a supermarket
            {"store_id": "L1", "division": "LQR"},
            {"store_id": "L2", "division": "LQR"},
            {"store_id": "L3", "division": "LQR"},  # never fully scraped: a liquor store
            {"store_id": "X1", "division": "NEW"},  # no division sample: the chain's mean
        ]
    }
    assert sim.brute_force(stats, stores) == {"coles": round(17 + 17 + 3 + 3 + 3 + 23 / 3)}


def test_a_read_that_times_out_is_tried_again(fast_clock: list[float]) -> None:
    sim = simulation(Services([]), 900)
    failures = iter([httpx.ReadTimeout("slow"), httpx.ConnectError("reset")])

    def answer(request: httpx.Request) -> httpx.Response:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return httpx.Response(200, json={"outbox": 3, "inbound": 0})

    sim.http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    sim.stack = SimpleNamespace(urls={"ingest": "http://ingest"})  # type: ignore[assignment]
    assert asyncio.run(sim.service("ingest", "/backlogz")) == {"outbox": 3, "inbound": 0}
    assert fast_clock[0] == 200.0  # two waits


def test_a_read_that_keeps_timing_out_fails_the_run(fast_clock: list[float]) -> None:
    sim = simulation(Services([]), 900)
    tries: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        tries.append(1)
        raise httpx.ReadTimeout("slow")

    sim.http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    sim.stack = SimpleNamespace(urls={"ingest": "http://ingest"})  # type: ignore[assignment]
    with pytest.raises(httpx.ReadTimeout):
        asyncio.run(sim.service("ingest", "/backlogz"))
    assert len(tries) == driver.READ_ATTEMPTS
