"""Micro-batching: calls that arrive while earlier ones are being served are served together.

On the lease hot path every statement costs a plan and every transaction a WAL flush; a
batch of concurrent calls served by one statement pays both once. Nothing waits for a batch
to fill: a call arriving at an idle batcher starts at once (a batch of one), and calls that
arrive while ``lanes`` batches are being served queue up and leave together as the next
batch.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Ask = TypeVar("Ask")
Answer = TypeVar("Answer")

Serve = Callable[[Sequence[Ask]], Awaitable[Sequence[Answer]]]
"""Serves a batch: one answer per ask, in order."""


class Batcher(Generic[Ask, Answer]):
    """Serves asks in batches of at most ``size``, at most ``lanes`` batches at a time."""

    def __init__(self, serve: Serve[Ask, Answer], *, size: int = 64, lanes: int = 1) -> None:
        self._serve = serve
        self._size = size
        self._lanes = lanes
        self._busy = 0
        self._waiting: deque[tuple[Ask, asyncio.Future[Answer]]] = deque()
        self._running: set[asyncio.Task[None]] = set()

    async def __call__(self, ask: Ask) -> Answer:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append((ask, future))
        if self._busy < self._lanes:
            self._busy += 1
            # A task of its own: a caller that gives up must not strand the others' answers.
            task = asyncio.create_task(self._serve_waiting())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return await future

    async def _serve_waiting(self) -> None:
        try:
            while self._waiting:
                count = min(self._size, len(self._waiting))
                await self._serve_batch([self._waiting.popleft() for _ in range(count)])
        finally:
            self._busy -= 1

    async def _serve_batch(self, batch: list[tuple[Ask, asyncio.Future[Answer]]]) -> None:
        try:
            answers = await self._serve([ask for ask, _ in batch])
        except Exception as exc:  # every caller of the batch sees the failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), answer in zip(batch, answers, strict=True):
            if not future.done():
                future.set_result(answer)
