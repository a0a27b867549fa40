"""Fixtures of the scheduler's tests: a simulated clock and the running app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
import pytest_asyncio
from splitcart_scheduler.testing import START, Harness, make_settings, running
from splitcart_shared.clock import SimulatedClock, SystemClock, use_clock


@pytest.fixture
def sim_clock() -> Any:
    clock = SimulatedClock(START)
    use_clock(clock)
    yield clock
    use_clock(SystemClock())


@pytest_asyncio.fixture
async def h(database_url: str, sim_clock: SimulatedClock) -> AsyncIterator[Harness]:
    """The scheduler app on the test's backend, on a simulated clock."""
    async with running(make_settings(database_url)) as harness:
        yield harness


@pytest.fixture
def harness_with(
    database_url: str, sim_clock: SimulatedClock
) -> Callable[..., AbstractAsyncContextManager[Harness]]:
    """A harness with settings overridden: ``async with harness_with(lease_ttl_seconds=60)``."""

    def open_harness(**overrides: Any) -> AbstractAsyncContextManager[Harness]:
        return running(make_settings(database_url, **overrides))

    return open_harness
