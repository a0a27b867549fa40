"""The one injectable clock every service reads time from.

Service code calls ``clock.now()`` and never ``datetime.now()``: a simulation swaps in a
:class:`SimulatedClock` (``use_clock``) and every freshness window, lease expiry and
check interval follows it, so weeks of operation run in minutes.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that only moves when told to (``advance`` / ``set``). Thread-safe."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware start")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a clock never goes backwards")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, moment: datetime) -> datetime:
        with self._lock:
            if moment < self._now:
                raise ValueError("a clock never goes backwards")
            self._now = moment
            return self._now


class _ClockProxy:
    """Module-level handle whose target can be swapped at run time."""

    def __init__(self) -> None:
        self._target: Clock = SystemClock()

    def now(self) -> datetime:
        return self._target.now()

    @property
    def target(self) -> Clock:
        return self._target

    def use(self, target: Clock) -> None:
        self._target = target


clock = _ClockProxy()


def use_clock(target: Clock) -> None:
    clock.use(target)


def utc(moment: datetime) -> datetime:
    """Normalise a datetime to aware UTC (SQLite hands back naive datetimes)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class FollowingClock:
    """Follows another process's simulated clock over HTTP (``GET url`` → ``{"now": iso}``).

    A background thread refreshes the cached time every ``interval`` seconds, so ``now()`` is
    a cheap read; every process of a distributed simulation follows the sandbox's clock.
    """

    def __init__(self, url: str, interval: float = 0.1) -> None:
        import httpx

        self.url = url
        self.interval = interval
        self._client = httpx.Client(timeout=5.0)
        self._now = self._fetch()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="following-clock", daemon=True)
        self._thread.start()

    def _fetch(self) -> datetime:
        response = self._client.get(self.url)
        response.raise_for_status()
        return utc(datetime.fromisoformat(response.json()["now"]))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                moment = self._fetch()
            except Exception:  # keep the last known time; the next refresh may succeed
                continue
            with self._lock:
                self._now = max(self._now, moment)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def refresh(self) -> datetime:
        """Fetch now (a driver that just moved the clock calls this before going on)."""
        moment = self._fetch()
        with self._lock:
            self._now = max(self._now, moment)
            return self._now

    def close(self) -> None:
        self._stop.set()
        self._client.close()
